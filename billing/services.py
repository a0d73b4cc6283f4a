"""Writes for billing: assess → invoice → send, Stripe webhook events, payouts.

Every step is idempotent and can be re-run after a crash at any point: an assessment is
unique per (copy, month), an invoice per (follower, month), a payout per (payee, month),
a Stripe event by its id; Stripe calls carry idempotency keys from our ids and the ids
Stripe returns are stored as soon as we have them. Network calls are made outside
transactions; the row they belong to is re-read and changed with a conditional update.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from billing.errors import PaymentProviderError
from billing.fees import (
    allocate,
    days_in,
    live_days_of_copies,
    performance_fee,
    period_bounds,
    period_label,
    prorated_subscription,
    split_fee,
)
from billing.models import AssessedTrade, BillingAccount, FeeAssessment, FeeState, Invoice, InvoiceLine, Payout, StripeEvent
from billing.selectors import fee_follower_strategies_billable, fee_pair_copies_billable, fee_pairs_billable
from billing.stripe_gateway import stripe_gateway, to_cents
from copytrade.models import CopiedTrade, CopyRelationship, Strategy
from core.errors import ApplicationError, NotFoundError
from core.locks import user_row_lock
from core.models import Notification
from core.money import ZERO, format_money
from core.notifications import notification_send
from marketplace.terms import copy_fee_terms

logger = logging.getLogger(__name__)

TX_HASH = re.compile(r"[A-Za-z0-9]{16,200}")


# --- assessments -------------------------------------------------------------------------


@transaction.atomic
def fee_assessment_create(*, follower_id: int, strategy_id: int, period: date) -> FeeAssessment | None:
    """The pair's assessment for the period: the stored one, or a new one. None when it must wait.

    One assessment per follower and strategy: it covers every copy of the strategy the
    follower had in the period, and every finished copied trade of those copies not yet
    covered, up to the end of the period, so a trade recorded late is billed the next month
    and never twice. Its performance fee is on the pair's cumulative P&L above the pair's mark.
    """
    # The pair state's row lock serialises two runs assessing the same pair.
    state, _ = FeeState.objects.select_for_update().get_or_create(follower_id=follower_id, strategy_id=strategy_id)
    existing = FeeAssessment.objects.filter(follower_id=follower_id, strategy_id=strategy_id, period=period).order_by("id").last()
    if existing is not None:
        return existing
    if state.period is not None and state.period > period:
        # A later month is already assessed on top of this one's mark: history stays as billed.
        return None
    if Invoice.objects.filter(follower_id=follower_id, period=period).exists():
        # The follower's invoice for the month is out; these trades count next month.
        return None
    copies = fee_pair_copies_billable(follower_id=follower_id, strategy_id=strategy_id, period=period)
    if not copies:
        return None

    _, end = period_bounds(period)
    trades = list(
        CopiedTrade.objects.filter(relationship__in=copies, finished_at__lt=end, fee_assessment_link__isnull=True)
        .only("id", "pnl_usd")
        .order_by("finished_at", "id")
    )
    period_net_pnl = sum((trade.pnl_usd for trade in trades), ZERO)
    strategy = Strategy.objects.get(id=strategy_id)
    # The terms recorded on the copy of record (the pair's latest copy in the month): what its
    # follower consented to, or a change noticed to them that is in effect by this month.
    terms = copy_fee_terms(relationship=copies[-1], period=period)
    fee = performance_fee(
        rate_percent=terms.rate_percent, cumulative_pnl=state.cumulative_pnl + period_net_pnl, hwm_before=state.high_water_mark
    )
    days = live_days_of_copies(spans=[(copy.started_at, copy.ended_at) for copy in copies], period=period)
    subscription_fee = prorated_subscription(
        monthly_fee=terms.subscription_fee_monthly, live_days=days, days_in_period=days_in(period)
    )
    assessment = FeeAssessment(
        relationship=copies[-1],
        fee_state=state,
        follower_id=follower_id,
        strategy=strategy,
        payee_id=strategy.owner_id,
        program=terms.program,
        period=period,
        period_net_pnl=period_net_pnl,
        cumulative_pnl=fee.cumulative_pnl,
        hwm_before=state.high_water_mark,
        hwm_after=fee.hwm_after,
        rate_percent=terms.rate_percent,
        payee_share=terms.payee_share,
        performance_fee=fee.fee,
        subscription_fee_monthly=terms.subscription_fee_monthly,
        live_days=days,
        days_in_period=days_in(period),
        subscription_fee=subscription_fee,
        total=fee.fee + subscription_fee,
    )
    assessment.full_clean()
    assessment.save()
    assessment.copies.set(copies)
    state.cumulative_pnl, state.high_water_mark, state.period = fee.cumulative_pnl, fee.hwm_after, period
    state.full_clean()
    state.save()

    # The fee is spread over the period's winning trades in proportion to their profit;
    # a fee above zero implies the period's net P&L, so some trade's, is above zero.
    allocations = allocate(fee.fee, [max(ZERO, trade.pnl_usd) for trade in trades]) if trades else []
    AssessedTrade.objects.bulk_create(
        AssessedTrade(assessment=assessment, copied_trade_id=trade.id, pnl_usd=trade.pnl_usd, fee_allocated=allocated)
        for trade, allocated in zip(trades, allocations, strict=True)
    )
    for trade, allocated in zip(trades, allocations, strict=True):
        if allocated:
            CopiedTrade.objects.filter(id=trade.id).update(override_fee_charged=allocated)
    return assessment


# --- invoices ----------------------------------------------------------------------------


DESCRIPTION_MAX = InvoiceLine._meta.get_field("description").max_length


def _described(text: str, copies: list[CopyRelationship]) -> str:
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
            lines = [
                (line.id, to_cents(line.amount), invoice.currency, line.description)
                for line in invoice.lines.order_by("id")
            ]
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
        user=invoice.follower, kind=kind, title=f"Your {period} invoice: {amount}",
        body="Stripe collects it from your payment method. Each line and its basis are on your invoices page.",
    )  # fmt: skip


def _mark_fees_paid(*, invoice: Invoice, paid_at: datetime) -> None:
    """seed 000 `fee_paid_at`: the copied trades whose fee this invoice charged are paid."""
    CopiedTrade.objects.filter(
        fee_assessment_link__assessment__invoice_lines__invoice=invoice,
        override_fee_charged__gt=0,
        fee_paid_at__isnull=True,
    ).update(fee_paid_at=paid_at)


# --- the monthly run ---------------------------------------------------------------------


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
    errors: list[str] = field(default_factory=list)

    @property
    def did_nothing_new(self) -> bool:
        return not (self.pairs_assessed or self.invoices or self.invoices_sent or self.payouts)


def billing_period_run(
    *, period: date, dry_run: bool = False, progress: Callable[[str, int], object] = _no_progress
) -> BillingRunSummary:
    """Bill one month: assess every copy → one invoice per follower → send → prepare payouts.

    Re-running it, whole or after a crash at any point, finishes what is missing and
    changes nothing else. A dry run computes the same in a transaction it rolls back
    and calls nobody.
    """
    summary = BillingRunSummary(period=period_label(period), dry_run=dry_run, ledger_only=stripe_gateway() is None)
    if dry_run:
        with transaction.atomic():
            _assess_and_invoice(period=period, summary=summary, progress=progress)
            transaction.set_rollback(True)
        return summary
    invoice_ids = _assess_and_invoice(period=period, summary=summary, progress=progress)
    bar = progress("send", len(invoice_ids))
    for invoice_id in invoice_ids:
        was_draft = Invoice.objects.filter(id=invoice_id, status=Invoice.Status.DRAFT).exists()
        invoice = invoice_send(invoice_id=invoice_id)
        if invoice.total > ZERO:
            if invoice.status == Invoice.Status.DRAFT:
                summary.invoices_not_sent += 1
                if invoice.send_error:
                    summary.errors.append(f"invoice {invoice.id}: {invoice.send_error}")
            elif was_draft:
                summary.invoices_sent += 1
            else:
                summary.invoices_already_sent += 1
        bar.update(1)
    bar.close()
    payouts_before = set(Payout.objects.filter(period=period).values_list("id", flat=True))
    payouts = payouts_prepare_all(period=period)
    summary.payouts = sum(payout.id not in payouts_before for payout in payouts)
    summary.payouts_already_existed = len(payouts_before)
    return summary


def _assess_and_invoice(*, period: date, summary: BillingRunSummary, progress) -> list[int]:
    assessed_before = set(FeeAssessment.objects.filter(period=period).values_list("id", flat=True))
    pairs = fee_pairs_billable(period=period)
    bar = progress("assess", len(pairs))
    for follower_id, strategy_id in pairs:
        if fee_assessment_create(follower_id=follower_id, strategy_id=strategy_id, period=period) is None:
            summary.pairs_waiting += 1
        bar.update(1)
    bar.close()
    assessed_now = FeeAssessment.objects.filter(period=period).exclude(id__in=assessed_before).aggregate(
        count=Count("id"), performance=Sum("performance_fee"), subscription=Sum("subscription_fee")
    )
    summary.pairs_assessed = assessed_now["count"]
    summary.pairs_already_assessed = len(assessed_before)
    summary.performance_fees = assessed_now["performance"] or ZERO
    summary.subscription_fees = assessed_now["subscription"] or ZERO

    follower_ids = list(
        FeeAssessment.objects.filter(period=period).values_list("follower_id", flat=True).distinct().order_by("follower_id")
    )
    invoiced_before = set(Invoice.objects.filter(period=period).values_list("id", flat=True))
    bar = progress("invoice", len(follower_ids))
    invoice_ids = []
    for follower_id in follower_ids:
        invoice = invoice_create(follower_id=follower_id, period=period)
        invoice_ids.append(invoice.id)
        if invoice.id in invoiced_before:
            summary.invoices_already_existed += 1
        else:
            summary.invoices += 1
            summary.invoiced_total += invoice.total
            summary.invoices_nothing_due += invoice.total == ZERO
        bar.update(1)
    bar.close()
    return invoice_ids


@dataclass(frozen=True)
class FollowerBillingOutcome:
    follower_id: int
    pairs_assessed: int
    pairs_waiting: int
    invoice: Invoice | None


def billing_follower_run(*, follower_id: int, period: date) -> FollowerBillingOutcome:
    """Bill one follower for one month: assess each of its pairs, then its invoice, then send it.

    The unit the monthly run fans out to one task each (billing/tasks.py): the invoice is
    per follower and closes the follower's assessments for the month (a pair assessed
    after it waits for next month), so a follower's pairs and invoice go together, and
    different followers never wait for each other. Idempotent as each step is: a re-run (a
    redelivery, the next month's run) finds what exists and finishes what is missing.
    """
    assessed = waiting = 0
    for strategy_id in fee_follower_strategies_billable(follower_id=follower_id, period=period):
        if fee_assessment_create(follower_id=follower_id, strategy_id=strategy_id, period=period) is None:
            waiting += 1
        else:
            assessed += 1
    invoice = None
    if FeeAssessment.objects.filter(follower_id=follower_id, period=period).exists():
        invoice = invoice_send(invoice_id=invoice_create(follower_id=follower_id, period=period).id)
    return FollowerBillingOutcome(follower_id=follower_id, pairs_assessed=assessed, pairs_waiting=waiting, invoice=invoice)


# --- Stripe webhook ----------------------------------------------------------------------


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
    if obj.get("object") != "invoice":
        return None
    if not isinstance(obj.get("id", ""), str) or len(obj.get("id", "")) > STRIPE_ID_MAX_LENGTH:
        return f"the invoice id must be a string of at most {STRIPE_ID_MAX_LENGTH} characters"
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata must be an object"
    if isinstance(metadata, dict) and not isinstance(metadata.get("invoice_id", ""), str | int):
        return "metadata.invoice_id must be a string"
    transitions = obj.get("status_transitions")
    if transitions is not None and not isinstance(transitions, dict):
        return "status_transitions must be an object"
    for name, stamp in (transitions or {}).items():
        if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp <= MAX_UNIX_SECONDS):
            return f"status_transitions.{str(name)[:40]} must be unix seconds"
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
    our_id = (obj.get("metadata") or {}).get("invoice_id", "")
    if not str(our_id).isdigit():
        return None
    invoice = Invoice.objects.select_for_update().filter(id=int(our_id), stripe_invoice_id__in=["", stripe_invoice_id]).first()
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


EVENT_HANDLERS = {
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_failed": _on_invoice_payment_failed,
    "invoice.voided": _on_invoice_voided,
    "invoice.marked_uncollectible": _on_invoice_uncollectible,
}


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
    handler = EVENT_HANDLERS.get(event_type)
    obj = event["data"]["object"]
    if handler is None or obj.get("object") != "invoice":
        return True
    invoice = _invoice_for_event(obj)
    if invoice is None:
        logger.warning("Stripe event %s (%s) names no invoice of ours", event_id, event_type)
        return True
    handler(invoice, obj, timezone.now())
    return True


# --- payouts -----------------------------------------------------------------------------


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
        Payout.objects.filter(id=payout.id, status=Payout.Status.READY).update(
            status=Payout.Status.AWAITING_MANUAL, updated_at=now
        )
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
            _notify_payout_paid(payout)
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
    payout.status = Payout.Status.PAID
    payout.tx_hash = tx_hash
    payout.paid_at = timezone.now()
    payout.full_clean()
    payout.save()
    _notify_payout_paid(payout)
    return payout


def _notify_payout_paid(payout: Payout) -> None:
    notification_send(
        user=payout.payee,
        kind=Notification.Kind.PAYOUT,
        title=f"Your {period_label(payout.period)} payout of {format_money(payout.payee_amount, payout.currency)} was paid",
    )


@dataclass
class PayoutRunSummary:
    invoices_sent: int = 0
    payouts_ready: int = 0
    payouts_paid: int = 0
    payouts_awaiting_manual: int = 0
    payouts_failed: int = 0


def payouts_run() -> PayoutRunSummary:
    """The daily run: send invoices left unsent, settle payouts whose invoices are settled, pay ready ones."""
    summary = PayoutRunSummary()
    for invoice_id in Invoice.objects.filter(status=Invoice.Status.DRAFT, total__gt=0).order_by("id").values_list("id", flat=True):
        summary.invoices_sent += invoice_send(invoice_id=invoice_id).status != Invoice.Status.DRAFT
    payouts_prepare_all()
    ready_ids = list(Payout.objects.filter(status=Payout.Status.READY).order_by("id").values_list("id", flat=True))
    summary.payouts_ready = len(ready_ids)
    for payout_id in ready_ids:
        status = payout_pay(payout_id=payout_id).status
        summary.payouts_paid += status == Payout.Status.PAID
        summary.payouts_awaiting_manual += status == Payout.Status.AWAITING_MANUAL
        summary.payouts_failed += status == Payout.Status.FAILED
    return summary

