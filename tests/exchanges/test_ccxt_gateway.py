"""CcxtGateway driving ccxt's real `binance` class against the loopback simulator over HTTP."""

import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings

from devtools.simulator.client import SimulatorClient
from devtools.simulator.server import start_simulator_thread
from exchanges.errors import (
    BelowExchangeMinimumError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    InvalidCredentialsError,
    OrderNotFoundError,
    OrderRejectedError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownOutcomeError,
    UnknownSymbolError,
)
from exchanges.gateways import ccxt_gateway, gateway_for_account
from exchanges.gateways.ccxt_gateway import CcxtGateway, build_client, clear_caches
from exchanges.models import ExchangeAccount
from tests.fixtures.simulator import SIMULATED_USDT

pytestmark = pytest.mark.django_db

HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def gateway(simulated_binance_account) -> CcxtGateway:
    return gateway_for_account(simulated_binance_account)


@pytest.fixture
def fast_timeout(settings):
    """Ask for it before `gateway`: a client keeps the timeout it was built with."""
    settings.EXCHANGE_TIMEOUT_MS = 300


def _buy(gateway, client_order_id, **order):
    return gateway.create_order(
        **{"symbol": "BTC/USDT", "side": "buy", "amount": Decimal("0.001"), "client_order_id": client_order_id, **order}
    )


# --- client ---------------------------------------------------------------------------


def test_it_rebases_every_api_url_onto_the_override_keeping_the_path(settings):
    settings.EXCHANGE_URL_OVERRIDES = {"binance": "http://127.0.0.1:8765"}

    client = build_client("binance", api_key="k", secret="s")

    assert client.urls["api"]["public"] == "http://127.0.0.1:8765/api/v3"
    assert client.urls["api"]["sapi"] == "http://127.0.0.1:8765/sapi/v1"
    assert client.urls["test"]["private"] == "http://127.0.0.1:8765/api/v3"
    assert all(url.startswith("http://127.0.0.1:8765/") for url in client.urls["api"].values())
    assert client.enableRateLimit is False
    assert client.timeout == settings.EXCHANGE_TIMEOUT_MS


def test_it_keeps_the_exchange_urls_without_an_override(settings):
    settings.EXCHANGE_URL_OVERRIDES = {}

    client = build_client("binance")

    assert client.urls["api"]["public"] == "https://api.binance.com/api/v3"


def test_it_refuses_an_exchange_ccxt_does_not_know():
    with pytest.raises(PermanentExchangeError) as caught:
        build_client("nosuchexchange")

    assert caught.value.reason == "unknown_exchange"


def test_accounts_share_one_client_per_thread_and_each_call_signs_as_its_own_account(simulated_binance, simulated_binance_account):
    other_credentials = simulated_binance.create_account(balances={"USDT": "777"})
    other = ExchangeAccount.objects.create(
        owner=simulated_binance_account.owner,
        exchange_id="binance",
        label="other",
        api_key=other_credentials["api_key"],
        api_secret=other_credentials["api_secret"],
    )
    first, second = CcxtGateway.for_account(simulated_binance_account), CcxtGateway.for_account(other)

    # interleaved: each call must carry its own account's key, whatever ran before it
    balances = [first.balance()["USDT"].total, second.balance()["USDT"].total, first.balance()["USDT"].total]

    assert first._slot.client is second._slot.client
    assert balances == [Decimal(SIMULATED_USDT), Decimal("777"), Decimal(SIMULATED_USDT)]


def test_each_thread_has_its_own_client(simulated_binance_account):
    here = CcxtGateway.for_account(simulated_binance_account)
    elsewhere = {}
    thread = threading.Thread(target=lambda: elsewhere.setdefault("gateway", CcxtGateway.for_account(simulated_binance_account)))
    thread.start()
    thread.join()

    assert elsewhere["gateway"]._slot.client is not here._slot.client
    assert elsewhere["gateway"]._slot.client.session is not here._slot.client.session


# --- market data ----------------------------------------------------------------------


def test_it_loads_markets_with_the_simulator_filters_as_decimal_steps(gateway):
    markets = gateway.markets()

    btc = markets["BTC/USDT"]
    assert (btc.base, btc.quote, btc.type, btc.exchange_symbol) == ("BTC", "USDT", "spot", "BTCUSDT")
    assert btc.amount_step == Decimal("0.00001")
    assert btc.price_step == Decimal("0.01")
    assert btc.min_amount == Decimal("0.00001")
    assert btc.min_cost == Decimal("5")
    assert btc.max_amount == Decimal("9000")
    assert markets["XRP/USDT"].amount_step == Decimal("0.1")
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"} <= set(markets)


def test_it_caches_markets_in_redis_and_memory_so_later_calls_skip_exchange_info(simulated_binance, gateway):
    gateway.markets()
    requests_after_first_load = simulated_binance.stats()["requests"]

    clear_caches()  # a fresh worker process: memory is empty, Redis is not
    CcxtGateway.public("binance").markets()
    gateway.markets()

    keys = redis.Redis.from_url(django_settings.REDIS_URL).keys("exchanges:markets:binance:*")
    assert len(keys) == 1
    assert simulated_binance.stats()["requests"] == requests_after_first_load


def test_it_resolves_exchange_ids_to_unified_symbols(gateway):
    assert gateway.market("BTCUSDT").symbol == "BTC/USDT"

    with pytest.raises(UnknownSymbolError):
        gateway.market("NOPE/USDT")


def test_it_reads_the_last_price_and_caches_it_briefly(simulated_binance, gateway, settings):
    simulated_binance.set_price(symbol="BTC/USDT", price="70000.5")
    assert gateway.ticker_price("BTC/USDT") == Decimal("70000.5")

    simulated_binance.set_price(symbol="BTC/USDT", price="71000")
    assert gateway.ticker_price("BTC/USDT") == Decimal("70000.5")

    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    assert gateway.ticker_price("BTC/USDT") == Decimal("71000")


def test_a_price_is_kept_in_the_process_no_longer_than_redis_keeps_it(simulated_binance, gateway, settings):
    from devtools.processes import wait_until

    settings.EXCHANGE_TICKER_CACHE_SECONDS = 2
    shared = redis.Redis.from_url(django_settings.REDIS_URL)
    key = f"exchanges:ticker:{ccxt_gateway._cache_scope('binance', False)}:BTC/USDT"
    # another worker put the price in Redis, where it has 1.5 s left (less than the setting)
    simulated_binance.set_price(symbol="BTC/USDT", price="71000")
    shared.set(key, "69000", px=1500)
    assert gateway.ticker_price("BTC/USDT") == Decimal("69000")
    assert gateway.ticker_price("BTC/USDT") == Decimal("69000")  # from this process's memory now

    # once Redis has let it go, so has this process: the next read asks the exchange
    wait_until(lambda: not shared.exists(key), timeout=5, what="the shared price to expire")
    assert gateway.ticker_price("BTC/USDT") == Decimal("71000")


def test_it_returns_candles_as_decimals_with_utc_open_times(simulated_binance):
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    start_ms = int(start.timestamp() * 1000)
    simulated_binance.add_ticks(
        ticks=[
            {"symbol": "ETH/USDT", "price": "3000", "timestamp": start_ms},
            {"symbol": "ETH/USDT", "price": "3010", "timestamp": start_ms + 10_000},
            {"symbol": "ETH/USDT", "price": "2990", "timestamp": start_ms + 20_000},
            {"symbol": "ETH/USDT", "price": "3005", "timestamp": start_ms + 120_000},
        ]
    )

    candles = CcxtGateway.public("binance").fetch_ohlcv(symbol="ETH/USDT", timeframe="1m", since=start, limit=3)

    assert candles == [
        (start, Decimal("3000"), Decimal("3010"), Decimal("2990"), Decimal("2990"), Decimal("0")),
        (start + timedelta(minutes=1), Decimal("2990"), Decimal("2990"), Decimal("2990"), Decimal("2990"), Decimal("0")),
        (start + timedelta(minutes=2), Decimal("3005"), Decimal("3005"), Decimal("3005"), Decimal("3005"), Decimal("0")),
    ]


# --- account --------------------------------------------------------------------------


def test_it_reads_balances_equity_and_positions(simulated_binance, simulated_binance_account, gateway):
    simulated_binance.set_balances(api_key=simulated_binance_account.api_key, balances={"BTC": "0.5", "ETH": "2"})
    simulated_binance.set_prices(prices={"BTC/USDT": "60000", "ETH/USDT": "3000"})

    balances = gateway.balance()
    equity = gateway.equity()
    positions = {position.symbol: position.quantity for position in gateway.positions()}

    assert balances["USDT"].free == Decimal("10000")
    assert balances["BTC"].total == Decimal("0.5")
    assert equity.equity == Decimal("10000") + Decimal("0.5") * 60000 + 2 * 3000
    assert equity.free_quote == Decimal("10000")
    assert positions == {"BTC/USDT": Decimal("0.5"), "ETH/USDT": Decimal("2")}


# --- orders ---------------------------------------------------------------------------


def test_it_places_a_market_order_and_reports_the_fill_in_decimals(simulated_binance, simulated_binance_account, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")

    result = _buy(gateway, "copy-1-1")

    assert result.client_order_id == "copy-1-1"
    assert result.status == "closed"
    assert result.is_fully_filled
    assert (result.amount, result.filled, result.average_price) == (Decimal("0.001"), Decimal("0.001"), Decimal("60000"))
    assert result.cost == Decimal("60")
    assert (result.fee, result.fee_currency) == (Decimal("0.06"), "USDT")
    assert result.timestamp.tzinfo is not None
    assert simulated_binance.order_counts() == {"copy-1-1": 1}
    balances = simulated_binance.account(api_key=simulated_binance_account.api_key)["balances"]
    assert Decimal(balances["USDT"]["free"]) == Decimal("10000") - Decimal("60.06")


def test_it_fills_a_marketable_ioc_limit_order(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")

    result = _buy(gateway, "ioc-fill", type="limit", price=Decimal("60100"), time_in_force="IOC")

    assert result.status == "closed"
    assert result.filled == Decimal("0.001")
    assert simulated_binance.orders()[0]["time_in_force"] == "IOC"


def test_it_expires_an_ioc_limit_order_that_is_not_marketable(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")

    result = _buy(gateway, "ioc-expire", type="limit", price=Decimal("59000"), time_in_force="IOC")

    assert result.status == "expired"
    assert result.filled == 0
    assert result.average_price is None


def test_it_finds_an_order_by_client_id_with_its_fee(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")
    placed = _buy(gateway, "lookup-1")

    found = gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="lookup-1")

    assert found.exchange_order_id == placed.exchange_order_id
    assert (found.status, found.filled, found.cost) == ("closed", Decimal("0.001"), Decimal("60"))
    assert (found.fee, found.fee_currency) == (Decimal("0.06"), "USDT")


def test_it_maps_an_unknown_client_id_to_order_not_found(gateway):
    with pytest.raises(OrderNotFoundError):
        gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="never-sent")


def test_it_cancels_a_resting_order_by_client_id(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")
    resting = _buy(gateway, "rest-1", type="limit", price=Decimal("50000"))

    canceled = gateway.cancel_order(symbol="BTC/USDT", client_order_id="rest-1")

    assert resting.status == "open"
    assert (canceled.status, canceled.client_order_id, canceled.exchange_order_id) == ("canceled", "rest-1", resting.exchange_order_id)
    assert simulated_binance.orders()[0]["status"] == "CANCELED"
    with pytest.raises(OrderNotFoundError):
        gateway.cancel_order(symbol="BTC/USDT", client_order_id="rest-1")


def test_it_lists_my_trades(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")
    first = _buy(gateway, "trade-1")
    simulated_binance.set_price(symbol="BTC/USDT", price="61000")
    gateway.create_order(symbol="BTC/USDT", side="sell", amount=Decimal("0.0005"), client_order_id="trade-2")

    trades = gateway.fetch_my_trades(symbol="BTC/USDT")
    held_markets_trades = gateway.fetch_my_trades()

    assert [(t.side, t.amount, t.price, t.cost, t.fee) for t in trades] == [
        ("buy", Decimal("0.001"), Decimal("60000"), Decimal("60"), Decimal("0.06")),
        ("sell", Decimal("0.0005"), Decimal("61000"), Decimal("30.5"), Decimal("0.0305")),
    ]
    assert trades[0].order_id == first.exchange_order_id
    assert held_markets_trades == trades


def test_it_truncates_the_amount_to_the_lot_step_before_sending(simulated_binance, gateway):
    result = _buy(gateway, "precise-1", amount=Decimal("0.0012345"))

    assert result.amount == Decimal("0.00123")
    assert simulated_binance.orders()[0]["amount"] == "0.00123"


def test_it_rejects_an_amount_below_the_minimum_without_sending(simulated_binance, gateway):
    with pytest.raises(BelowExchangeMinimumError):
        _buy(gateway, "tiny-1", amount=Decimal("0.000009"))

    assert simulated_binance.orders() == []
    assert simulated_binance.stats()["orders_rejected"] == 0


def test_it_rejects_a_cost_below_the_minimum_notional_without_sending(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")

    with pytest.raises(BelowExchangeMinimumError):
        _buy(gateway, "small-1", amount=Decimal("0.00008"))  # 4.8 USDT < 5

    assert simulated_binance.orders() == []


# --- error mapping --------------------------------------------------------------------


@pytest.fixture
def without_our_rules(monkeypatch):
    """Send amounts as given, so the exchange's own filters answer."""
    monkeypatch.setattr(ccxt_gateway, "apply_order_rules", lambda market, *, amount, price, reference_price, side: (amount, price))


def test_it_maps_a_lot_size_filter_failure_to_order_rejected(simulated_binance, gateway, without_our_rules, monkeypatch):
    # ccxt truncates to the step itself; a market whose step it does not know lets the
    # unrounded amount through to the exchange's LOT_SIZE filter.
    monkeypatch.setattr(type(gateway._slot.client), "amount_to_precision", lambda self, symbol, amount: str(amount))

    with pytest.raises(OrderRejectedError) as caught:
        _buy(gateway, "lot-1", amount=Decimal("0.0012345"))

    assert "LOT_SIZE" in caught.value.detail
    assert simulated_binance.stats()["rejected_by_code"] == {"-1013": 1}


def test_it_maps_a_notional_filter_failure_to_order_rejected(simulated_binance, gateway, without_our_rules):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")

    with pytest.raises(OrderRejectedError) as caught:
        _buy(gateway, "notional-1", amount=Decimal("0.00001"))

    assert "NOTIONAL" in caught.value.detail
    assert simulated_binance.orders() == []


def test_it_maps_insufficient_balance_to_insufficient_funds(gateway):
    with pytest.raises(InsufficientFundsError):
        _buy(gateway, "broke-1", amount=Decimal("1"))


def test_it_maps_a_reused_client_order_id_to_duplicate(simulated_binance, gateway):
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")
    _buy(gateway, "dup-1", type="limit", price=Decimal("50000"))

    with pytest.raises(DuplicateClientOrderIdError):
        _buy(gateway, "dup-1", type="limit", price=Decimal("50000"))

    assert simulated_binance.order_counts() == {"dup-1": 1}


def test_it_maps_an_unknown_api_key_to_invalid_credentials(simulated_binance, simulated_binance_account):
    simulated_binance_account.api_key = "unknown-key"

    with pytest.raises(InvalidCredentialsError):
        gateway_for_account(simulated_binance_account).balance()


def test_it_maps_a_bad_signature_to_invalid_credentials(simulated_binance_account):
    simulated_binance_account.api_secret = "not-the-secret"

    with pytest.raises(InvalidCredentialsError):
        gateway_for_account(simulated_binance_account).balance()


def test_it_maps_a_key_revoked_after_working_to_invalid_credentials(simulated_binance, simulated_binance_account, gateway):
    gateway.balance()
    simulated_binance.delete_account(api_key=simulated_binance_account.api_key)

    with pytest.raises(InvalidCredentialsError):
        gateway.balance()


def test_it_maps_429_to_rate_limited_with_retry_after(simulated_binance, gateway):
    gateway.markets()
    simulated_binance.set_faults(queue=["429"], retry_after_s=7)

    with pytest.raises(RateLimitedError) as caught:
        _buy(gateway, "busy-1")

    assert caught.value.retry_after == 7
    assert simulated_binance.orders() == []


def test_it_maps_418_to_rate_limited(simulated_binance, gateway):
    gateway.markets()
    simulated_binance.set_faults(rates={"418": 1.0}, match=["GET /api/v3/account"])

    with pytest.raises(RateLimitedError) as caught:
        gateway.balance()

    assert caught.value.retry_after == 1
    assert simulated_binance.stats()["faults"] == {"418": 1}


@pytest.mark.parametrize("status", ["502", "503"])
def test_it_maps_5xx_on_a_read_to_transient(simulated_binance, gateway, status):
    gateway.markets()
    simulated_binance.set_faults(queue=[status])

    with pytest.raises(TransientExchangeError) as caught:
        gateway.balance()

    assert not isinstance(caught.value, RateLimitedError)


@pytest.mark.parametrize("status", ["502", "503"])
def test_it_maps_5xx_on_order_placement_to_unknown_outcome(simulated_binance, gateway, status):
    gateway.ticker_price("BTC/USDT")
    simulated_binance.set_faults(queue=[status], match=["POST /api/v3/order"])

    with pytest.raises(UnknownOutcomeError):
        _buy(gateway, "flaky-1")

    with pytest.raises(OrderNotFoundError):
        gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="flaky-1")


@pytest.mark.parametrize("timeout_mode", ["delay", "drop"])
def test_it_maps_a_timeout_after_accept_to_unknown_outcome_and_then_finds_the_order(fast_timeout, simulated_binance, gateway, timeout_mode):
    simulated_binance.set_faults(
        queue=["timeout_after_accept"], match=["POST /api/v3/order"], timeout_mode=timeout_mode, timeout_delay_ms=2000
    )

    with pytest.raises(UnknownOutcomeError):
        _buy(gateway, "slow-1")

    found = gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="slow-1")
    assert found.is_fully_filled
    assert simulated_binance.order_counts() == {"slow-1": 1}


def test_it_maps_a_timeout_on_a_read_to_transient(fast_timeout, simulated_binance, gateway):
    gateway.markets()
    simulated_binance.set_faults(queue=["timeout_after_accept"], timeout_delay_ms=2000)

    with pytest.raises(TransientExchangeError):
        gateway.balance()


def test_it_maps_a_refused_connection_to_transient_even_for_orders(simulated_binance_account, settings):
    # A private simulator that we stop after the markets and the price are cached.
    base_url, stop = start_simulator_thread(port=0)
    settings.EXCHANGE_URL_OVERRIDES = {"binance": base_url}
    credentials = SimulatorClient(base_url).create_account(balances={"USDT": "1000"})
    simulated_binance_account.api_key, simulated_binance_account.api_secret = credentials["api_key"], credentials["api_secret"]
    gateway = gateway_for_account(simulated_binance_account)
    gateway.ticker_price("BTC/USDT")
    stop()

    with pytest.raises(TransientExchangeError) as caught:
        _buy(gateway, "refused-1")

    assert not isinstance(caught.value, UnknownOutcomeError)


def test_no_error_message_or_log_record_of_a_failed_signed_call_shows_credentials(
    simulated_binance, simulated_binance_account, gateway, caplog
):
    caplog.set_level(logging.DEBUG)
    gateway.ticker_price("BTC/USDT")
    simulated_binance.set_faults(queue=["502", "503", "429"])
    messages = []

    for call in (
        gateway.balance,
        lambda: gateway.fetch_order_by_client_id(symbol="BTC/USDT", client_order_id="x"),
        lambda: _buy(gateway, "leak-1"),
    ):
        with pytest.raises(Exception) as caught:
            call()
        messages.append(str(caught.value))
        messages.append(repr(caught.value))
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(InsufficientFundsError) as caught:
        _buy(gateway, "leak-2", amount=Decimal("1"))
    messages.append(str(caught.value))

    logged = [record.getMessage() for record in caplog.records]
    assert any("/api/v3/account" in line for line in logged)  # ccxt's request log is there, scrubbed
    for text in messages + logged:
        assert simulated_binance_account.api_secret not in text
        assert simulated_binance_account.api_key not in text
        assert "signature=" not in text or "signature=<redacted>" in text
        assert not HEX_SIGNATURE.search(text)
