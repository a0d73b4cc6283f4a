"""USDⓈ-M perpetuals over the wire: CcxtGateway drives ccxt's real `binance` class against the
simulator's `/fapi/` endpoints (devtools/simulator/futures.py)."""

from decimal import Decimal

import pytest

from exchanges.errors import InsufficientFundsError, OrderRejectedError, UnknownOutcomeError
from exchanges.gateways import gateway_for_account

pytestmark = pytest.mark.django_db

PERP = "BTC/USDT:USDT"


@pytest.fixture
def gateway(simulated_binance, simulated_binance_account):
    simulated_binance.set_futures_wallet(api_key=simulated_binance_account.api_key, usdt="1000")
    return gateway_for_account(simulated_binance_account)


def _order(gateway, client_order_id, *, side="buy", amount="0.01", reduce_only=False):
    return gateway.create_order(symbol=PERP, side=side, amount=Decimal(amount), client_order_id=client_order_id, reduce_only=reduce_only)


def test_it_lists_the_perpetual_beside_spot_with_its_maintenance_margin_rate(gateway):
    perp = gateway.market(PERP)
    assert (perp.type, perp.contract_size, perp.amount_step, perp.min_cost) == ("swap", Decimal(1), Decimal("0.001"), Decimal(100))
    assert perp.maintenance_margin_rate == Decimal("0.004")
    assert gateway.market("BTCUSDT").symbol == "BTC/USDT"  # a bare id still means spot
    assert gateway.ticker_price(PERP) == Decimal("65000")


def test_it_sets_one_way_mode_margin_mode_and_leverage_and_setting_them_again_is_no_error(gateway, simulated_binance):
    gateway.perpetual_settings_apply(symbol=PERP, leverage=3, margin_mode="isolated")
    gateway.perpetual_settings_apply(symbol=PERP, leverage=3, margin_mode="isolated")

    position = simulated_binance.futures_account(api_key=gateway._credentials[0])["positions"]["BTCUSDT"]
    assert (position["leverage"], position["margin_type"]) == (3, "isolated")


def test_an_entry_fills_from_margin_and_is_found_by_its_client_order_id(gateway):
    gateway.perpetual_settings_apply(symbol=PERP, leverage=3, margin_mode="isolated")

    placed = _order(gateway, "perp-entry-1")

    assert (placed.status, placed.filled, placed.average_price, placed.fee) == ("closed", Decimal("0.01"), Decimal(65000), Decimal("0.26"))
    assert gateway.fetch_order_by_client_id(symbol=PERP, client_order_id="perp-entry-1").filled == Decimal("0.01")
    assert gateway.perpetual_free_margin() == Decimal("783.07333333")  # 1,000 − 0.26 fee − 650 / 3 margin
    [position] = gateway.perpetual_positions(symbols=[PERP])
    assert (position.quantity, position.entry_price, position.leverage, position.margin_mode) == (Decimal("0.01"), 65000, 3, "isolated")
    # Binance's one-position formula: entry × (1 − 1/leverage) / (1 − maintenance rate).
    assert position.liquidation_price == pytest.approx(Decimal(65000) * (1 - Decimal(1) / 3) / (1 - Decimal("0.004")), rel=Decimal("1e-6"))


def test_a_reduce_only_order_that_would_open_is_refused_and_one_that_closes_is_filled(gateway):
    with pytest.raises(OrderRejectedError):
        _order(gateway, "perp-ro-open", reduce_only=True)
    _order(gateway, "perp-open")

    closed = _order(gateway, "perp-ro-close", side="sell", reduce_only=True)

    assert closed.filled == Decimal("0.01")
    assert gateway.perpetual_positions() == []


def test_an_entry_beyond_free_margin_is_refused_as_insufficient_funds(gateway):
    gateway.perpetual_settings_apply(symbol=PERP, leverage=2, margin_mode="cross")

    with pytest.raises(InsufficientFundsError):
        _order(gateway, "perp-too-big", amount="0.05")  # 3,250 USDT at 2× needs 1,625 of margin


def test_funding_paid_is_read_back_once_per_settlement(gateway, simulated_binance):
    _order(gateway, "perp-long")
    simulated_binance.set_funding_rate(symbol=PERP, rate="0.0002")
    simulated_binance.set_mark_price(symbol=PERP, price="66000")

    [paid] = simulated_binance.pay_funding(symbol="BTCUSDT")

    [payment] = gateway.funding_payments(symbol=PERP)
    assert (payment.amount, payment.currency, payment.payment_id) == (Decimal("-0.132"), "USDT", str(paid["tranId"]))


def test_an_order_whose_answer_is_lost_is_an_unknown_outcome_and_then_found(gateway, simulated_binance, settings):
    simulated_binance.set_faults(queue=["timeout_after_accept"], match=["POST /fapi/v1/order"], timeout_mode="drop")

    with pytest.raises(UnknownOutcomeError):
        _order(gateway, "perp-lost")

    assert gateway.fetch_order_by_client_id(symbol=PERP, client_order_id="perp-lost").filled == Decimal("0.01")
    assert simulated_binance.order_counts()["perp-lost"] == 1


def test_a_perpetuals_candles_are_drawn_from_its_last_prices(gateway, simulated_binance):
    simulated_binance.set_futures_prices(prices={PERP: "65500"})
    simulated_binance.set_futures_prices(prices={PERP: "64800"})

    candles = gateway.fetch_ohlcv(symbol=PERP, timeframe="1m", limit=2)  # two: a minute may turn between the ticks

    assert max(candle[2] for candle in candles) == Decimal(65500)
    assert min(candle[3] for candle in candles) == Decimal(64800) == candles[-1][4]
