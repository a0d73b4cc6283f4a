"""Sizing of copied orders (ARCHITECTURE.md "Sizing"): pure functions, no database."""

from decimal import Decimal

import pytest

from copytrade import risk
from copytrade.client_order_ids import copied_trade_client_order_id, platform_close_client_order_id
from copytrade.models import CopiedTrade
from copytrade.sizing import SizingSkip, entry_notional, entry_size, exit_size, minimum_amount
from exchanges.types import MarketRules

BTC = MarketRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    type="spot",
    amount_step=Decimal("0.00001"),
    price_step=Decimal("0.01"),
    min_amount=Decimal("0.00001"),
    min_cost=Decimal("5"),
    max_amount=Decimal("9000"),
)
XRP = MarketRules(
    symbol="XRP/USDT",
    base="XRP",
    quote="USDT",
    type="spot",
    amount_step=Decimal("0.1"),
    price_step=Decimal("0.0001"),
    min_amount=Decimal("0.1"),
    min_cost=Decimal("5"),
)


def test_it_sizes_proportionally_to_copy_capital_over_leader_equity():
    notional = entry_notional(
        sizing_mode="proportional", leader_notional=Decimal("6500"), leader_equity=Decimal("100000"), copy_capital=Decimal("2500")
    )

    assert notional == Decimal("162.5")


def test_it_sizes_by_multiplier_and_by_fixed_notional():
    assert entry_notional(
        sizing_mode="multiplier",
        leader_notional=Decimal("6500"),
        leader_equity=Decimal("1"),
        copy_capital=Decimal("1"),
        multiplier=Decimal("0.02"),
    ) == Decimal("130")
    assert entry_notional(
        sizing_mode="fixed",
        leader_notional=Decimal("6500"),
        leader_equity=Decimal("1"),
        copy_capital=Decimal("1"),
        fixed_notional=Decimal("25"),
    ) == Decimal("25")


def test_it_sizes_nothing_when_the_copy_has_lost_its_capital():
    assert (
        entry_notional(
            sizing_mode="proportional", leader_notional=Decimal("6500"), leader_equity=Decimal("100000"), copy_capital=Decimal("-1")
        )
        == 0
    )


def test_it_truncates_an_entry_to_the_market_step_never_rounding_up():
    size = entry_size(side="buy", notional=Decimal("162.5"), price=Decimal("65000"), market=BTC)

    assert size.amount == Decimal("0.00250")  # 0.0025 exactly
    size = entry_size(side="buy", notional=Decimal("100"), price=Decimal("65000"), market=BTC)
    assert size.amount == Decimal("0.00153")  # 0.0015384... truncated
    assert size.notional == Decimal("0.00153") * Decimal("65000")


def test_it_skips_orders_below_exchange_minimum():
    with pytest.raises(SizingSkip) as skipped:
        entry_size(side="buy", notional=Decimal("4.99"), price=Decimal("65000"), market=BTC)

    assert skipped.value.reason == CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM
    # the share and the smallest order the market takes, for the follower's sentence
    assert Decimal(skipped.value.detail["share"]) == Decimal("4.99")
    assert Decimal(skipped.value.detail["minimum"]) == minimum_amount(market=BTC, price=Decimal("65000")) * Decimal("65000")


def test_it_rounds_up_to_the_minimum_only_when_the_copy_opted_in():
    size = entry_size(side="buy", notional=Decimal("3"), price=Decimal("65000"), market=BTC, round_up_to_minimum=True)

    assert size.rounded_up
    assert size.amount == Decimal("0.00008")  # the smallest step with a cost of at least 5 USDT
    assert size.amount * Decimal("65000") >= 5 > (size.amount - BTC.amount_step) * Decimal("65000")
    assert minimum_amount(market=XRP, price=Decimal("0.5")) == Decimal("10")


def test_it_mirrors_the_leaders_fraction_of_what_the_follower_holds():
    size = exit_size(held=Decimal("0.00253"), fraction=Decimal("0.4"), price=Decimal("67000"), market=BTC)

    assert (size.side, size.amount) == ("sell", Decimal("0.00101"))  # 0.001012 truncated


def test_a_close_sells_exactly_what_is_held_and_a_short_is_bought_back():
    assert exit_size(held=Decimal("0.00152"), fraction=Decimal("1"), price=Decimal("64000"), market=BTC).amount == Decimal("0.00152")
    short = exit_size(held=Decimal("-0.5"), fraction=Decimal("1"), price=Decimal("64000"), market=BTC)
    assert (short.side, short.amount) == ("buy", Decimal("0.5"))


def test_it_skips_an_exit_when_nothing_is_held_or_the_part_is_below_minimum():
    with pytest.raises(SizingSkip) as nothing:
        exit_size(held=Decimal("0"), fraction=Decimal("0.4"), price=Decimal("65000"), market=BTC)
    with pytest.raises(SizingSkip) as tiny:
        exit_size(held=Decimal("0.0001"), fraction=Decimal("0.4"), price=Decimal("65000"), market=BTC)

    assert nothing.value.reason == CopiedTrade.Reason.NO_POSITION
    assert tiny.value.reason == CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM


def test_the_slippage_guard_and_the_max_order_notional_clamp():
    risk.check_slippage(leader_price=Decimal("100"), current_price=Decimal("101"), max_slippage_percent=Decimal("1"))
    with pytest.raises(risk.RiskSkip) as slipped:
        risk.check_slippage(leader_price=Decimal("100"), current_price=Decimal("98.9"), max_slippage_percent=Decimal("1"))

    assert slipped.value.reason == CopiedTrade.Reason.SLIPPAGE_EXCEEDED
    assert risk.clamp_to_max_order_notional(notional=Decimal("500"), max_order_notional=Decimal("200")) == (Decimal("200"), True)
    assert risk.clamp_to_max_order_notional(notional=Decimal("150"), max_order_notional=Decimal("200")) == (Decimal("150"), False)
    assert risk.clamp_to_max_order_notional(notional=Decimal("150"), max_order_notional=None) == (Decimal("150"), False)


def test_client_order_ids_are_deterministic_and_fit_binance():
    biggest = 2**63 - 1
    first = copied_trade_client_order_id(leader_trade_id=12, copy_id=34)

    assert first == copied_trade_client_order_id(leader_trade_id=12, copy_id=34)
    assert first != copied_trade_client_order_id(leader_trade_id=1, copy_id=234)
    assert len(copied_trade_client_order_id(leader_trade_id=biggest, copy_id=biggest)) <= 36
    assert len(platform_close_client_order_id(kind=CopiedTrade.Kind.STOP_LOSS, copy_id=biggest, sequence=biggest)) <= 36
