"""How far a month's billing run is: `manage.py billing_progress --period 2026-10`.

The monthly run is one task per follower (billing/tasks.py); this reads their progress
back from what they wrote (billing.selectors.billing_period_progress)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.fees import period_parse
from billing.selectors import billing_period_progress
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Show how many followers of a month's billing run are invoiced, and how many invoices are still unsent."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="the billed month, YYYY-MM")

    def handle(self, *args, period: str, **options):
        try:
            month = period_parse(period, now=timezone.now())
        except ApplicationError as error:
            raise CommandError(error.message) from error
        progress = billing_period_progress(period=month)
        state = "done" if progress.done else "in progress"
        self.stdout.write(
            f"billing {period}: {progress.invoiced}/{progress.followers} followers invoiced ({state}), "
            f"{progress.awaiting_send} invoices not sent to Stripe yet"
        )
