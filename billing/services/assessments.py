"""Assessments: per follower, strategy and month (one per terms the copies were billed), the fee basis an invoice bills."""

from datetime import date
from decimal import Decimal

from django.db import transaction

from billing.fees import allocate, days_in, period_bounds
from billing.models import AssessedTrade, FeeAssessment, FeeState, Invoice
from billing.selectors import fee_pair_copies_billable, pair_month_fees
from copytrade.models import CopiedTrade, FundingPayment, Strategy
from core.money import ZERO


@transaction.atomic
def fee_assessment_create(*, follower_id: int, strategy_id: int, period: date) -> FeeAssessment | None:
    """The pair's assessment for the period: the stored one, or a new one. None when it must wait.

    One assessment per follower and strategy and terms: together they cover every copy of
    the strategy the follower had in the period, and every finished copied trade of those
    copies not yet covered, up to the end of the period, so a trade recorded late is billed
    the next month and never twice. The mark is the pair's: the new profit above it is the
    pair's cumulative P&L above the pair's mark. Each copy is billed the terms it was
    started on (or a change noticed to its follower and in effect by this month), for its
    own days and its own share of that profit: copies on the same terms make one
    assessment, so a pair whose terms never changed has one (docs/BILLING.md).
    """
    # The pair state's row lock serialises two runs assessing the same pair.
    state, _ = FeeState.objects.select_for_update().get_or_create(follower_id=follower_id, strategy_id=strategy_id)
    existing = FeeAssessment.objects.filter(follower_id=follower_id, strategy_id=strategy_id, period=period).order_by("id").first()
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
        CopiedTrade.objects.filter(copy__in=copies, finished_at__lt=end, fee_assessment_link__isnull=True)
        .only("id", "pnl_billing", "copy_id")
        .order_by("finished_at", "id")
    )
    pnl_by_copy: dict[int, Decimal] = {}
    for trade in trades:
        pnl_by_copy[trade.copy_id] = pnl_by_copy.get(trade.copy_id, ZERO) + trade.pnl_billing
    # Perpetuals' funding is the copies' P&L too, billed once like a trade's.
    funding = FundingPayment.objects.filter(copy__in=copies, paid_at__lt=end, billed_period__isnull=True)
    for copy_id, amount in funding.values_list("copy_id", "amount_billing"):
        pnl_by_copy[copy_id] = pnl_by_copy.get(copy_id, ZERO) + amount
    parts = pair_month_fees(
        copies=copies,
        pnl_by_copy=pnl_by_copy,
        cumulative_before=state.cumulative_pnl,
        mark_before=state.high_water_mark,
        period=period,
    )
    cumulative_pnl = state.cumulative_pnl + sum((part.period_net_pnl for part in parts), ZERO)
    hwm_after = max(state.high_water_mark, cumulative_pnl)

    strategy = Strategy.objects.get(id=strategy_id)
    first = None
    for part in parts:
        terms, group = part.terms, part.copies
        assessment = FeeAssessment(
            # The copy of record: the group's latest copy in the month.
            copy=group[-1],
            fee_state=state,
            follower_id=follower_id,
            strategy=strategy,
            payee_id=strategy.owner_id,
            program=terms.program,
            period=period,
            period_net_pnl=part.period_net_pnl,
            cumulative_pnl=cumulative_pnl,
            hwm_before=state.high_water_mark,
            hwm_after=hwm_after,
            rate_percent=terms.rate_percent,
            payee_share=terms.payee_share,
            performance_fee=part.performance_fee,
            subscription_fee_monthly=terms.subscription_fee_monthly,
            live_days=part.live_days,
            days_in_period=days_in(period),
            subscription_fee=part.subscription_fee,
            total=part.performance_fee + part.subscription_fee,
        )
        assessment.full_clean()
        assessment.save()
        assessment.copies.set(group)
        copy_ids = {copy.pk for copy in group}
        _fee_allocate(assessment=assessment, trades=[trade for trade in trades if trade.copy_id in copy_ids])
        first = first or assessment
    funding.update(billed_period=period)
    state.cumulative_pnl, state.high_water_mark, state.period = cumulative_pnl, hwm_after, period
    state.full_clean()
    state.save()
    return first


def _fee_allocate(*, assessment: FeeAssessment, trades: list[CopiedTrade]) -> None:
    """The assessment's fee spread over its winning trades in proportion to their profit (a
    fee above zero implies a share of new profit, so some trade's profit, above zero)."""
    allocations = allocate(assessment.performance_fee, [max(ZERO, trade.pnl_billing) for trade in trades]) if trades else []
    AssessedTrade.objects.bulk_create(
        AssessedTrade(assessment=assessment, copied_trade_id=trade.id, pnl_billing=trade.pnl_billing, fee_allocated=allocated)
        for trade, allocated in zip(trades, allocations, strict=True)
    )
    for trade, allocated in zip(trades, allocations, strict=True):
        if allocated:
            CopiedTrade.objects.filter(id=trade.id).update(override_fee_charged=allocated)
