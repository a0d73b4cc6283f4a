"""Invoices: one per follower and month from its assessments, sent to Stripe and finalized there.

Network calls are made outside transactions; the row they belong to is re-read and changed
with a conditional update, and Stripe calls carry idempotency keys from our ids."""

import logging
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.errors import PaymentProviderError
from billing.fees import period_label, split_fee
from billing.models import BillingAccount, FeeAssessment, Invoice, InvoiceLine
from billing.stripe_gateway import stripe_gateway, to_cents
from copytrade.models import CopiedTrade, Copy
from core.locks import user_row_lock
from core.models import Notification
from core.money import ZERO, format_money
from core.notifications import notification_send

logger = logging.getLogger(__name__)


DESCRIPTION_MAX = InvoiceLine._meta.get_field("description").max_length


def _described(text: str, copies: list[Copy]) -> str:
    """`text` followed by the copies the line covers (ids and start dates), as many as fit the line."""
    for shown in range(len(copies), 0, -1):
        listed = ", ".join(f"#{copy.id} started {copy.started_at:%Y-%m-%d}" for copy in copies[:shown])
        more = f" and {len(copies) - shown} more" if shown < len(copies) else ""
        described = f"{text}; {'copy' if len(copies) == 1 else 'copies'} {listed}{more}"
        if len(described) <= DESCRIPTION_MAX:
            return described
    return text


def _line_components(assessment: FeeAssessment) -> list[tuple[str, Decimal, str]]:
    month = period_label(assessment.period)
    name = assessment.strategy.name
    copies = sorted(assessment.copies.all(), key=lambda copy: (copy.started_at, copy.id))
    return [
        (
            InvoiceLine.Kind.PERFORMANCE_FEE,
            assessment.performance_fee,
            _described(f"Performance fee {assessment.rate_percent}% on {name}, {month}", copies),
        ),
        (
            InvoiceLine.Kind.SUBSCRIPTION,
            assessment.subscription_fee,
            _described(f"Subscription to {name}, {month} ({assessment.live_days}/{assessment.days_in_period} days)", copies),
        ),
    ]


@transaction.atomic
def invoice_create(*, follower_id: int, period: date) -> Invoice:
    """The follower's invoice for the period, from its assessments: the stored one, or a new one.

    Nothing due: it is recorded as paid and never sent (Stripe would do the same).
    """
    user_row_lock(user_id=follower_id)
    existing = Invoice.objects.filter(follower_id=follower_id, period=period).first()
    if existing is not None:
        return existing
    now = timezone.now()
    lines = []
    assessments = FeeAssessment.objects.filter(follower_id=follower_id, period=period).order_by("id")
    for assessment in assessments.select_related("strategy").prefetch_related("copies"):
        for kind, amount, description in _line_components(assessment):
            if amount <= ZERO:
                continue
            payee_amount, platform_amount = split_fee(amount, payee_share=assessment.payee_share)
            lines.append(
                InvoiceLine(
                    assessment=assessment,
                    kind=kind,
                    description=description,
                    amount=amount,
                    payee_id=assessment.payee_id,
                    program=assessment.program,
                    payee_amount=payee_amount,
                    platform_amount=platform_amount,
                )
            )
    total = sum((line.amount for line in lines), ZERO)
    invoice = Invoice(
        follower_id=follower_id,
        period=period,
        currency=settings.BILLING_CURRENCY,
        total=total,
        status=Invoice.Status.DRAFT if total > ZERO else Invoice.Status.PAID,
        paid_at=None if total > ZERO else now,
    )
    invoice.full_clean()
    invoice.save()
    for line in lines:
        line.invoice = invoice
        line.full_clean()
    InvoiceLine.objects.bulk_create(lines)
    return invoice


def _billing_account(user_id: int) -> BillingAccount:
    account, _ = BillingAccount.objects.get_or_create(user_id=user_id)
    return account


def invoice_send(*, invoice_id: int) -> Invoice:
    """Send a draft invoice to Stripe and finalize it there (Stripe then collects it).

    Without a Stripe key it stays a draft in our ledger. A failure is recorded on the
    invoice and it stays a draft, so the next run (or the daily run) sends it again with
    the same idempotency keys: nothing is created twice at Stripe.
    """
    invoice = Invoice.objects.select_related("follower").get(id=invoice_id)
    gateway = stripe_gateway()
    if invoice.status != Invoice.Status.DRAFT or invoice.total <= ZERO or gateway is None:
        return invoice
    follower = invoice.follower
    account = _billing_account(follower.id)
    try:
        customer_id = gateway.ensure_customer(
            user_id=follower.id,
            email=follower.email,
            name=follower.get_full_name() or follower.username,
            existing_customer_id=account.stripe_customer_id or None,
        )
        if customer_id != account.stripe_customer_id:
            BillingAccount.objects.filter(id=account.id).update(stripe_customer_id=customer_id, updated_at=timezone.now())
        stripe_invoice_id = invoice.stripe_invoice_id
        if not stripe_invoice_id:
            lines = [(line.id, to_cents(line.amount), invoice.currency, line.description) for line in invoice.lines.order_by("id")]
            stripe_invoice_id = gateway.create_invoice(
                invoice_id=invoice.id,
                customer_id=customer_id,
                lines=lines,
                metadata={"period": period_label(invoice.period), "follower_id": str(follower.id)},
            )
            Invoice.objects.filter(id=invoice.id, stripe_invoice_id="").update(
                stripe_invoice_id=stripe_invoice_id, updated_at=timezone.now()
            )
        stripe_status = gateway.finalize_invoice(invoice_id=invoice.id, stripe_invoice_id=stripe_invoice_id)
    except PaymentProviderError as error:
        logger.warning("invoice %s not sent to Stripe (transient=%s): %s", invoice.id, error.transient, error.message)
        Invoice.objects.filter(id=invoice.id).update(send_error=error.message[:500], updated_at=timezone.now())
        invoice.refresh_from_db()
        return invoice
    now = timezone.now()
    # A webhook may already have moved it on; only a draft becomes open here.
    new_status = Invoice.Status.PAID if stripe_status == "paid" else Invoice.Status.OPEN
    issued = Invoice.objects.filter(id=invoice.id, status=Invoice.Status.DRAFT).update(
        status=new_status,
        finalized_at=now,
        paid_at=now if new_status == Invoice.Status.PAID else None,
        send_error="",
        updated_at=now,
    )
    invoice.refresh_from_db()
    if issued:
        _notify_invoice(invoice, kind=Notification.Kind.INVOICE_ISSUED)
    if invoice.status == Invoice.Status.PAID:
        _mark_fees_paid(invoice=invoice, paid_at=invoice.paid_at or now)
    return invoice


def _notify_invoice(invoice: Invoice, *, kind: str) -> None:
    """Issued or paid: the follower is told (as their notification preferences say)."""
    amount, period = format_money(invoice.total, invoice.currency), period_label(invoice.period)
    if kind == Notification.Kind.INVOICE_PAID:
        notification_send(user=invoice.follower, kind=kind, title=f"Your {period} invoice of {amount} was paid")
        return
    notification_send(
        user=invoice.follower,
        kind=kind,
        title=f"Your {period} invoice: {amount}",
        body="Stripe collects it from your payment method. Each line and its basis are on your invoices page.",
    )


def _mark_fees_paid(*, invoice: Invoice, paid_at: datetime) -> None:
    """seed 000 `fee_paid_at`: the copied trades whose fee this invoice charged are paid."""
    CopiedTrade.objects.filter(
        fee_assessment_link__assessment__invoice_lines__invoice=invoice,
        override_fee_charged__gt=0,
        fee_paid_at__isnull=True,
    ).update(fee_paid_at=paid_at)
