"""Stripe webhook events: verified, validated, applied once (the event id is the record)."""

import logging
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.fees import period_label
from billing.models import Invoice, Payout, StripeEvent
from billing.services.invoices import _mark_fees_paid, _notify_invoice
from core.errors import ApplicationError
from core.ids import ID_RULE, id_parse
from core.locks import user_row_lock
from core.models import Notification
from core.money import format_money
from core.notifications import notification_send

logger = logging.getLogger(__name__)


# Stripe's timestamps are unix seconds; anything after year 9999 is no date at all.
MAX_UNIX_SECONDS = 253_402_300_799
STRIPE_ID_MAX_LENGTH = 255  # StripeEvent.event_id, Invoice.stripe_invoice_id


def stripe_event_validate(event: dict) -> None:
    """The parts of a (signature-checked) Stripe event this code reads have the shape Stripe
    documents, or a 400 that says which part does not, and a log line: a signed event of an
    odd shape is Stripe changing something, or our secret in someone else's hands."""
    problem = _stripe_event_problem(event)
    if problem is not None:
        logger.warning("Stripe event %.80r refused: %s", event.get("id"), problem)
        raise ApplicationError(f"Unexpected Stripe event shape: {problem}.")


def _stripe_event_problem(event: dict) -> str | None:
    for name, max_length in (("id", STRIPE_ID_MAX_LENGTH), ("type", 100)):
        value = event.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= max_length:
            return f"{name} must be a string of 1 to {max_length} characters"
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        return "data.object must be an object"
    obj = data["object"]
    if obj.get("object") == "transfer":
        return _stripe_transfer_problem(obj)
    if obj.get("object") != "invoice":
        return None
    if not isinstance(obj.get("id", ""), str) or len(obj.get("id", "")) > STRIPE_ID_MAX_LENGTH:
        return f"the invoice id must be a string of at most {STRIPE_ID_MAX_LENGTH} characters"
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata must be an object"
    if isinstance(metadata, dict) and metadata.get("invoice_id", "") != "" and id_parse(metadata["invoice_id"]) is None:
        return f"metadata.invoice_id must be {ID_RULE}"
    transitions = obj.get("status_transitions")
    if transitions is not None and not isinstance(transitions, dict):
        return "status_transitions must be an object"
    for name, stamp in (transitions or {}).items():
        if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp <= MAX_UNIX_SECONDS):
            return f"status_transitions.{str(name)[:40]} must be unix seconds"
    return None


def _stripe_transfer_problem(obj: dict) -> str | None:
    if not isinstance(obj.get("id", ""), str) or len(obj.get("id", "")) > STRIPE_ID_MAX_LENGTH:
        return f"the transfer id must be a string of at most {STRIPE_ID_MAX_LENGTH} characters"
    reversed_cents = obj.get("amount_reversed", 0)
    if isinstance(reversed_cents, bool) or not isinstance(reversed_cents, int) or reversed_cents < 0:
        return "amount_reversed must be a whole number of cents"
    return None


def _event_time(obj: dict, transition: str, default: datetime) -> datetime:
    stamp = (obj.get("status_transitions") or {}).get(transition)
    return datetime.fromtimestamp(stamp, tz=UTC) if isinstance(stamp, int) else default


def _invoice_for_event(obj: dict) -> Invoice | None:
    stripe_invoice_id = obj.get("id") or ""
    invoice = Invoice.objects.select_for_update().filter(stripe_invoice_id=stripe_invoice_id).first() if stripe_invoice_id else None
    if invoice is not None:
        return invoice
    # The answer to our create may have been lost before we stored Stripe's id.
    our_id = id_parse((obj.get("metadata") or {}).get("invoice_id", ""))
    if our_id is None:
        return None
    invoice = Invoice.objects.select_for_update().filter(id=our_id, stripe_invoice_id__in=["", stripe_invoice_id]).first()
    if invoice is not None and not invoice.stripe_invoice_id:
        invoice.stripe_invoice_id = stripe_invoice_id
        invoice.save(update_fields=["stripe_invoice_id", "updated_at"])
    return invoice


def _on_invoice_paid(invoice: Invoice, obj: dict, now: datetime) -> None:
    if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        return
    written_off = invoice.status == Invoice.Status.UNCOLLECTIBLE
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = _event_time(obj, "paid_at", now)
    invoice.finalized_at = invoice.finalized_at or _event_time(obj, "finalized_at", now)
    invoice.save(update_fields=["status", "paid_at", "finalized_at", "updated_at"])
    _mark_fees_paid(invoice=invoice, paid_at=invoice.paid_at)
    _notify_invoice(invoice, kind=Notification.Kind.INVOICE_PAID)
    if written_off:
        _lines_release_from_closed_payouts(invoice=invoice)


def _lines_release_from_closed_payouts(*, invoice: Invoice) -> None:
    """A written-off invoice paid late: its lines leave the payouts that closed without them.

    Only a written-off invoice can have lines in a closed payout: a payout closes once none
    of its invoices awaits payment, counting the paid ones only. The released lines have no
    payout, so the next payout run puts them in a reopened or a new one and pays them once.
    """
    # The payees' row locks, in id order, wait for a payout_prepare that may be closing one
    # of these payouts right now; the update below then sees what it committed. Taken after
    # the invoice row: nothing that holds a user row lock waits for an invoice row.
    for payee_id in sorted(set(invoice.lines.values_list("payee_id", flat=True))):
        user_row_lock(user_id=payee_id)
    invoice.lines.filter(payout__isnull=False).exclude(payout__status=Payout.Status.PENDING).update(payout=None)


def _on_invoice_payment_failed(invoice: Invoice, obj: dict, now: datetime) -> None:
    if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.OPEN):
        return
    invoice.status = Invoice.Status.OPEN
    invoice.finalized_at = invoice.finalized_at or _event_time(obj, "finalized_at", now)
    invoice.payment_failed_at = now
    invoice.save(update_fields=["status", "finalized_at", "payment_failed_at", "updated_at"])
    notification_send(
        user=invoice.follower,
        kind=Notification.Kind.INVOICE,
        title=f"Payment of your {period_label(invoice.period)} invoice failed",
        body=f"We could not collect {format_money(invoice.total, invoice.currency)}. Stripe will retry; please check your payment method.",
    )


def _on_invoice_voided(invoice: Invoice, obj: dict, now: datetime) -> None:
    if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE):
        return
    invoice.status = Invoice.Status.VOID
    invoice.voided_at = _event_time(obj, "voided_at", now)
    invoice.save(update_fields=["status", "voided_at", "updated_at"])


def _on_invoice_uncollectible(invoice: Invoice, obj: dict, now: datetime) -> None:
    if invoice.status != Invoice.Status.OPEN:
        return
    invoice.status = Invoice.Status.UNCOLLECTIBLE
    invoice.save(update_fields=["status", "updated_at"])


INVOICE_EVENT_HANDLERS = {
    "invoice.paid": _on_invoice_paid,
    # Stripe sends both for a collected invoice, in either order; whichever comes first pays it.
    "invoice.payment_succeeded": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_payment_failed,
    "invoice.voided": _on_invoice_voided,
    "invoice.marked_uncollectible": _on_invoice_uncollectible,
}
# The event Stripe would have sent for an invoice in each final status: the reconciliation
# applies what it reads through the handler of that event.
INVOICE_STATUS_EVENTS = {"paid": "invoice.paid", "void": "invoice.voided", "uncollectible": "invoice.marked_uncollectible"}


def stripe_invoice_apply(*, event_type: str, obj: dict) -> Invoice | None:
    """Apply what Stripe says of one of our invoices, in the caller's transaction: the webhook's
    and the reconciliation's one path. Each handler changes only an invoice still in a status
    the news can move on, so news that arrives twice or late changes nothing."""
    handler = INVOICE_EVENT_HANDLERS.get(event_type)
    if handler is None:
        return None
    invoice = _invoice_for_event(obj)
    if invoice is not None:
        handler(invoice, obj, timezone.now())
    return invoice


def _on_transfer_reversed(payout: Payout, obj: dict, now: datetime) -> None:
    """Money of a paid payout taken back from the payee's account: it is not paid out any more.

    The payout fails with the amount in its reason, so the earnings show it as owed again and
    a curator pays it by hand (payout_record_manual); nothing transfers it again by itself."""
    reversed_cents = obj.get("amount_reversed") or 0
    if payout.status != Payout.Status.PAID or not reversed_cents:
        return
    reversed_amount = Decimal(reversed_cents) / 100
    payout.status = Payout.Status.FAILED
    payout.failure_reason = (
        f"Stripe transfer {payout.stripe_transfer_id} was reversed: {format_money(reversed_amount, payout.currency)} "
        f"of {format_money(payout.payee_amount, payout.currency)} went back to the platform."
    )
    payout.save(update_fields=["status", "failure_reason", "updated_at"])
    logger.warning("payout %s: %s", payout.id, payout.failure_reason)


TRANSFER_EVENT_HANDLERS = {"transfer.reversed": _on_transfer_reversed}


def stripe_transfer_apply(*, event_type: str, obj: dict) -> Payout | None:
    """Apply what Stripe says of one of our transfers, in the caller's transaction (webhook and reconciliation)."""
    handler = TRANSFER_EVENT_HANDLERS.get(event_type)
    transfer_id = obj.get("id") or ""
    payout = Payout.objects.select_for_update().filter(stripe_transfer_id=transfer_id).first() if transfer_id else None
    if handler is not None and payout is not None:
        handler(payout, obj, timezone.now())
    return payout


@transaction.atomic
def stripe_event_handle(*, event: dict) -> bool:
    """Apply a verified Stripe event once; False when this event id was handled before."""
    stripe_event_validate(event)
    event_id, event_type = event["id"], event["type"]
    # The unique event id is the idempotency record, committed with the change it caused;
    # a concurrent duplicate waits on the index entry, then finds it.
    _, created = StripeEvent.objects.get_or_create(event_id=event_id, defaults={"type": event_type})
    if not created:
        return False
    obj = event["data"]["object"]
    if obj.get("object") == "invoice" and event_type in INVOICE_EVENT_HANDLERS:
        if stripe_invoice_apply(event_type=event_type, obj=obj) is None:
            logger.warning("Stripe event %s (%s) names no invoice of ours", event_id, event_type)
    elif obj.get("object") == "transfer" and event_type in TRANSFER_EVENT_HANDLERS:
        if stripe_transfer_apply(event_type=event_type, obj=obj) is None:
            logger.warning("Stripe event %s (%s) names no transfer of ours", event_id, event_type)
    return True
