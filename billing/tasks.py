"""Beat tasks for billing: thin, idempotent, safe to run again after a crash."""

import logging

from celery import shared_task
from django.utils import timezone

from billing.fees import previous_period
from billing.services import billing_period_run, payouts_run

logger = logging.getLogger(__name__)

# A month's run sends one invoice per follower over the network: far longer than the
# default task limits allow. A run cut short is finished by the next one.
RUN_SOFT_TIME_LIMIT = 3 * 3600
RUN_TIME_LIMIT = RUN_SOFT_TIME_LIMIT + 300


@shared_task(acks_late=True, soft_time_limit=RUN_SOFT_TIME_LIMIT, time_limit=RUN_TIME_LIMIT)
def run_monthly_billing() -> None:
    """1st of the month, 00:30 UTC: bill the month that just ended."""
    period = previous_period(timezone.now().date())
    summary = billing_period_run(period=period)
    logger.info(
        "billing %s: %s follower-strategy pairs assessed, %s invoices (%s sent, %s not sent), %s payouts",
        summary.period, summary.pairs_assessed, summary.invoices, summary.invoices_sent, summary.invoices_not_sent, summary.payouts,
    )


@shared_task(acks_late=True, soft_time_limit=RUN_SOFT_TIME_LIMIT, time_limit=RUN_TIME_LIMIT)
def run_daily_payouts() -> None:
    """Daily: send invoices left unsent, settle payouts whose invoices are settled, pay the ready ones."""
    summary = payouts_run()
    logger.info(
        "payouts: %s invoices sent, %s ready, %s paid, %s awaiting manual payment, %s failed",
        summary.invoices_sent, summary.payouts_ready, summary.payouts_paid, summary.payouts_awaiting_manual, summary.payouts_failed,
    )
