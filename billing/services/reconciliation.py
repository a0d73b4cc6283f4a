"""The daily reconciliation with Stripe: what its webhooks would have told us, read from Stripe.

A webhook can be lost for good: our endpoint down past Stripe's retries (three days), an
event type not subscribed, a secret rotated on one side only. An invoice paid at Stripe
would then stay open here and its payee's payout pending for ever. So every day each of
our invoices that is still open (payment failed or not) or written off is read back from
Stripe and its real status applied through the webhook's own handlers
(stripe_events.stripe_invoice_apply); news that also arrives by webhook, before or after,
changes nothing the second time. The same for transfers: a payout whose transfer's answer
never reached us is recorded as paid by the transfer Stripe has, and a paid payout whose
transfer was reversed is failed. Drafts of ours that an invoice here no longer names
(a run that died between creating a draft and storing its id, re-run after Stripe forgot
the idempotency key) are deleted at Stripe.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from billing.errors import PaymentProviderError
from billing.models import Invoice, Payout
from billing.services.payouts import payout_notify_paid
from billing.services.stripe_events import INVOICE_STATUS_EVENTS, stripe_invoice_apply, stripe_transfer_apply
from billing.stripe_gateway import StripeGateway

logger = logging.getLogger(__name__)

# A transfer can be reversed long after it was made; a payout paid within this many days
# has its transfer read back every day.
TRANSFER_WATCH_DAYS = 90
# A payout made ready less than this long ago has not been tried yet: nothing to find at Stripe.
READY_UNTRIED = timedelta(minutes=30)


@dataclass
class ReconciliationSummary:
    invoices_checked: int = 0
    invoices_changed: int = 0
    drafts_deleted: int = 0
    transfers_checked: int = 0
    payouts_changed: int = 0
    errors: list[str] = field(default_factory=list)


def invoice_ids_to_reconcile() -> list[int]:
    """Our invoices Stripe has and that still wait for news: open (failed or not) or written off."""
    return list(
        Invoice.objects.filter(status__in=(Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE))
        .exclude(stripe_invoice_id="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def invoice_reconcile(*, gateway: StripeGateway, invoice_id: int) -> bool:
    """Read one invoice back from Stripe and apply its status; True when that changed ours."""
    invoice = Invoice.objects.get(id=invoice_id)
    obj = gateway.retrieve_invoice(stripe_invoice_id=invoice.stripe_invoice_id)
    event_type = INVOICE_STATUS_EVENTS.get(obj.get("status"))
    if event_type is None:
        return False
    with transaction.atomic():
        applied = stripe_invoice_apply(event_type=event_type, obj=obj)
    if applied is not None and applied.status != invoice.status:
        logger.info("invoice %s: %s here, %s at Stripe: now %s", invoice.id, invoice.status, obj.get("status"), applied.status)
        return True
    return False


def stripe_drafts_orphaned_delete(*, gateway: StripeGateway) -> int:
    """Delete the drafts at Stripe that carry one of our invoice ids while that invoice names
    another Stripe invoice; the number deleted. A draft whose invoice stores no Stripe id yet
    is left alone: a send may be between creating it and storing its id right now."""
    deleted = 0
    for draft in list(gateway.draft_invoices()):
        our_id = str((draft.get("metadata") or {}).get("invoice_id", ""))
        if not our_id.isdigit():
            continue
        stored = Invoice.objects.filter(id=int(our_id)).values_list("stripe_invoice_id", flat=True).first()
        if stored and stored != draft["id"]:
            gateway.delete_draft_invoice(stripe_invoice_id=draft["id"])
            logger.info("deleted orphan Stripe draft %s of invoice %s (which is %s)", draft["id"], our_id, stored)
            deleted += 1
    return deleted


def payout_transfer_reconcile(*, gateway: StripeGateway, payout_id: int) -> bool:
    """Read a payout's transfer back from Stripe; True when that changed the payout.

    Ready: a transfer Stripe made for it (its answer lost) records it paid, so the next
    attempt, maybe after Stripe forgot the idempotency key, cannot transfer twice. Paid: a
    reversal fails it (stripe_events._on_transfer_reversed)."""
    payout = Payout.objects.get(id=payout_id)
    if payout.status == Payout.Status.READY:
        transfer = gateway.find_transfer(payout_id=payout.id)
        if transfer is None:
            return False
        now = timezone.now()
        with transaction.atomic():
            changed = Payout.objects.filter(id=payout.id, status=Payout.Status.READY).update(
                status=Payout.Status.PAID, stripe_transfer_id=transfer["id"], paid_at=now, updated_at=now
            )
            if changed:
                payout.refresh_from_db()
                payout_notify_paid(payout)
        return bool(changed)
    if payout.status == Payout.Status.PAID and payout.stripe_transfer_id:
        transfer = gateway.retrieve_transfer(transfer_id=payout.stripe_transfer_id)
        event_type = "transfer.reversed" if transfer.get("amount_reversed") else None
        if event_type is None:
            return False
        with transaction.atomic():
            applied = stripe_transfer_apply(event_type=event_type, obj=transfer)
        return applied is not None and applied.status != payout.status
    return False


def payout_ids_to_reconcile() -> list[int]:
    now = timezone.now()
    ready = Payout.objects.filter(status=Payout.Status.READY, ready_at__lt=now - READY_UNTRIED)
    paid = Payout.objects.filter(status=Payout.Status.PAID, paid_at__gte=now - timedelta(days=TRANSFER_WATCH_DAYS)).exclude(
        stripe_transfer_id=""
    )
    return sorted(set(ready.values_list("id", flat=True)) | set(paid.values_list("id", flat=True)))


def stripe_reconcile(*, gateway: StripeGateway) -> ReconciliationSummary:
    """The whole reconciliation, in this process (the daily run's inline form; beat fans it out).
    A failing call to Stripe is noted and the rest goes on: tomorrow's run tries it again."""
    summary = ReconciliationSummary()

    def attempt(what: str, step: Callable[[], int]) -> int:
        try:
            return step()
        except PaymentProviderError as error:
            summary.errors.append(f"{what}: {error.message}")
            return 0

    invoice_ids = invoice_ids_to_reconcile()
    summary.invoices_checked = len(invoice_ids)
    for invoice_id in invoice_ids:
        summary.invoices_changed += attempt(f"invoice {invoice_id}", partial(invoice_reconcile, gateway=gateway, invoice_id=invoice_id))
    summary.drafts_deleted = attempt("orphan drafts", partial(stripe_drafts_orphaned_delete, gateway=gateway))
    payout_ids = payout_ids_to_reconcile()
    summary.transfers_checked = len(payout_ids)
    for payout_id in payout_ids:
        summary.payouts_changed += attempt(f"payout {payout_id}", partial(payout_transfer_reconcile, gateway=gateway, payout_id=payout_id))
    for error in summary.errors:
        logger.warning("reconciliation: %s", error)
    return summary
