"""Bill one past month by hand: `manage.py run_billing --period 2026-10 [--dry-run]`."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from billing.fees import period_parse
from billing.services import billing_period_run
from core.errors import ApplicationError
from core.money import quantize_money


class Command(BaseCommand):
    help = "Assess, invoice and send one past calendar month (UTC). Safe to re-run: it finishes what is missing."

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="the month to bill, YYYY-MM")
        parser.add_argument("--dry-run", action="store_true", help="compute and report, store nothing, call nobody")

    def handle(self, *args, period: str, dry_run: bool, **options):
        try:
            month = period_parse(period, now=timezone.now())
        except ApplicationError as error:
            raise CommandError(error.message) from error

        def progress(stage: str, total: int) -> tqdm:
            return tqdm(total=total, desc=f"{stage:<8}", unit=" rows")

        summary = billing_period_run(period=month, dry_run=dry_run, progress=progress)
        rows = [
            ("period", summary.period + (" (dry run: nothing stored or sent)" if dry_run else "")),
            ("copies assessed, per follower and strategy", summary.pairs_assessed),
            ("  left for next month", summary.pairs_waiting),
            ("performance fees", quantize_money(summary.performance_fees)),
            ("subscriptions", quantize_money(summary.subscription_fees)),
            ("invoices", summary.invoices),
            ("  nothing due (not sent)", summary.invoices_nothing_due),
            ("  total invoiced", quantize_money(summary.invoiced_total)),
        ]
        if not dry_run:
            stripe = "not configured: invoices stay in our ledger" if summary.ledger_only else "configured"
            rows += [
                ("Stripe", stripe),
                ("  sent and finalized", summary.invoices_sent),
                ("  not sent", summary.invoices_not_sent),
                ("payouts", summary.payouts),
            ]
        width = max(len(label) for label, _ in rows)
        self.stdout.write("")
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")
        for error in summary.errors:
            self.stdout.write(self.style.WARNING(error))
