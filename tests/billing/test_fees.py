"""The fee arithmetic on its own: splits, the high-water mark, proration, allocation, periods."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.fees import (
    allocate,
    live_days,
    performance_fee,
    period_parse,
    prorated_subscription,
    split_fee,
)
from core.errors import ApplicationError
from marketplace.terms import payee_share_rate

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)

cents = st.decimals(min_value=Decimal("0"), max_value=Decimal("10000000"), places=2)
pnl = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=8)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2)
shares = st.decimals(min_value=Decimal("0"), max_value=Decimal("1"), places=4)


def test_seed_000_example_splits_a_15_dollar_fee_into_6_for_the_platform_and_9_for_the_leader():
    fee = performance_fee(rate_percent=Decimal("15"), cumulative_pnl=Decimal("100"), hwm_before=Decimal("0")).fee

    assert fee == Decimal("15.00")
    assert split_fee(fee, payee_share=payee_share_rate("ai")) == (Decimal("9.00"), Decimal("6.00"))


def test_seed_001_splits_marketplace_fees_80_to_the_provider_and_20_to_the_platform():
    assert split_fee(Decimal("49.00") + Decimal("30.00"), payee_share=payee_share_rate("marketplace")) == (
        Decimal("63.20"),
        Decimal("15.80"),
    )


def test_the_split_follows_the_settings_not_a_literal(settings):
    settings.BILLING_PAYOUT_SHARES = {**settings.BILLING_PAYOUT_SHARES, "ai": {"payee": Decimal("0.70")}}

    assert split_fee(Decimal("15.00"), payee_share=payee_share_rate("ai")) == (Decimal("10.50"), Decimal("4.50"))


def test_the_high_water_mark_charges_200_0_0_60_for_monthly_pnl_1000_minus_600_400_500_at_20_percent():
    cumulative, mark, fees = Decimal("0"), Decimal("0"), []
    for month_pnl in ("1000", "-600", "400", "500"):
        cumulative += Decimal(month_pnl)
        result = performance_fee(rate_percent=Decimal("20"), cumulative_pnl=cumulative, hwm_before=mark)
        mark = result.hwm_after
        fees.append(result.fee)

    assert fees == [Decimal("200.00"), Decimal("0.00"), Decimal("0.00"), Decimal("60.00")]
    assert mark == Decimal("1300")


@given(amount=cents, share=shares)
def test_split_parts_always_sum_exactly_to_the_fee(amount, share):
    payee, platform = split_fee(amount, payee_share=share)

    assert payee + platform == amount
    assert payee >= 0 and platform >= 0
    assert payee == payee.quantize(Decimal("0.01"))


@given(rate=rates, mark=pnl, below=st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000"), places=8))
def test_there_is_no_fee_while_cumulative_pnl_is_at_or_below_the_high_water_mark(rate, mark, below):
    result = performance_fee(rate_percent=rate, cumulative_pnl=mark - below, hwm_before=mark)

    assert result.fee == 0
    assert result.hwm_after == mark


@given(rate=rates, mark=pnl, cumulative=pnl)
def test_the_fee_is_the_rate_on_the_profit_above_the_mark_and_the_mark_never_falls(rate, mark, cumulative):
    result = performance_fee(rate_percent=rate, cumulative_pnl=cumulative, hwm_before=mark)

    assert result.hwm_after == max(mark, cumulative)
    assert abs(result.fee - rate / 100 * max(Decimal(0), cumulative - mark)) <= Decimal("0.005")


@given(
    total=cents,
    weights=st.lists(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("100000"), places=8), min_size=1, max_size=30),
)
def test_a_fee_allocated_over_trades_sums_exactly_and_no_share_is_off_by_a_cent(total, weights):
    allocated = allocate(total, weights)

    assert sum(allocated) == total
    weight_sum = sum(weights)
    for share, weight in zip(allocated, weights, strict=True):
        assert share >= 0
        assert abs(share - total * weight / weight_sum) < Decimal("0.01")


def test_a_copy_live_all_month_pays_the_whole_subscription_and_a_half_month_about_half():
    october = date(2026, 10, 1)
    whole = live_days(started_at=datetime(2026, 9, 3, tzinfo=UTC), ended_at=None, period=october)
    half = live_days(started_at=datetime(2026, 10, 16, 9, tzinfo=UTC), ended_at=datetime(2026, 11, 2, tzinfo=UTC), period=october)
    ended_before = live_days(started_at=datetime(2026, 8, 1, tzinfo=UTC), ended_at=datetime(2026, 10, 1, tzinfo=UTC), period=october)

    assert (whole, half, ended_before) == (31, 16, 0)
    assert prorated_subscription(monthly_fee=Decimal("31.00"), live_days=whole, days_in_period=31) == Decimal("31.00")
    assert prorated_subscription(monthly_fee=Decimal("31.00"), live_days=half, days_in_period=31) == Decimal("16.00")


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "26-10", "2026/10", "October", "", "2026-1", "1999-12"])
def test_an_unknown_period_is_refused(value):
    with pytest.raises(ApplicationError, match="Unknown period"):
        period_parse(value, now=NOW)


@pytest.mark.parametrize("value", ["2026-11", "2026-12", "2031-01"])
def test_a_period_that_has_not_ended_is_refused(value):
    with pytest.raises(ApplicationError, match="not ended"):
        period_parse(value, now=NOW)


def test_a_past_month_is_a_period():
    assert period_parse("2026-10", now=NOW) == date(2026, 10, 1)
