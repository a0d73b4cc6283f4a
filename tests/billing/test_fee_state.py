"""The high-water mark belongs to the follower and the strategy, across all their copies of it."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import FeeAssessment, FeeState, Invoice
from billing.services import billing_period_run
from copytrade.models import Strategy
from tests.billing.factories import add_trade, at, make_copy, make_provider, make_strategy, make_user, month

JUNE, JULY, AUGUST, OCTOBER = month(2026, 6), month(2026, 7), month(2026, 8), month(2026, 10)


@pytest.fixture(autouse=True)
def _ledger_only(settings):
    settings.STRIPE_API_KEY = ""


def _performance_fees(follower, *, through=None) -> Decimal:
    assessments = FeeAssessment.objects.filter(follower=follower)
    if through is not None:
        assessments = assessments.filter(period__lte=through)
    return assessments.aggregate(total=Sum("performance_fee"))["total"]


def test_stopping_and_restarting_a_copy_after_a_loss_pays_no_fee_on_the_recovery(follower, ai_strategy):
    # given: issue 19. June +1,000 at 15 %; in July -600, stop, a new copy of the same strategy, +600
    first = make_copy(follower, ai_strategy, started_at=at(2026, 5, 20), ended_at=at(2026, 7, 20))
    add_trade(first, pnl="1000", finished_at=at(2026, 6, 15))
    add_trade(first, pnl="-600", finished_at=at(2026, 7, 10))
    second = make_copy(follower, ai_strategy, started_at=at(2026, 7, 21))
    add_trade(second, pnl="600", finished_at=at(2026, 7, 25))

    # when
    billing_period_run(period=JUNE)
    billing_period_run(period=JULY)

    # then: 150.00 for June and nothing for recovering their own loss (not 150.00 + 90.00)
    june = FeeAssessment.objects.get(follower=follower, period=JUNE)
    assert june.performance_fee == Decimal("150.00")
    july = FeeAssessment.objects.get(follower=follower, period=JULY)
    assert (july.period_net_pnl, july.cumulative_pnl, july.hwm_before, july.hwm_after, july.performance_fee) == (
        Decimal("0"),
        Decimal("1000"),
        Decimal("1000"),
        Decimal("1000"),
        Decimal("0"),
    )
    assert set(july.copies.all()) == {first, second}
    assert july.copy == second
    assert _performance_fees(follower) == Decimal("150.00")
    assert Invoice.objects.get(follower=follower, period=JULY).total == Decimal("0")

    # when: August makes 100 above the mark
    add_trade(second, pnl="100", finished_at=at(2026, 8, 10))
    billing_period_run(period=AUGUST)

    # then: 15 % of the 100 above the mark, and the line says which copy it covers
    august = FeeAssessment.objects.get(follower=follower, period=AUGUST)
    assert (august.hwm_before, august.hwm_after, august.performance_fee) == (Decimal("1000"), Decimal("1100"), Decimal("15.00"))
    assert _performance_fees(follower) == Decimal("165.00")
    (line,) = Invoice.objects.get(follower=follower, period=AUGUST).lines.all()
    assert line.amount == Decimal("15.00")
    assert line.description == f"Performance fee 15.00% on {ai_strategy.name}, 2026-08; copy #{second.id} started 2026-07-21"
    state = FeeState.objects.get(follower=follower, strategy=ai_strategy)
    assert (state.cumulative_pnl, state.high_water_mark, state.period) == (Decimal("1100"), Decimal("1100"), AUGUST)


def test_billing_the_months_of_a_restarted_copy_again_changes_nothing(follower, ai_strategy):
    first = make_copy(follower, ai_strategy, started_at=at(2026, 5, 20), ended_at=at(2026, 7, 20))
    add_trade(first, pnl="1000", finished_at=at(2026, 6, 15))
    add_trade(first, pnl="-600", finished_at=at(2026, 7, 10))
    second = make_copy(follower, ai_strategy, started_at=at(2026, 7, 21))
    add_trade(second, pnl="700", finished_at=at(2026, 7, 25))
    for period in (JUNE, JULY):
        billing_period_run(period=period)
    before = (
        list(FeeAssessment.objects.order_by("id").values()),
        list(FeeState.objects.order_by("id").values()),
        list(Invoice.objects.order_by("id").values()),
    )

    for period in (JUNE, JULY):
        billing_period_run(period=period)

    after = (
        list(FeeAssessment.objects.order_by("id").values()),
        list(FeeState.objects.order_by("id").values()),
        list(Invoice.objects.order_by("id").values()),
    )
    assert after == before
    # one assessment a month for the pair; the 100 above the mark is charged once
    assert FeeAssessment.objects.filter(follower=follower).count() == 2
    assert _performance_fees(follower) == Decimal("165.00")


def test_a_gain_in_one_copy_and_a_loss_in_the_next_copy_of_the_same_month_net_out(follower, ai_strategy):
    first = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1), ended_at=at(2026, 10, 10))
    add_trade(first, pnl="600", finished_at=at(2026, 10, 5))
    second = make_copy(follower, ai_strategy, started_at=at(2026, 10, 12))
    add_trade(second, pnl="-600", finished_at=at(2026, 10, 20))

    billing_period_run(period=OCTOBER)

    (assessment,) = FeeAssessment.objects.filter(follower=follower, period=OCTOBER)
    assert (assessment.period_net_pnl, assessment.performance_fee) == (Decimal("0"), Decimal("0"))
    assert assessment.assessed_trades.count() == 2


def test_a_subscription_day_shared_by_a_stopped_and_a_restarted_copy_is_billed_once(client_for, follower):
    # given: a provider at 31.00 a month; the copy stops on 10 October at noon and a new one starts that evening
    provider_user = make_user("provider")
    make_provider(provider_user, subscription="31.00", performance_percent="20")
    strategy = make_strategy(provider_user, kind=Strategy.Kind.MANUAL)
    first = make_copy(follower, strategy, started_at=at(2026, 9, 1), ended_at=at(2026, 10, 10, hour=12))
    second = make_copy(follower, strategy, started_at=at(2026, 10, 10, hour=18))

    billing_period_run(period=OCTOBER)

    # then: 31 live days, not 32, in one line naming both copies
    (line,) = Invoice.objects.get(follower=follower, period=OCTOBER).lines.all()
    assert (line.kind, line.amount) == ("subscription", Decimal("31.00"))
    assert line.description == (
        f"Subscription to {strategy.name}, 2026-10 (31/31 days); copies #{first.id} started 2026-09-01, #{second.id} started 2026-10-10"
    )
    (listed,) = client_for(follower).get("/api/billing/invoices/").json()["results"][0]["lines"]
    assert [copy["id"] for copy in listed["copies"]] == [first.id, second.id]
    assert listed["copies"][1]["started_at"].startswith("2026-10-10T18:00:00")


def test_a_new_strategy_is_a_new_pair_with_its_own_mark(leader, follower, ai_strategy):
    # By design: the mark is per strategy, so a loss with one strategy does not credit another.
    losing = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1), ended_at=at(2026, 10, 10))
    add_trade(losing, pnl="-500", finished_at=at(2026, 10, 5))
    other_strategy = make_strategy(leader, kind=Strategy.Kind.AI, override="15")
    winning = make_copy(follower, other_strategy, started_at=at(2026, 10, 11))
    add_trade(winning, pnl="500", finished_at=at(2026, 10, 20))

    billing_period_run(period=OCTOBER)

    fees = dict(FeeAssessment.objects.filter(follower=follower).values_list("strategy_id", "performance_fee"))
    assert fees == {ai_strategy.id: Decimal("0"), other_strategy.id: Decimal("75.00")}
