"""The monthly and the daily run, driven one follower, invoice and payout at a time."""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum

from billing.fees import period_label
from billing.models import FeeAssessment, Invoice, Payout
from billing.selectors import (
    fee_follower_strategies_billable,
    fee_followers_billable,
    invoice_ids_unsent,
    payout_ids_ready,
)
from billing.services.assessments import fee_assessment_create
from billing.services.invoices import invoice_create, invoice_send
from billing.services.payouts import payout_pay, payouts_prepare_all
from billing.services.reconciliation import ReconciliationSummary, stripe_reconcile
from billing.stripe_gateway import stripe_gateway
from core.money import ZERO


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(stage: str, total: int) -> _NoProgress:
    return _NoProgress()


@dataclass
class BillingRunSummary:
    """What one run did, this time: counts of what it made or sent now, and apart from them
    what earlier runs had already made (a re-run of a billed month makes nothing new)."""

    period: str
    dry_run: bool
    # One assessment per follower and strategy, over all their copies of it.
    pairs_assessed: int = 0
    pairs_already_assessed: int = 0
    pairs_waiting: int = 0
    performance_fees: Decimal = ZERO
    subscription_fees: Decimal = ZERO
    invoices: int = 0
    invoices_already_existed: int = 0
    invoices_nothing_due: int = 0
    invoiced_total: Decimal = ZERO
    invoices_sent: int = 0
    invoices_already_sent: int = 0
    invoices_not_sent: int = 0
    ledger_only: bool = False
    payouts: int = 0
    payouts_already_existed: int = 0
    # Invoices of the month with something due that are still not at Stripe after this run.
    invoices_unsent: list[Invoice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def did_nothing_new(self) -> bool:
        return not (self.pairs_assessed or self.invoices or self.invoices_sent or self.payouts)


def billing_period_run(*, period: date, dry_run: bool = False, progress: Callable[[str, int], object] = _no_progress) -> BillingRunSummary:
    """Bill one month in this process: what the monthly beat run does, one follower at a time.

    The same unit beat's tasks run (billing_follower_run: the follower's assessments, its
    invoice, the send), then the month's payouts prepared, with a summary of what this run
    made. Re-running it, whole or after a crash at any point, finishes what is missing and
    changes nothing else. A dry run computes the same in a transaction it rolls back and
    calls nobody.
    """
    summary = BillingRunSummary(period=period_label(period), dry_run=dry_run, ledger_only=stripe_gateway() is None)
    assessed_before = set(FeeAssessment.objects.filter(period=period).values_list("id", flat=True))
    invoiced_before = set(Invoice.objects.filter(period=period).values_list("id", flat=True))
    sent_before = set(Invoice.objects.filter(period=period).exclude(status=Invoice.Status.DRAFT).values_list("id", flat=True))
    # A follower whose assessment exists but whose copies are no longer billable still has
    # the month's invoice to finish (a send that failed last time).
    assessed_followers = FeeAssessment.objects.filter(period=period).values_list("follower_id", flat=True)
    follower_ids = sorted(set(fee_followers_billable(period=period)) | set(assessed_followers))
    with transaction.atomic() if dry_run else nullcontext():
        bar = progress("bill", len(follower_ids))
        for follower_id in follower_ids:
            outcome = billing_follower_run(follower_id=follower_id, period=period, send=not dry_run)
            summary.pairs_waiting += outcome.pairs_waiting
            if outcome.invoice is not None:
                _summary_count_invoice(summary, outcome.invoice, invoiced_before=invoiced_before, sent_before=sent_before)
            bar.update(1)
        bar.close()
        assessed_now = (
            FeeAssessment.objects.filter(period=period)
            .exclude(id__in=assessed_before)
            .aggregate(count=Count("id"), performance=Sum("performance_fee"), subscription=Sum("subscription_fee"))
        )
        summary.pairs_assessed = assessed_now["count"]
        summary.pairs_already_assessed = len(assessed_before)
        summary.performance_fees = assessed_now["performance"] or ZERO
        summary.subscription_fees = assessed_now["subscription"] or ZERO
        if dry_run:
            transaction.set_rollback(True)
            return summary
    payouts_before = set(Payout.objects.filter(period=period).values_list("id", flat=True))
    payouts = payouts_prepare_all(period=period)
    summary.payouts = sum(payout.id not in payouts_before for payout in payouts)
    summary.payouts_already_existed = len(payouts_before)
    return summary


def _summary_count_invoice(summary: BillingRunSummary, invoice: Invoice, *, invoiced_before: set[int], sent_before: set[int]) -> None:
    if invoice.id in invoiced_before:
        summary.invoices_already_existed += 1
    else:
        summary.invoices += 1
        summary.invoiced_total += invoice.total
        summary.invoices_nothing_due += invoice.total == ZERO
    if summary.dry_run or invoice.total <= ZERO:
        return
    if invoice.status == Invoice.Status.DRAFT:
        summary.invoices_not_sent += 1
        summary.invoices_unsent.append(invoice)
        if invoice.send_error:
            summary.errors.append(f"invoice {invoice.id}: {invoice.send_error}")
    elif invoice.id in sent_before:
        summary.invoices_already_sent += 1
    else:
        summary.invoices_sent += 1


@dataclass(frozen=True)
class FollowerBillingOutcome:
    follower_id: int
    pairs_assessed: int
    pairs_waiting: int
    invoice: Invoice | None


def billing_follower_run(*, follower_id: int, period: date, send: bool = True) -> FollowerBillingOutcome:
    """Bill one follower for one month: assess each of its pairs, then its invoice, then send it.

    The unit the monthly run fans out to one task each (billing/tasks.py): the invoice is
    per follower and closes the follower's assessments for the month (a pair assessed
    after it waits for next month), so a follower's pairs and invoice go together, and
    different followers never wait for each other. Idempotent as each step is: a re-run (a
    redelivery, the next month's run) finds what exists and finishes what is missing.
    `send=False` stops before Stripe (a dry run).
    """
    assessed = waiting = 0
    for strategy_id in fee_follower_strategies_billable(follower_id=follower_id, period=period):
        if fee_assessment_create(follower_id=follower_id, strategy_id=strategy_id, period=period) is None:
            waiting += 1
        else:
            assessed += 1
    invoice = None
    if FeeAssessment.objects.filter(follower_id=follower_id, period=period).exists():
        invoice = invoice_create(follower_id=follower_id, period=period)
        if send:
            invoice = invoice_send(invoice_id=invoice.id)
    return FollowerBillingOutcome(follower_id=follower_id, pairs_assessed=assessed, pairs_waiting=waiting, invoice=invoice)


@dataclass
class PayoutRunSummary:
    invoices_sent: int = 0
    reconciliation: ReconciliationSummary | None = None  # None without Stripe
    payouts_ready: int = 0
    payouts_paid: int = 0
    payouts_awaiting_manual: int = 0
    payouts_failed: int = 0


def payouts_run() -> PayoutRunSummary:
    """The daily run in this process: what beat's daily run does, each step the service its task runs.

    Send invoices left unsent, reconcile with Stripe (invoices paid, voided or written off
    there whose webhook never came; transfers; orphan drafts), settle payouts whose invoices
    are settled, pay ready ones.
    """
    summary = PayoutRunSummary()
    for invoice_id in invoice_ids_unsent():
        summary.invoices_sent += invoice_send(invoice_id=invoice_id).status != Invoice.Status.DRAFT
    gateway = stripe_gateway()
    if gateway is not None:
        summary.reconciliation = stripe_reconcile(gateway=gateway)
    payouts_prepare_all()
    ready_ids = payout_ids_ready()
    summary.payouts_ready = len(ready_ids)
    for payout_id in ready_ids:
        status = payout_pay(payout_id=payout_id).status
        summary.payouts_paid += status == Payout.Status.PAID
        summary.payouts_awaiting_manual += status == Payout.Status.AWAITING_MANUAL
        summary.payouts_failed += status == Payout.Status.FAILED
    return summary
