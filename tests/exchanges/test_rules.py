from decimal import Decimal

import pytest

from exchanges.errors import BelowExchangeMinimumError, OrderRejectedError
from exchanges.rules import apply_order_rules, clamp_to_max_amount
from exchanges.types import MarketRules

BTC_USDT = MarketRules(
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    type="spot",
    amount_step=Decimal("0.00001"),
    price_step=Decimal("0.01"),
    min_amount=Decimal("0.00001"),
    min_cost=Decimal("5"),
    max_amount=Decimal("9000"),
    exchange_symbol="BTCUSDT",
)
PRICE = Decimal("50000")


def test_it_truncates_the_amount_to_the_step_and_never_rounds_up():
    amount, price = apply_order_rules(BTC_USDT, amount=Decimal("0.123456789"), price=None, reference_price=PRICE)

    assert amount == Decimal("0.12345")
    assert price is None


def test_it_truncates_to_a_step_that_is_not_a_power_of_ten():
    market = MarketRules(symbol="X/USDT", base="X", quote="USDT", type="spot", amount_step=Decimal("5"), price_step=Decimal("0.5"))

    amount, price = apply_order_rules(market, amount=Decimal("14.9"), price=Decimal("1.74"), reference_price=Decimal("1.7"), side="sell")

    assert amount == Decimal("10")
    assert price == Decimal("2.0")


def test_it_rounds_a_buy_limit_price_down_so_a_guard_price_never_pays_more():
    _, price = apply_order_rules(BTC_USDT, amount=Decimal("0.1"), price=Decimal("50500.019"), reference_price=PRICE, side="buy")

    assert price == Decimal("50500.01")


def test_it_rounds_a_sell_limit_price_up_so_a_guard_price_never_receives_less():
    _, price = apply_order_rules(BTC_USDT, amount=Decimal("0.1"), price=Decimal("49500.011"), reference_price=PRICE, side="sell")

    assert price == Decimal("49500.02")


def test_it_keeps_a_price_already_on_the_step():
    _, price = apply_order_rules(BTC_USDT, amount=Decimal("0.1"), price=Decimal("49500.01"), reference_price=PRICE, side="sell")

    assert price == Decimal("49500.01")


def test_it_needs_the_side_to_round_a_limit_price():
    with pytest.raises(ValueError, match="side"):
        apply_order_rules(BTC_USDT, amount=Decimal("0.1"), price=Decimal("50000"), reference_price=PRICE)


def test_it_skips_an_amount_that_truncates_below_the_minimum_amount():
    with pytest.raises(BelowExchangeMinimumError, match="Amount 0.00000 is below the BTC/USDT minimum 0.00001") as raised:
        apply_order_rules(BTC_USDT, amount=Decimal("0.000009"), price=None, reference_price=PRICE)

    assert raised.value.reason == "below_exchange_minimum"


def test_it_skips_an_order_below_the_minimum_cost_at_the_reference_price():
    # 0.00009 BTC × 50 000 = 4.5 USDT < 5 USDT: ccxt would send it and Binance would refuse.
    with pytest.raises(BelowExchangeMinimumError, match="cost 4.50000 USDT is below the BTC/USDT minimum 5"):
        apply_order_rules(BTC_USDT, amount=Decimal("0.00009"), price=None, reference_price=PRICE)


def test_it_checks_the_minimum_cost_of_a_limit_order_at_its_limit_price():
    amount, price = apply_order_rules(
        BTC_USDT, amount=Decimal("0.0001"), price=Decimal("50000"), reference_price=Decimal("40000"), side="buy"
    )

    assert (amount, price) == (Decimal("0.0001"), Decimal("50000.00"))
    with pytest.raises(BelowExchangeMinimumError):
        apply_order_rules(BTC_USDT, amount=Decimal("0.0001"), price=Decimal("40000"), reference_price=PRICE, side="buy")


def test_it_counts_the_contract_size_in_the_cost_of_a_swap():
    swap = MarketRules(
        symbol="BTC/USDT:USDT",
        base="BTC",
        quote="USDT",
        type="swap",
        amount_step=Decimal("1"),
        price_step=Decimal("0.1"),
        min_cost=Decimal("5"),
        contract_size=Decimal("0.001"),
    )

    assert apply_order_rules(swap, amount=Decimal("1"), price=None, reference_price=PRICE) == (Decimal("1"), None)
    with pytest.raises(BelowExchangeMinimumError):
        apply_order_rules(swap, amount=Decimal("1"), price=None, reference_price=Decimal("4000"))


def test_it_rejects_an_amount_above_the_market_maximum():
    with pytest.raises(OrderRejectedError, match="above the BTC/USDT maximum 9000"):
        apply_order_rules(BTC_USDT, amount=Decimal("9000.1"), price=None, reference_price=PRICE)


def test_it_clamps_an_amount_to_the_market_maximum():
    assert clamp_to_max_amount(BTC_USDT, amount=Decimal("12000")) == Decimal("9000")
    assert clamp_to_max_amount(BTC_USDT, amount=Decimal("1.5")) == Decimal("1.5")


def test_it_leaves_the_amount_alone_when_the_market_has_no_maximum():
    market = MarketRules(symbol="X/USDT", base="X", quote="USDT", type="spot", amount_step=Decimal("1"), price_step=Decimal("1"))

    assert clamp_to_max_amount(market, amount=Decimal("1e12")) == Decimal("1e12")


@pytest.mark.parametrize("bad", [Decimal("0"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), "abc", None])
def test_it_rejects_an_amount_that_is_not_a_positive_finite_number(bad):
    with pytest.raises(OrderRejectedError, match="amount"):
        apply_order_rules(BTC_USDT, amount=bad, price=None, reference_price=PRICE)


@pytest.mark.parametrize("bad", [Decimal("0"), Decimal("-50000"), Decimal("NaN"), Decimal("-Infinity")])
def test_it_rejects_a_price_that_is_not_a_positive_finite_number(bad):
    with pytest.raises(OrderRejectedError, match="price"):
        apply_order_rules(BTC_USDT, amount=Decimal("0.1"), price=bad, reference_price=PRICE, side="buy")
    with pytest.raises(OrderRejectedError, match="reference price"):
        apply_order_rules(BTC_USDT, amount=Decimal("0.1"), price=None, reference_price=bad)


def test_it_rejects_a_limit_price_below_one_price_step():
    with pytest.raises(OrderRejectedError, match="below the BTC/USDT price step"):
        apply_order_rules(BTC_USDT, amount=Decimal("100"), price=Decimal("0.001"), reference_price=PRICE, side="buy")
