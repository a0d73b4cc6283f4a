"""Assessments: per follower, strategy and month (one per terms the copies were billed), the fee basis an invoice bills."""

from datetime import date

from django.db import transaction

from billing.fees import allocate, days_in, live_days_each, performance_fee_on, period_bounds, prorated_subscription, split_above_mark
from billing.models import AssessedTrade, FeeAssessment, FeeState, Invoice
from billing.selectors import fee_pair_copies_billable
from copytrade.models import CopiedTrade, CopyRelationship, Strategy
from core.money import ZERO
from core.terms import FeeTerms
from marketplace.terms import copy_fee_terms


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
    assessment, so a pair whose terms never changed has one (README "Billing").
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
        CopiedTrade.objects.filter(relationship__in=copies, finished_at__lt=end, fee_assessment_link__isnull=True)
        .only("id", "pnl_usd", "relationship_id")
        .order_by("finished_at", "id")
    )
    period_net_pnl = sum((trade.pnl_usd for trade in trades), ZERO)
    cumulative_pnl = state.cumulative_pnl + period_net_pnl
    hwm_after = max(state.high_water_mark, cumulative_pnl)
    above_mark = max(ZERO, cumulative_pnl - state.high_water_mark)

    # Copies by the terms they are billed, in order of their first copy's start.
    days = dict(zip((copy.id for copy in copies), live_days_each(spans=[(copy.started_at, copy.ended_at) for copy in copies], period=period), strict=True))
    groups: dict[FeeTerms, list[CopyRelationship]] = {}
    for copy in copies:
        groups.setdefault(copy_fee_terms(relationship=copy, period=period), []).append(copy)
    trades_of = {terms: [trade for trade in trades if trade.relationship_id in {copy.id for copy in group}] for terms, group in groups.items()}
    # A copy's share of the new profit is in proportion to the profit it made this month; a
    # profit above the mark implies the month's net P&L, so some copy's, is above zero.
    pnl_of = {terms: sum((trade.pnl_usd for trade in trades_of[terms]), ZERO) for terms in groups}
    shares = dict(zip(groups, split_above_mark(above_mark, [max(ZERO, pnl_of[terms]) for terms in groups]), strict=True))

    strategy = Strategy.objects.get(id=strategy_id)
    first = None
    for terms, group in groups.items():
        fee = performance_fee_on(above_mark=shares[terms], rate_percent=terms.rate_percent)
        live_days = sum(days[copy.id] for copy in group)
        subscription_fee = prorated_subscription(
            monthly_fee=terms.subscription_fee_monthly, live_days=live_days, days_in_period=days_in(period)
        )
        assessment = FeeAssessment(
            # The copy of record: the group's latest copy in the month.
            relationship=group[-1],
            fee_state=state,
            follower_id=follower_id,
            strategy=strategy,
            payee_id=strategy.owner_id,
            program=terms.program,
            period=period,
            period_net_pnl=pnl_of[terms],
            cumulative_pnl=cumulative_pnl,
            hwm_before=state.high_water_mark,
            hwm_after=hwm_after,
            rate_percent=terms.rate_percent,
            payee_share=terms.payee_share,
            performance_fee=fee,
            subscription_fee_monthly=terms.subscription_fee_monthly,
            live_days=live_days,
            days_in_period=days_in(period),
            subscription_fee=subscription_fee,
            total=fee + subscription_fee,
        )
        assessment.full_clean()
        assessment.save()
        assessment.copies.set(group)
        _fee_allocate(assessment=assessment, trades=trades_of[terms])
        first = first or assessment
    state.cumulative_pnl, state.high_water_mark, state.period = cumulative_pnl, hwm_after, period
    state.full_clean()
    state.save()
    return first


def _fee_allocate(*, assessment: FeeAssessment, trades: list[CopiedTrade]) -> None:
    """The assessment's fee spread over its winning trades in proportion to their profit (a
    fee above zero implies a share of new profit, so some trade's profit, above zero)."""
    allocations = allocate(assessment.performance_fee, [max(ZERO, trade.pnl_usd) for trade in trades]) if trades else []
    AssessedTrade.objects.bulk_create(
        AssessedTrade(assessment=assessment, copied_trade_id=trade.id, pnl_usd=trade.pnl_usd, fee_allocated=allocated)
        for trade, allocated in zip(trades, allocations, strict=True)
    )
    for trade, allocated in zip(trades, allocations, strict=True):
        if allocated:
            CopiedTrade.objects.filter(id=trade.id).update(override_fee_charged=allocated)
