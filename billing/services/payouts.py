"""Payouts: one per payee and month from the paid lines, paid by Connect transfer or by hand."""

import logging
import re
from datetime import date

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.errors import PaymentProviderError
from billing.fees import period_label
from billing.models import BillingAccount, Invoice, InvoiceLine, Payout
from billing.stripe_gateway import stripe_gateway, to_cents
from core.audit import audit_record
from core.errors import ApplicationError, NotFoundError
from core.locks import user_row_lock
from core.models import AuditEntry, Notification
from core.money import ZERO, format_money
from core.notifications import notification_send

logger = logging.getLogger(__name__)

TX_HASH = re.compile(r"[A-Za-z0-9]{16,200}")


@transaction.atomic
def payout_prepare(*, payee_id: int, period: date) -> Payout | None:
    """The payee's open payout for the period with its lines attached and its amounts from the paid ones.

    pending while any of its invoices awaits payment; ready (or void, nothing collected)
    once none does. Lines with no payout yet go to the month's pending payout; when the
    month's payouts have all closed (an invoice written off, then paid late), a void one is
    reopened, having paid nothing, or the month's next one is started. None when nothing
    was billed for them.
    """
    # The payee's row lock serialises this with a late payment taking its lines out of a
    # closed payout (_lines_release_from_closed_payouts), and two runs starting a payout.
    user_row_lock(user_id=payee_id)
    payouts = list(Payout.objects.filter(payee_id=payee_id, period=period).order_by("sequence"))
    unattached = InvoiceLine.objects.filter(payee_id=payee_id, invoice__period=period, payout__isnull=True)
    payout = next((payout for payout in payouts if payout.status == Payout.Status.PENDING), None)
    if payout is None:
        if not unattached.exists():
            return payouts[-1] if payouts else None
        payout = _payout_open(payee_id=payee_id, period=period, payouts=payouts)
    unattached.update(payout=payout)
    paid = payout.lines.filter(invoice__status=Invoice.Status.PAID).aggregate(
        gross=Sum("amount"), payee_amount=Sum("payee_amount"), platform_amount=Sum("platform_amount")
    )
    before = (payout.gross, payout.payee_amount, payout.platform_amount, payout.status)
    payout.gross = paid["gross"] or ZERO
    payout.payee_amount = paid["payee_amount"] or ZERO
    payout.platform_amount = paid["platform_amount"] or ZERO
    if not payout.lines.filter(invoice__status__in=Invoice.AWAITING_PAYMENT).exists():
        payout.status = Payout.Status.READY if payout.gross > ZERO else Payout.Status.VOID
        payout.ready_at = timezone.now()
    if (payout.gross, payout.payee_amount, payout.platform_amount, payout.status) != before:
        payout.full_clean()
        payout.save()
    return payout


def _payout_open(*, payee_id: int, period: date, payouts: list[Payout]) -> Payout:
    """A pending payout for lines of a month whose payouts (if any) have all closed."""
    void = [payout for payout in payouts if payout.status == Payout.Status.VOID]
    if void:
        # Closed with nothing collected and nothing transferred: reopening it recounts nothing.
        payout = void[-1]
        payout.status, payout.ready_at = Payout.Status.PENDING, None
    else:
        # Money already paid out (or on its way) stays with its payout; this is the month's next.
        sequence = payouts[-1].sequence + 1 if payouts else 0
        payout = Payout(payee_id=payee_id, period=period, sequence=sequence, currency=settings.BILLING_CURRENCY)
    payout.full_clean()
    payout.save()
    return payout


def payouts_prepare_all(*, period: date | None = None) -> list[Payout]:
    """Prepare a payout for every payee with lines not in one yet, and refresh every pending one."""
    lines = InvoiceLine.objects.filter(payout__isnull=True)
    pending = Payout.objects.filter(status=Payout.Status.PENDING)
    if period is not None:
        lines, pending = lines.filter(invoice__period=period), pending.filter(period=period)
    keys = set(lines.values_list("payee_id", "invoice__period")) | set(pending.values_list("payee_id", "period"))
    payouts = [payout_prepare(payee_id=payee_id, period=month) for payee_id, month in sorted(keys)]
    return [payout for payout in payouts if payout is not None]


def payout_pay(*, payout_id: int) -> Payout:
    """Pay a ready payout: a Stripe Connect transfer, or awaiting_manual without a connected account.

    The transfer's idempotency key is the payout id, so a retry after a lost answer (or two
    runs at once) transfers once.
    """
    payout = Payout.objects.get(id=payout_id)
    if payout.status != Payout.Status.READY:
        return payout
    destination = BillingAccount.objects.filter(user_id=payout.payee_id).values_list("stripe_connect_account_id", flat=True).first()
    gateway = stripe_gateway()
    now = timezone.now()
    if not destination or gateway is None:
        Payout.objects.filter(id=payout.id, status=Payout.Status.READY).update(status=Payout.Status.AWAITING_MANUAL, updated_at=now)
        payout.refresh_from_db()
        return payout
    try:
        transfer_id = gateway.create_transfer(
            payout_id=payout.id, amount_cents=to_cents(payout.payee_amount), currency=payout.currency, destination=destination
        )
    except PaymentProviderError as error:
        logger.warning("payout %s transfer failed (transient=%s): %s", payout.id, error.transient, error.message)
        if not error.transient:
            Payout.objects.filter(id=payout.id, status=Payout.Status.READY).update(
                status=Payout.Status.FAILED, failure_reason=error.message[:500], updated_at=now
            )
        payout.refresh_from_db()
        return payout
    with transaction.atomic():
        changed = Payout.objects.filter(id=payout.id, status=Payout.Status.READY).update(
            status=Payout.Status.PAID, stripe_transfer_id=transfer_id, paid_at=now, updated_at=now
        )
        payout.refresh_from_db()
        if changed:
            audit_record(
                action=AuditEntry.Action.PAYOUT_PAID,
                target=payout,
                before={"status": Payout.Status.READY},
                after={
                    "status": payout.status,
                    "stripe_transfer_id": transfer_id,
                    "amount": payout.payee_amount,
                    "currency": payout.currency,
                },
            )
            payout_notify_paid(payout)
    return payout


@transaction.atomic
def payout_record_manual(*, payout_id: int, tx_hash: str) -> Payout:
    """A curator paid it by hand (crypto or bank): record the transaction hash; the payout is paid."""
    payout = Payout.objects.select_for_update().filter(id=payout_id).first()
    if payout is None:
        raise NotFoundError("No such payout.")
    tx_hash = (tx_hash or "").strip()
    if not TX_HASH.fullmatch(tx_hash):
        raise ApplicationError("A transaction hash is 16 to 200 letters and digits.", {"tx_hash": tx_hash[:200]})
    if payout.status not in (Payout.Status.AWAITING_MANUAL, Payout.Status.FAILED):
        raise ApplicationError(f"Only a payout awaiting a manual payment can be recorded; this one is {payout.status}.")
    previous = payout.status
    payout.status = Payout.Status.PAID
    payout.tx_hash = tx_hash
    payout.paid_at = timezone.now()
    payout.full_clean()
    payout.save()
    audit_record(
        action=AuditEntry.Action.PAYOUT_PAID,
        target=payout,
        before={"status": previous},
        after={"status": payout.status, "tx_hash": tx_hash, "amount": payout.payee_amount, "currency": payout.currency},
    )
    payout_notify_paid(payout)
    return payout


def payout_notify_paid(payout: Payout) -> None:
    notification_send(
        user=payout.payee,
        kind=Notification.Kind.PAYOUT,
        title=f"Your {period_label(payout.period)} payout of {format_money(payout.payee_amount, payout.currency)} was paid",
    )
