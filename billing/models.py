"""Billing ledger: fee assessments (high-water mark), invoices and their lines, payouts.

Every amount a person is charged or paid is a row here, explainable from the rows it
came from: a payout from its invoice lines, a line from its assessment, an assessment
from the copied trades it covers. Sums that must hold are database constraints.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.money import format_money, money_field
from marketplace.models import Program

PERCENT = {"max_digits": 5, "decimal_places": 2}


class BillingAccount(models.Model):
    """A user's identities at Stripe: the customer we charge, the Connect account we pay."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="billing_account")
    stripe_customer_id = models.CharField(max_length=255, blank=True, default="")
    # Set by staff once the payee finished Connect onboarding; empty means manual payouts.
    stripe_connect_account_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(stripe_connect_account_id="") | Q(stripe_connect_account_id__startswith="acct_"),
                name="billing_connect_account_id_shape",
            ),
        ]

    def __str__(self) -> str:
        return f"billing account of {self.user}"


class FeeState(models.Model):
    """The high-water mark of one follower with one strategy, carried across all their copies of it.

    Stopping a copy and starting a new one of the same strategy keeps the cumulative realised
    net P&L and the mark, so a follower never pays on profit that only recovers their own
    earlier losses with that leader. A new strategy is a new pair, with its own mark from zero.
    Advanced once per assessed month, in month order, under this row's lock.
    """

    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fee_states")
    strategy = models.ForeignKey("copytrade.Strategy", on_delete=models.PROTECT, related_name="fee_states")
    cumulative_pnl = money_field(default=0)
    high_water_mark = money_field(default=0)
    # The last month assessed (first day); null until the pair's first assessment.
    period = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "strategy"], name="fee_state_once_per_follower_strategy"),
            # The mark starts at 0 and rises to the cumulative P&L whenever that is higher.
            models.CheckConstraint(
                condition=Q(high_water_mark__gte=0) & Q(high_water_mark__gte=F("cumulative_pnl")),
                name="fee_state_mark_at_or_above_pnl",
            ),
        ]

    def __str__(self) -> str:
        currency = settings.BILLING_CURRENCY
        return (
            f"Fee state · {self.follower} copying {self.strategy} · net P&L {format_money(self.cumulative_pnl, currency)}"
            f" · mark {format_money(self.high_water_mark, currency)}"
        )


class FeeAssessment(models.Model):
    """What a follower owes for one strategy for one calendar month (UTC), over their copies of
    it on one set of terms: HWM performance fee on their share of the pair's new profit + the
    subscription prorated by their live days. A pair has one a month per terms its copies
    were billed (one, unless the follower restarted on changed terms)."""

    # The copy of record: the latest of the copies covered in the month (`copies` lists every one).
    copy = models.ForeignKey("copytrade.Copy", on_delete=models.PROTECT, related_name="fee_assessments")
    copies = models.ManyToManyField("copytrade.Copy", related_name="covering_fee_assessments")
    # The pair state this assessment advanced; null on assessments made per copy, before the
    # mark belonged to the pair (migration 0003 derived the pair states from them).
    fee_state = models.ForeignKey(FeeState, null=True, blank=True, on_delete=models.PROTECT, related_name="assessments")
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fee_assessments")
    strategy = models.ForeignKey("copytrade.Strategy", on_delete=models.PROTECT, related_name="fee_assessments")
    payee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="earned_fee_assessments")
    program = models.CharField(max_length=16, choices=Program.choices)
    # First day of the month assessed.
    period = models.DateField()
    period_net_pnl = money_field()
    cumulative_pnl = money_field()
    hwm_before = money_field()
    hwm_after = money_field()
    rate_percent = models.DecimalField(**PERCENT)
    # The payee's share of the fees, from the copy's recorded terms (the invoice lines split by it).
    payee_share = models.DecimalField(max_digits=5, decimal_places=4)
    performance_fee = money_field()
    subscription_fee_monthly = money_field()
    live_days = models.PositiveSmallIntegerField()
    days_in_period = models.PositiveSmallIntegerField()
    subscription_fee = money_field()
    total = money_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["period", "copy_id"]
        constraints = [
            models.UniqueConstraint(fields=["copy", "period"], name="fee_assessment_once_per_period"),
            models.CheckConstraint(condition=Q(total=F("performance_fee") + F("subscription_fee")), name="fee_assessment_total_is_sum"),
            models.CheckConstraint(
                condition=Q(performance_fee__gte=0) & Q(subscription_fee__gte=0), name="fee_assessment_fees_nonnegative"
            ),
            models.CheckConstraint(condition=Q(hwm_after__gte=F("hwm_before")), name="fee_assessment_hwm_never_falls"),
            models.CheckConstraint(condition=Q(live_days__lte=F("days_in_period")), name="fee_assessment_live_days_in_period"),
            models.CheckConstraint(condition=Q(program__in=["ai", "marketplace"]), name="fee_assessment_program_valid"),
        ]
        indexes = [models.Index(fields=["follower", "period"], name="fee_assessment_by_follower")]

    def __str__(self) -> str:
        return f"Fees {self.period:%Y-%m} · {self.follower} copying {self.strategy} · {format_money(self.total, settings.BILLING_CURRENCY)}"


class AssessedTrade(models.Model):
    """A copied trade counted by exactly one assessment: the same profit is never billed twice."""

    assessment = models.ForeignKey(FeeAssessment, on_delete=models.PROTECT, related_name="assessed_trades")
    copied_trade = models.OneToOneField("copytrade.CopiedTrade", on_delete=models.PROTECT, related_name="fee_assessment_link")
    pnl_billing = money_field()
    fee_allocated = money_field()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(fee_allocated__gte=0), name="assessed_trade_fee_nonnegative")]

    def __str__(self) -> str:
        return (
            f"copied trade {self.copied_trade_id} · P&L {format_money(self.pnl_billing, settings.BILLING_CURRENCY)} · "
            f"fee {format_money(self.fee_allocated, settings.BILLING_CURRENCY)}"
        )


class Invoice(models.Model):
    """One follower's bill for one month: a line per nonzero fee component."""

    class Status(models.TextChoices):
        DRAFT = "draft"  # in our ledger, not (yet) finalized at Stripe
        OPEN = "open"  # finalized at Stripe, awaiting payment
        PAID = "paid"
        VOID = "void"
        UNCOLLECTIBLE = "uncollectible"

    # A payout waits while any of its invoices is in one of these. An uncollectible invoice is
    # written off, not settled: Stripe may still collect it, and the money then goes to the
    # payee's next payout (services.payout_prepare).
    AWAITING_PAYMENT = (Status.DRAFT, Status.OPEN)

    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices")
    period = models.DateField()
    currency = models.CharField(max_length=3)
    total = money_field()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    stripe_invoice_id = models.CharField(max_length=255, blank=True, default="")
    # The last failed attempt to send it to Stripe (a provider message, never a key).
    send_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period", "id"]
        constraints = [
            models.UniqueConstraint(fields=["follower", "period"], name="invoice_once_per_follower_period"),
            models.UniqueConstraint(fields=["stripe_invoice_id"], condition=~Q(stripe_invoice_id=""), name="invoice_stripe_id_unique"),
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_nonnegative"),
            models.CheckConstraint(condition=Q(status__in=["draft", "open", "paid", "void", "uncollectible"]), name="invoice_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.period:%Y-%m} · follower {self.follower} · {format_money(self.total, self.currency)} · {self.get_status_display().lower()}"


class InvoiceLine(models.Model):
    """One fee component of one assessment, with its split decided when it is billed."""

    class Kind(models.TextChoices):
        PERFORMANCE_FEE = "performance_fee"
        SUBSCRIPTION = "subscription"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    assessment = models.ForeignKey(FeeAssessment, on_delete=models.PROTECT, related_name="invoice_lines")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.CharField(max_length=255)
    amount = money_field()
    payee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="earning_lines")
    program = models.CharField(max_length=16, choices=Program.choices)
    payee_amount = money_field()
    platform_amount = money_field()
    payout = models.ForeignKey("Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="lines")

    class Meta:
        ordering = ["invoice_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["assessment", "kind"], name="invoice_line_once_per_component"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_line_amount_positive"),
            models.CheckConstraint(condition=Q(amount=F("payee_amount") + F("platform_amount")), name="invoice_line_split_sums"),
            models.CheckConstraint(condition=Q(payee_amount__gte=0) & Q(platform_amount__gte=0), name="invoice_line_shares_nonnegative"),
        ]
        indexes = [models.Index(fields=["payee", "payout"], name="invoice_line_by_payee")]

    def __str__(self) -> str:
        return f"{self.description} · {format_money(self.amount, self.invoice.currency)}"


class Payout(models.Model):
    """What one payee earned in one month, from the paid lines of their strategies' invoices.

    Money for the month collected after its payout closed (an invoice written off, then paid
    late) reopens the payout if it closed void, having paid nothing, or else goes to the
    month's next payout (sequence 1, 2, ...): what was already paid out is never recounted.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # some of its invoices are still awaiting payment
        READY = "ready"  # no invoice awaiting payment; amounts final
        AWAITING_MANUAL = "awaiting_manual"  # no Connect account: a curator pays and records the tx hash
        PAID = "paid"
        FAILED = "failed"
        VOID = "void"  # nothing was collected when it closed (reopened if a written-off invoice is paid)

    payee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    period = models.DateField()
    # 0: the month's payout; 1, 2, ...: money for the month collected after the earlier ones closed.
    sequence = models.PositiveSmallIntegerField(default=0)
    currency = models.CharField(max_length=3)
    gross = money_field(default=0)
    payee_amount = money_field(default=0)
    platform_amount = money_field(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stripe_transfer_id = models.CharField(max_length=255, blank=True, default="")
    tx_hash = models.CharField(max_length=200, blank=True, default="")
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period", "id"]
        constraints = [
            models.UniqueConstraint(fields=["payee", "period", "sequence"], name="payout_sequence_once_per_payee_period"),
            # Lines of a month always go to its one open payout.
            models.UniqueConstraint(fields=["payee", "period"], condition=Q(status="pending"), name="payout_one_pending_per_payee_period"),
            models.CheckConstraint(condition=Q(gross=F("payee_amount") + F("platform_amount")), name="payout_split_sums"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "ready", "awaiting_manual", "paid", "failed", "void"]), name="payout_status_valid"
            ),
        ]

    def __str__(self) -> str:
        extra = f" (further payout {self.sequence})" if self.sequence else ""
        return f"Payout {self.period:%Y-%m}{extra} · payee {self.payee} · {format_money(self.payee_amount, self.currency)} · {self.get_status_display().lower()}"


class StripeEvent(models.Model):
    """Every Stripe webhook event handled, so a redelivery changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Stripe event {self.event_id} · {self.type}"
