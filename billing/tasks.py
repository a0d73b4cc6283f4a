"""Beat tasks for billing: fanned out, thin, idempotent, safe to run again after a crash.

A month's run used to be one task of up to 3 h (an invoice per follower over the network),
acknowledged late; the broker's visibility timeout is 1 h (CELERY_VISIBILITY_TIMEOUT), so
Redis handed a long run to a second worker while the first still ran: the same month billed
by two runs at once. Now the beat tasks only enqueue: one task per follower and month
(`bill_follower`: its pairs' assessments, its invoice, the send), one per invoice left
unsent and one per ready payout. Each is a few database statements and at most one call to
Stripe, and its hard time limit (TASK_TIME_LIMIT, 10 min) is well inside the visibility
timeout, so a task is redelivered only when its worker is gone. Progress: every task logs
it, and `manage.py billing_progress --period YYYY-MM` (billing.selectors.billing_period_progress)
reads it back from the invoices.
"""

import logging
from datetime import date

from celery import current_app, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from billing.errors import PaymentProviderError
from billing.fees import previous_period
from billing.selectors import billing_period_progress, fee_followers_billable, invoice_ids_unsent, payout_ids_ready
from billing.services import (
    billing_follower_run,
    invoice_ids_to_reconcile,
    invoice_reconcile,
    invoice_send,
    payout_ids_to_reconcile,
    payout_pay,
    payout_transfer_reconcile,
    payouts_prepare_all,
    stripe_drafts_orphaned_delete,
)
from billing.stripe_gateway import stripe_gateway

logger = logging.getLogger(__name__)

# One follower, one invoice or one payout: seconds. Stripe's client times out long before.
TASK_SOFT_TIME_LIMIT = 9 * 60
TASK_TIME_LIMIT = 10 * 60
# The beat tasks read ids and publish one message each: a minute per 100,000 or so.
ENQUEUE_SOFT_TIME_LIMIT = 15 * 60
ENQUEUE_TIME_LIMIT = 16 * 60

TASK_OPTIONS = {
    "acks_late": True,
    "soft_time_limit": TASK_SOFT_TIME_LIMIT,
    "time_limit": TASK_TIME_LIMIT,
    # A database restart is transient; Stripe failures are recorded on the invoice or payout.
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "max_retries": 5,
}


def _send_each(task, id_lists: list[tuple]) -> None:
    """One message per argument tuple, over one broker connection."""
    with current_app.producer_or_acquire() as producer:
        for args in id_lists:
            task.apply_async(args=args, producer=producer)


@shared_task(acks_late=True, soft_time_limit=ENQUEUE_SOFT_TIME_LIMIT, time_limit=ENQUEUE_TIME_LIMIT)
def run_monthly_billing() -> None:
    """1st of the month, 00:30 UTC: bill the month that just ended, one task per follower."""
    period = previous_period(timezone.now().date())
    follower_ids = fee_followers_billable(period=period)
    _send_each(bill_follower, [(follower_id, period.isoformat()) for follower_id in follower_ids])
    logger.info("billing %s: %s followers to bill, one task each", period.strftime("%Y-%m"), len(follower_ids))


@shared_task(**TASK_OPTIONS)
def bill_follower(follower_id: int, period: str) -> None:
    month = date.fromisoformat(period)
    outcome = billing_follower_run(follower_id=follower_id, period=month)
    progress = billing_period_progress(period=month)
    invoice = outcome.invoice
    logger.info(
        "billing %s: follower %s, %s pairs assessed (%s left for next month), invoice %s; progress %s/%s followers invoiced, %s invoices unsent",
        month.strftime("%Y-%m"),
        follower_id,
        outcome.pairs_assessed,
        outcome.pairs_waiting,
        f"{invoice.id} {invoice.status} {invoice.total}" if invoice else "none",
        progress.invoiced,
        progress.followers,
        progress.awaiting_send,
    )


@shared_task(acks_late=True, soft_time_limit=ENQUEUE_SOFT_TIME_LIMIT, time_limit=ENQUEUE_TIME_LIMIT)
def run_daily_payouts() -> None:
    """Daily: send invoices left unsent, reconcile with Stripe, settle payouts whose invoices
    are settled, pay the ready ones (one task each). What a reconciliation task settles
    today is paid out by tomorrow's run (payouts_run, the inline form, does it in one go)."""
    unsent = invoice_ids_unsent()
    _send_each(send_invoice, [(invoice_id,) for invoice_id in unsent])
    reconcile = invoice_ids_to_reconcile() if stripe_gateway() is not None else []
    _send_each(reconcile_invoice, [(invoice_id,) for invoice_id in reconcile])
    payouts = payout_ids_to_reconcile() if stripe_gateway() is not None else []
    _send_each(reconcile_payout, [(payout_id,) for payout_id in payouts])
    if stripe_gateway() is not None:
        delete_orphan_drafts.delay()
    payouts_prepare_all()
    ready = payout_ids_ready()
    _send_each(pay_payout, [(payout_id,) for payout_id in ready])
    logger.info(
        "payouts: %s invoices to send, %s to reconcile, %s transfers to check, %s payouts to pay, one task each",
        len(unsent),
        len(reconcile),
        len(payouts),
        len(ready),
    )


@shared_task(**TASK_OPTIONS)
def send_invoice(invoice_id: int) -> None:
    invoice = invoice_send(invoice_id=invoice_id)
    logger.info("invoice %s: %s", invoice.id, invoice.status)


@shared_task(**TASK_OPTIONS)
def reconcile_invoice(invoice_id: int) -> None:
    _reconcile(f"invoice {invoice_id}", lambda gateway: invoice_reconcile(gateway=gateway, invoice_id=invoice_id))


@shared_task(**TASK_OPTIONS)
def reconcile_payout(payout_id: int) -> None:
    _reconcile(f"payout {payout_id}", lambda gateway: payout_transfer_reconcile(gateway=gateway, payout_id=payout_id))


@shared_task(**TASK_OPTIONS)
def delete_orphan_drafts() -> None:
    _reconcile("orphan Stripe drafts", lambda gateway: stripe_drafts_orphaned_delete(gateway=gateway))


def _reconcile(what: str, step) -> None:
    """One reconciliation step; Stripe failing it is a warning: tomorrow's run asks again."""
    gateway = stripe_gateway()
    if gateway is None:
        return
    try:
        logger.info("%s reconciled with Stripe: %s changed", what, int(step(gateway)))
    except PaymentProviderError as error:
        logger.warning("%s not reconciled with Stripe (transient=%s): %s", what, error.transient, error.message)


@shared_task(**TASK_OPTIONS)
def pay_payout(payout_id: int) -> None:
    payout = payout_pay(payout_id=payout_id)
    logger.info("payout %s: %s", payout.id, payout.status)
