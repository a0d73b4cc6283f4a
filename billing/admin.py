"""Admin for the billing ledger, the billing role's (billing/migrations/0006_billing_role.py).
Rows are written by the billing run only; the billing role looks, records the transaction
hash of a payout paid by hand and sets a payee's Connect account. No key is ever shown.
Amounts read as "68.89 USD"; the ledger keeps every digit."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from billing.models import AssessedTrade, BillingAccount, FeeAssessment, FeeState, Invoice, InvoiceLine, Payout, StripeEvent
from billing.services import TX_HASH, payout_record_manual
from core.admin import OwnershipReadOnlyMixin, ReadOnlyAdmin, ReadOnlyInline, billing_currency, money_column
from core.audit import audit_record
from core.errors import ApplicationError
from core.models import AuditEntry
from core.money import format_money

LEDGER_ONLY_NOTICE = (
    "Stripe is not configured (STRIPE_API_KEY is not set): invoices stay in our ledger as drafts "
    "and are not sent or collected. The daily run sends them once a key is set."
)


def _warn_if_ledger_only(request) -> None:
    if not settings.STRIPE_API_KEY:
        messages.warning(request, LEDGER_ONLY_NOTICE)


@admin.display(description="month", ordering="period")
def month(row) -> str:
    return f"{row.period:%Y-%m}"


@admin.display(description="rate", ordering="rate_percent")
def rate(assessment) -> str:
    return f"{assessment.rate_percent:.2f} %"


class AssessedTradeInline(ReadOnlyInline):
    model = AssessedTrade
    fields = [
        "copied_trade",
        money_column("pnl_billing", currency=billing_currency, description="P&L"),
        money_column("fee_allocated", currency=billing_currency, description="fee allocated"),
    ]
    readonly_fields = fields


FEE_AMOUNTS = {
    name: money_column(name, currency=billing_currency, description=label)
    for name, label in [
        ("period_net_pnl", "net P&L in the month"),
        ("cumulative_pnl", "cumulative P&L"),
        ("hwm_before", "high-water mark before"),
        ("hwm_after", "high-water mark after"),
        ("performance_fee", "performance fee"),
        ("subscription_fee_monthly", "subscription per month"),
        ("subscription_fee", "subscription"),
        ("total", "total"),
    ]
}


@admin.register(FeeAssessment)
class FeeAssessmentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        month,
        "follower",
        "strategy",
        "program",
        FEE_AMOUNTS["period_net_pnl"],
        FEE_AMOUNTS["cumulative_pnl"],
        FEE_AMOUNTS["hwm_before"],
        FEE_AMOUNTS["hwm_after"],
        rate,
        FEE_AMOUNTS["performance_fee"],
        FEE_AMOUNTS["subscription_fee"],
        FEE_AMOUNTS["total"],
    ]
    fields = [
        "copy",
        "follower",
        "strategy",
        "payee",
        "program",
        month,
        FEE_AMOUNTS["period_net_pnl"],
        FEE_AMOUNTS["cumulative_pnl"],
        FEE_AMOUNTS["hwm_before"],
        FEE_AMOUNTS["hwm_after"],
        rate,
        FEE_AMOUNTS["performance_fee"],
        FEE_AMOUNTS["subscription_fee_monthly"],
        "live_days",
        "days_in_period",
        FEE_AMOUNTS["subscription_fee"],
        FEE_AMOUNTS["total"],
        "created_at",
    ]
    readonly_fields = fields
    list_filter = ["period", "program"]
    search_fields = ["follower__username", "strategy__name"]
    list_select_related = ["follower", "strategy"]
    inlines = [AssessedTradeInline]


FEE_STATE_AMOUNTS = {
    name: money_column(name, currency=billing_currency, description=label)
    for name, label in [("cumulative_pnl", "cumulative net P&L"), ("high_water_mark", "high-water mark")]
}


@admin.register(FeeState)
class FeeStateAdmin(ReadOnlyAdmin):
    """Each follower's high-water mark with each strategy, across their copies of it."""

    list_display = [
        "id",
        "follower",
        "strategy",
        FEE_STATE_AMOUNTS["cumulative_pnl"],
        FEE_STATE_AMOUNTS["high_water_mark"],
        month,
        "updated_at",
    ]
    search_fields = ["follower__username", "strategy__name"]
    list_select_related = ["follower", "strategy"]


LINE_AMOUNTS = {
    name: money_column(name, currency="invoice.currency", description=label)
    for name, label in [("amount", "amount"), ("payee_amount", "payee share"), ("platform_amount", "platform share")]
}


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = [
        "kind",
        "description",
        LINE_AMOUNTS["amount"],
        "payee",
        "program",
        LINE_AMOUNTS["payee_amount"],
        LINE_AMOUNTS["platform_amount"],
        "payout",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice", "payee", "payout__payee")


invoice_total = money_column("total", currency="currency")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["id", month, "follower", invoice_total, "status", "stripe", "paid_at"]
    fields = [
        "follower",
        month,
        invoice_total,
        "status",
        "stripe",
        "send_error",
        "created_at",
        "finalized_at",
        "paid_at",
        "payment_failed_at",
        "voided_at",
    ]
    readonly_fields = fields
    list_filter = ["period", "status"]
    search_fields = ["follower__username", "follower__email", "stripe_invoice_id"]
    list_select_related = ["follower"]
    inlines = [InvoiceLineInline]

    @admin.display(description="Stripe")
    def stripe(self, invoice):
        if invoice.stripe_invoice_id:
            return invoice.stripe_invoice_id
        if invoice.total == 0:
            return "nothing due: not sent"
        if invoice.send_error:
            return f"not sent: {invoice.send_error}"
        return "ledger only: not sent" if not settings.STRIPE_API_KEY else "not sent yet"

    def changelist_view(self, request, extra_context=None):
        _warn_if_ledger_only(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        _warn_if_ledger_only(request)
        return super().change_view(request, object_id, form_url, extra_context)


class PayoutForm(forms.ModelForm):
    class Meta:
        model = Payout
        fields = ["tx_hash"]

    def clean_tx_hash(self):
        tx_hash = self.cleaned_data.get("tx_hash", "").strip()
        if not TX_HASH.fullmatch(tx_hash):
            raise forms.ValidationError("A transaction hash is 16 to 200 letters and digits.")
        return tx_hash


PAYOUT_AMOUNTS = {
    name: money_column(name, currency="currency", description=label)
    for name, label in [("gross", "fees collected"), ("payee_amount", "payee share"), ("platform_amount", "platform share")]
}


@admin.register(Payout)
class PayoutAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    """A payout awaiting a manual payment takes the transaction hash; everything else is read-only."""

    form = PayoutForm
    list_display = [
        "id",
        month,
        "sequence",
        "payee",
        PAYOUT_AMOUNTS["gross"],
        PAYOUT_AMOUNTS["payee_amount"],
        PAYOUT_AMOUNTS["platform_amount"],
        "status",
        "stripe_transfer_id",
        "tx_hash",
        "paid_at",
    ]
    list_filter = ["period", "status"]
    search_fields = ["payee__username", "payee__email", "tx_hash", "stripe_transfer_id"]
    list_select_related = ["payee"]
    readonly_fields = [
        "payee",
        month,
        "sequence",
        PAYOUT_AMOUNTS["gross"],
        PAYOUT_AMOUNTS["payee_amount"],
        PAYOUT_AMOUNTS["platform_amount"],
        "status",
        "stripe_transfer_id",
        "failure_reason",
        "ready_at",
        "paid_at",
        "invoice_lines",
    ]

    def get_fields(self, request, obj=None):
        return [*self.readonly_fields, "tx_hash"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status in (Payout.Status.AWAITING_MANUAL, Payout.Status.FAILED):
            return self.readonly_fields
        return [*self.readonly_fields, "tx_hash"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Invoice lines (payee share / platform share)")
    def invoice_lines(self, payout):
        # Listed, not an inline: the only thing the billing role may change here is the tx hash.
        lines = payout.lines.select_related("invoice").order_by("id")
        return (
            format_html_join(
                mark_safe("<br>"),
                "invoice {} ({}): {} — {} = {} / {}",
                (
                    (
                        line.invoice_id,
                        line.invoice.status,
                        line.description,
                        format_money(line.amount, payout.currency),
                        format_money(line.payee_amount, payout.currency),
                        format_money(line.platform_amount, payout.currency),
                    )
                    for line in lines
                ),
            )
            or "—"
        )

    def save_model(self, request, obj, form, change):
        # The service checks the state and the hash and marks the payout paid; the form
        # never saves the row itself.
        try:
            payout_record_manual(payout_id=obj.pk, tx_hash=form.cleaned_data.get("tx_hash", ""))
        except ApplicationError as error:
            messages.error(request, error.message)

    def save_related(self, request, form, formsets, change):
        pass


@admin.register(BillingAccount)
class BillingAccountAdmin(OwnershipReadOnlyMixin, admin.ModelAdmin):
    """The Stripe identities of a user: ids, not secrets. Staff set the Connect account after onboarding."""

    list_display = ["user", "stripe_customer_id", "stripe_connect_account_id", "updated_at"]
    search_fields = ["user__username", "user__email", "stripe_customer_id", "stripe_connect_account_id"]
    readonly_fields = ["stripe_customer_id", "created_at", "updated_at"]
    autocomplete_fields = ["user"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Where payouts go is a change to money: the audit trail keeps who set it, from what.
        stored = BillingAccount.objects.filter(pk=obj.pk).values_list("stripe_connect_account_id", flat=True).first() if change else ""
        super().save_model(request, obj, form, change)
        if (stored or "") != obj.stripe_connect_account_id:
            audit_record(
                action=AuditEntry.Action.CONNECT_ACCOUNT_SET,
                target=obj,
                before={"stripe_connect_account_id": stored or ""},
                after={"stripe_connect_account_id": obj.stripe_connect_account_id, "payee": obj.user_id},
                actor=request.user,
            )


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "received_at"]
    search_fields = ["event_id"]
    list_filter = ["type"]
