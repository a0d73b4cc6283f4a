"""CcxtGateway driving ccxt's real `bybit` class against the simulator's Bybit v5 side: the
same three error kinds and the same look-up by client order id (Bybit's orderLinkId) as on
Binance, from Bybit's own codes and answers."""

from decimal import Decimal

import ccxt
import pytest

from exchanges.errors import (
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidCredentialsError,
    OrderNotFoundError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownOutcomeError,
    UnknownSymbolError,
)
from exchanges.gateways import gateway_for_account
from exchanges.gateways.ccxt_gateway import CcxtGateway, map_ccxt_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(simulated_bybit_account) -> CcxtGateway:
    return gateway_for_account(simulated_bybit_account)


@pytest.fixture
def fast_timeout(settings):
    settings.EXCHANGE_TIMEOUT_MS = 300


def _buy(gateway, client_order_id, amount="0.001", **order):
    return gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal(amount), client_order_id=client_order_id, **order)


def test_it_loads_bybits_markets_with_their_own_steps_and_minimums(gateway):
    btc = gateway.market("BTCUSDT")
    assert (btc.symbol, btc.amount_step, btc.min_amount, btc.min_cost, btc.price_step) == (
        "BTC/USDT",
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("5"),
        Decimal("0.1"),
    )
    assert "BNB/USDT" not in gateway.markets()


def test_it_reads_the_unified_wallet_balance(gateway):
    assert gateway.balance()["USDT"].free == Decimal("10000")


def test_it_places_a_market_order_and_reads_its_fill_back_by_order_link_id(simulated_bybit, gateway):
    # Bybit answers a create with ids only; the fill is read back by orderLinkId.
    result = _buy(gateway, "by-1", amount="0.00076")  # truncated to Bybit's 0.0001 step, not Binance's 0.00001

    assert (result.status, result.amount, result.filled, result.average_price) == (
        "closed",
        Decimal("0.0007"),
        Decimal("0.0007"),
        Decimal("65000"),
    )
    assert (result.cost, result.fee, result.fee_currency, result.client_order_id) == (
        Decimal("45.5"),
        Decimal("0.0455"),
        "USDT",
        "by-1",
    )
    assert simulated_bybit.order_counts() == {"by-1": 1}


def test_it_finds_an_order_by_order_link_id_and_maps_an_unknown_one_to_not_found(gateway):
    _buy(gateway, "by-2")
    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="by-2").is_fully_filled
    with pytest.raises(OrderNotFoundError):
        gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="never-sent")


def test_it_cancels_a_resting_order_by_order_link_id(gateway):
    placed = gateway.create_order(
        symbol="BTC/USDT", side="buy", amount=Decimal("0.001"), client_order_id="by-3", type="limit", price=Decimal("60000")
    )
    assert placed.status == "open"
    assert gateway.cancel_order(symbol="BTC/USDT", client_order_id="by-3").status == "canceled"


def test_it_lists_fills_with_their_order_link_ids(gateway):
    _buy(gateway, "by-4")
    [trade] = gateway.fetch_my_trades(symbol="BTC/USDT")
    assert (trade.client_order_id, trade.amount, trade.fee) == ("by-4", Decimal("0.001"), Decimal("0.065"))


def test_it_maps_a_reused_order_link_id_to_duplicate_even_after_the_fill(gateway):
    _buy(gateway, "by-5")
    with pytest.raises(DuplicateClientOrderIdError):
        _buy(gateway, "by-5")


def test_it_maps_170131_insufficient_balance_to_insufficient_funds(gateway):
    with pytest.raises(InsufficientFundsError):
        _buy(gateway, "by-6", amount="1")


def test_it_maps_10006_to_rate_limited_with_the_wait_until_the_window_resets(simulated_bybit, gateway):
    gateway.ticker_price("BTC/USDT")
    simulated_bybit.set_faults(queue=["429"], match=["POST /v5/order/create"], retry_after_s=3)

    with pytest.raises(RateLimitedError) as caught:
        _buy(gateway, "by-7")

    assert 1.5 < caught.value.retry_after <= 3
    assert simulated_bybit.orders() == []


def test_it_maps_its_own_per_uid_order_limit_to_rate_limited(simulated_bybit, gateway):
    simulated_bybit.set_order_limit(per_second=1)
    try:
        _buy(gateway, "by-8")
        with pytest.raises(RateLimitedError):
            _buy(gateway, "by-9")
    finally:
        simulated_bybit.set_order_limit(per_second=20)


def test_it_maps_403_ip_limit_to_rate_limited(simulated_bybit, gateway):
    gateway.markets()
    simulated_bybit.set_faults(queue=["418"], match=["GET /v5/account/wallet-balance"])
    with pytest.raises(RateLimitedError):
        gateway.balance()


@pytest.mark.parametrize("status", ["502", "503"])
def test_it_maps_5xx_on_order_placement_to_unknown_outcome_and_on_a_read_to_transient(simulated_bybit, gateway, status):
    gateway.ticker_price("BTC/USDT")
    simulated_bybit.set_faults(queue=[status, status], match=["POST /v5/order/create", "GET /v5/account/wallet-balance"])

    with pytest.raises(UnknownOutcomeError):
        _buy(gateway, "by-10")
    with pytest.raises(TransientExchangeError) as caught:
        gateway.balance()
    assert not isinstance(caught.value, UnknownOutcomeError)


@pytest.mark.parametrize("timeout_mode", ["delay", "drop"])
def test_it_maps_a_timeout_after_accept_to_unknown_outcome_and_then_finds_the_order(fast_timeout, simulated_bybit, gateway, timeout_mode):
    simulated_bybit.set_faults(
        queue=["timeout_after_accept"], match=["POST /v5/order/create"], timeout_mode=timeout_mode, timeout_delay_ms=2000
    )

    with pytest.raises(UnknownOutcomeError):
        _buy(gateway, "by-11")

    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="by-11").is_fully_filled
    assert simulated_bybit.order_counts() == {"by-11": 1}


def test_a_failed_read_back_after_the_order_was_taken_is_an_unknown_outcome(simulated_bybit, gateway):
    gateway.ticker_price("BTC/USDT")
    simulated_bybit.set_faults(queue=["503"], match=["GET /v5/order/realtime"])

    with pytest.raises(UnknownOutcomeError):
        _buy(gateway, "by-12")

    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="by-12").is_fully_filled


def test_it_maps_an_unknown_key_to_invalid_credentials(simulated_bybit_account):
    simulated_bybit_account.api_key = "not-a-bybit-key"
    with pytest.raises(InvalidCredentialsError):
        gateway_for_account(simulated_bybit_account).balance()


@pytest.mark.parametrize(
    ("error", "may_have_executed", "kind"),
    [
        (ccxt.BadRequest('bybit {"retCode":10001,"retMsg":"params error"}'), True, PermanentExchangeError),
        (ccxt.RateLimitExceeded('bybit {"retCode":10006,"retMsg":"Too many visits!"}'), True, RateLimitedError),
        (ccxt.InsufficientFunds('bybit {"retCode":110007,"retMsg":"ab not enough for new order"}'), True, InsufficientFundsError),
        (ccxt.InvalidOrder('bybit {"retCode":110072,"retMsg":"OrderLinkedID is duplicate"}'), True, DuplicateClientOrderIdError),
        (ccxt.InvalidOrder('bybit {"retCode":170121,"retMsg":"Invalid symbol."}'), True, UnknownSymbolError),
        (ccxt.ExchangeError('bybit {"retCode":10016,"retMsg":"System error."}'), True, UnknownOutcomeError),
        (ccxt.ExchangeError('bybit {"retCode":10016,"retMsg":"System error."}'), False, TransientExchangeError),
    ],
)
def test_bybits_codes_map_to_our_three_kinds(error, may_have_executed, kind):
    mapped = map_ccxt_error(error, may_have_executed=may_have_executed, exchange_id="bybit")
    assert type(mapped) is kind


# --- linear perpetuals ----------------------------------------------------------------


def test_it_resolves_bybits_perpetual_by_its_unified_symbol_with_bybits_steps(gateway):
    perpetual = gateway.market("BTC/USDT:USDT")
    assert (perpetual.type, perpetual.amount_step, perpetual.min_cost, perpetual.contract_size, perpetual.exchange_symbol) == (
        "swap",
        Decimal("0.001"),
        Decimal("5"),
        Decimal("1"),
        "BTCUSDT",
    )
    assert gateway.market("BTCUSDT").symbol == "BTC/USDT"  # the exchange id alone still means spot


def test_it_opens_and_reduce_only_closes_a_perpetual_and_looks_it_up_by_order_link_id(simulated_bybit, gateway):
    opened = gateway.create_order(symbol="BTC/USDT:USDT", side="buy", amount=Decimal("0.0105"), client_order_id="lin-g1")
    assert (opened.status, opened.filled, opened.fee) == ("closed", Decimal("0.01"), Decimal("0.65"))

    closed = gateway.create_order(symbol="BTC/USDT:USDT", side="sell", amount=Decimal("0.01"), client_order_id="lin-g2", reduce_only=True)
    assert (closed.side, closed.filled) == ("sell", Decimal("0.01"))
    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT:USDT", client_order_id="lin-g1").is_fully_filled
    with pytest.raises(OrderNotFoundError):
        gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="lin-g1")  # a spot look-up does not see it
    assert simulated_bybit.order_counts() == {"lin-g1": 1, "lin-g2": 1}


def test_an_order_taken_but_not_yet_listed_reads_as_working_so_the_engine_looks_again(gateway, monkeypatch):
    gateway.ticker_price("BTC/USDT")

    def not_listed_yet(**lookup):
        raise OrderNotFoundError()

    monkeypatch.setattr(gateway, "fetch_order_by_client_id", not_listed_yet)
    result = _buy(gateway, "by-13")
    monkeypatch.undo()

    assert (result.status, result.amount, result.filled, result.client_order_id) == ("open", Decimal("0.001"), Decimal("0"), "by-13")
    assert gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="by-13").is_fully_filled
