"""Assessments: one per follower and strategy and month, the fee basis an invoice bills."""

from datetime import date

from django.db import transaction

from billing.fees import allocate, days_in, live_days_of_copies, performance_fee, period_bounds, prorated_subscription
from billing.models import AssessedTrade, FeeAssessment, FeeState, Invoice
from billing.selectors import fee_pair_copies_billable
from copytrade.models import CopiedTrade, Strategy
from core.money import ZERO
from marketplace.terms import copy_fee_terms


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
