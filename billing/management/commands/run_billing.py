"""Bill one past month by hand: `manage.py run_billing --period 2026-10 [--dry-run]`.

Exits 1, naming them, when any invoice of the month with something due is still not at
Stripe after the run (Stripe unreachable, a refusal); 0 when every one is sent (or Stripe
is not configured, and the invoices stay in the ledger by design)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from billing.fees import period_parse
from billing.services import billing_period_run
from core.errors import ApplicationError
from core.money import format_money


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
        self.stdout.write("")
        self.stdout.write(self._headline(summary))
        rows = [
            ("period", summary.period + (" (dry run: nothing stored or sent)" if dry_run else "")),
            ("copies assessed now, per follower and strategy", summary.pairs_assessed),
            ("  already assessed before", summary.pairs_already_assessed),
            ("  left for next month", summary.pairs_waiting),
            ("performance fees assessed now", format_money(summary.performance_fees, settings.BILLING_CURRENCY)),
            ("subscriptions assessed now", format_money(summary.subscription_fees, settings.BILLING_CURRENCY)),
            ("invoices created now", summary.invoices),
            ("  already existed", summary.invoices_already_existed),
            ("  nothing due (not sent)", summary.invoices_nothing_due),
            ("  total invoiced now", format_money(summary.invoiced_total, settings.BILLING_CURRENCY)),
        ]
        if not dry_run:
            stripe = "not configured: invoices stay in our ledger" if summary.ledger_only else "configured"
            rows += [
                ("Stripe", stripe),
                ("  sent and finalized now", summary.invoices_sent),
                ("  already sent before", summary.invoices_already_sent),
                ("  not sent", summary.invoices_not_sent),
                ("payouts prepared now", summary.payouts),
                ("  already existed", summary.payouts_already_existed),
            ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")
        for error in summary.errors:
            self.stdout.write(self.style.WARNING(error))
        if summary.invoices_unsent and not summary.ledger_only:
            # A cron job or an operator must be able to tell: the month is not billed yet.
            named = ", ".join(
                f"invoice {invoice.id} ({invoice.follower.username}, {format_money(invoice.total, invoice.currency)})"
                for invoice in summary.invoices_unsent
            )
            raise CommandError(
                f"{len(summary.invoices_unsent)} invoice(s) of {summary.period} could not be sent to Stripe: {named}. "
                "Run the command again (or let the daily run send them): nothing is created twice."
            )

    @staticmethod
    def _headline(summary) -> str:
        """One sentence: what this run did (a re-run of a billed month does nothing new)."""
        currency = settings.BILLING_CURRENCY
        if summary.did_nothing_new:
            earlier = [f"{summary.pairs_already_assessed} assessments"]
            if not summary.dry_run:
                earlier.append(f"{summary.invoices_already_sent} invoices already sent")
            unsent = f"; {summary.invoices_not_sent} still not sent" if summary.invoices_not_sent else ""
            return f"nothing new: {summary.invoices_already_existed} invoices already existed ({', '.join(earlier)}){unsent}"
        made = [f"{summary.pairs_assessed} assessments", f"{summary.invoices} invoices ({format_money(summary.invoiced_total, currency)})"]
        if not summary.dry_run:
            made += [f"{summary.invoices_sent} sent", f"{summary.payouts} payouts"]
        already = f"; {summary.invoices_already_existed} invoices already existed" if summary.invoices_already_existed else ""
        doing = "this dry run would create" if summary.dry_run else "this run created"
        return f"{doing}: {', '.join(made)}{already}"
