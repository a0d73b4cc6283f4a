"""The loopback Binance simulator, spoken to as Binance clients do: signed HTTP requests."""

import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings

from devtools.simulator.client import SimulatorClient, SimulatorError
from devtools.simulator.server import _is_loopback

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
# A fixed hour, far from now, so candles only see the ticks a test records.
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Binance:
    """A minimal signed Binance REST client, independent of ccxt."""

    def __init__(self, base_url: str, *, api_key: str, api_secret: str):
        self.base_url = base_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.session = requests.Session()

    def public(self, path: str, **params) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", params=params, timeout=10)

    def signed(self, method: str, path: str, *, secret: str | None = None, timeout: float = 10, **params) -> requests.Response:
        query = urlencode({**params, "timestamp": params.pop("timestamp", int(time.time() * 1000))})
        signature = hmac.new((secret or self.api_secret).encode(), query.encode(), hashlib.sha256).hexdigest()
        signed_query = f"{query}&signature={signature}"
        headers = {"X-MBX-APIKEY": self.api_key}
        url = f"{self.base_url}{path}"
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return self.session.post(url, data=signed_query, headers=headers, timeout=timeout)
        return self.session.request(method, f"{url}?{signed_query}", headers=headers, timeout=timeout)

    def order(self, **params) -> requests.Response:
        return self.signed("POST", "/api/v3/order", **{"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", **params})


@pytest.fixture
def trader(simulator) -> Binance:
    return _trader(simulator, balances={"USDT": "10000"})


def _trader(simulator, *, balances: dict[str, str]) -> Binance:
    """A new account holding `balances`, and a client signing as it."""
    credentials = simulator.create_account(balances=balances)
    return Binance(simulator.base_url, api_key=credentials["api_key"], api_secret=credentials["api_secret"])


def _balances(simulator, trader) -> dict[str, tuple[Decimal, Decimal]]:
    balances = simulator.account(api_key=trader.api_key)["balances"]
    return {asset: (Decimal(value["free"]), Decimal(value["locked"])) for asset, value in balances.items()}


def _error(response: requests.Response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["code"], body["msg"]


# --- market data ----------------------------------------------------------------------


def test_it_serves_exchange_info_with_binance_filters(simulator, trader):
    symbols = {entry["symbol"]: entry for entry in trader.public("/api/v3/exchangeInfo").json()["symbols"]}

    filters = {entry["filterType"]: entry for entry in symbols["BTCUSDT"]["filters"]}
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"} <= set(symbols)
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"


def test_it_serves_the_price_it_was_given(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="64123.45")

    ticker = trader.public("/api/v3/ticker/24hr", symbol="BTCUSDT").json()
    price = trader.public("/api/v3/ticker/price", symbol="BTCUSDT").json()

    assert ticker["lastPrice"] == price["price"] == "64123.45000000"
    assert _error(trader.public("/api/v3/ticker/price", symbol="NOPEUSDT")) == (400, -1121, "Invalid symbol.")


def test_it_aggregates_ticks_into_candles_and_repeats_the_close_in_empty_minutes(simulator, trader):
    simulator.add_ticks(
        ticks=[
            {"symbol": "SOL/USDT", "price": "100", "timestamp": T0 + 1_000, "volume": "2"},
            {"symbol": "SOL/USDT", "price": "104", "timestamp": T0 + 20_000, "volume": "1"},
            {"symbol": "SOL/USDT", "price": "98", "timestamp": T0 + 40_000},
            {"symbol": "SOL/USDT", "price": "101", "timestamp": T0 + 59_999},
            {"symbol": "SOL/USDT", "price": "110", "timestamp": T0 + 3 * MINUTE_MS + 5},
        ]
    )

    candles = trader.public("/api/v3/klines", symbol="SOLUSDT", interval="1m", startTime=T0, limit=4).json()

    assert [(c[0], c[1], c[2], c[3], c[4], c[5]) for c in candles] == [
        (T0, "100.00000000", "104.00000000", "98.00000000", "101.00000000", "3.00000000"),
        (T0 + MINUTE_MS, "101.00000000", "101.00000000", "101.00000000", "101.00000000", "0.00000000"),
        (T0 + 2 * MINUTE_MS, "101.00000000", "101.00000000", "101.00000000", "101.00000000", "0.00000000"),
        (T0 + 3 * MINUTE_MS, "110.00000000", "110.00000000", "110.00000000", "110.00000000", "0.00000000"),
    ]
    assert candles[0][6] == T0 + MINUTE_MS - 1


def test_it_aggregates_the_same_ticks_into_hourly_candles_within_the_time_range(simulator, trader):
    simulator.add_ticks(
        ticks=[
            {"symbol": "ETH/USDT", "price": "3000", "timestamp": T0},
            {"symbol": "ETH/USDT", "price": "3100", "timestamp": T0 + 30 * MINUTE_MS},
            {"symbol": "ETH/USDT", "price": "2900", "timestamp": T0 + HOUR_MS + 1},
            {"symbol": "ETH/USDT", "price": "2950", "timestamp": T0 + 2 * HOUR_MS + 1},
        ]
    )

    candles = trader.public("/api/v3/klines", symbol="ETHUSDT", interval="1h", startTime=T0, endTime=T0 + HOUR_MS).json()

    assert [(c[0], c[1], c[2], c[3], c[4]) for c in candles] == [
        (T0, "3000.00000000", "3100.00000000", "3000.00000000", "3100.00000000"),
        (T0 + HOUR_MS, "2900.00000000", "2900.00000000", "2900.00000000", "2900.00000000"),
    ]
    assert _error(trader.public("/api/v3/klines", symbol="ETHUSDT", interval="7m")) == (400, -1120, "Invalid interval.")


# --- authentication -------------------------------------------------------------------


def test_it_answers_an_unknown_api_key_with_2015_and_401(simulator, trader):
    trader.api_key = "unknown-key"

    assert _error(trader.signed("GET", "/api/v3/account")) == (401, -2015, "Invalid API-key, IP, or permissions for action.")


def test_it_answers_a_malformed_or_missing_api_key_with_2014(simulator, trader):
    trader.api_key = "bad key!"

    assert _error(trader.signed("GET", "/api/v3/account")) == (401, -2014, "API-key format invalid.")


def test_it_answers_a_bad_signature_with_1022(simulator, trader):
    response = trader.signed("GET", "/api/v3/account", secret="wrong-secret")

    assert _error(response) == (400, -1022, "Signature for this request is not valid.")


def test_it_answers_a_stale_timestamp_with_1021(simulator, trader):
    stale = int(time.time() * 1000) - 20_000

    response = trader.signed("GET", "/api/v3/account", timestamp=stale, recvWindow=5000)

    assert _error(response)[:2] == (400, -1021)


def test_it_verifies_signatures_over_query_and_body_together(simulator, trader):
    response = trader.order(quantity="0.001")

    assert response.status_code == 200
    assert trader.signed("GET", "/api/v3/account").status_code == 200


def test_its_control_api_answers_loopback_clients_only():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1")
    assert not _is_loopback("10.0.0.7")
    assert not _is_loopback(None)


def test_its_control_api_answers_the_networks_the_operator_allowed_too():
    # `exchange_simulator --control-from 10.213.0.0/24`: the multi-host run's namespaces.
    allowed = (ipaddress.ip_network("10.213.0.0/24"),)
    assert _is_loopback("10.213.0.7", allowed) and _is_loopback("127.0.0.1", allowed)
    assert not _is_loopback("10.213.1.7", allowed) and not _is_loopback("not an address", allowed)


# --- orders ---------------------------------------------------------------------------


def test_it_fills_market_orders_at_the_current_price_with_commission_in_quote(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")

    body = trader.order(quantity="0.01", newClientOrderId="m-1").json()

    assert (body["status"], body["executedQty"], body["cummulativeQuoteQty"]) == ("FILLED", "0.01000000", "600.00000000")
    assert body["fills"] == [
        {"price": "60000.00000000", "qty": "0.01000000", "commission": "0.60000000", "commissionAsset": "USDT", "tradeId": 1}
    ]
    assert _balances(simulator, trader) == {"USDT": (Decimal("9399.4"), 0), "BTC": (Decimal("0.01"), 0)}


def test_it_sells_into_the_quote_minus_commission(simulator, trader):
    simulator.set_balances(api_key=trader.api_key, balances={"BTC": "0.02"})
    simulator.set_price(symbol="BTC/USDT", price="50000")

    trader.order(side="SELL", quantity="0.02")

    assert _balances(simulator, trader) == {"USDT": (Decimal("10999"), 0), "BTC": (0, 0)}


def test_with_commission_in_the_received_asset_a_buy_pays_in_the_base_coin_and_a_sell_in_the_quote(simulator):
    simulator.reset(commission_asset="received")
    trader = _trader(simulator, balances={"USDT": "1000"})
    simulator.set_price(symbol="BTC/USDT", price="50000")

    bought = trader.order(quantity="0.01").json()
    trader.order(side="SELL", quantity="0.005")

    assert (bought["fills"][0]["commission"], bought["fills"][0]["commissionAsset"]) == ("0.00001000", "BTC")
    assert _balances(simulator, trader) == {"USDT": (Decimal("500") + Decimal("250") - Decimal("0.25"), 0), "BTC": (Decimal("0.00499"), 0)}
    trades = trader.signed("GET", "/api/v3/myTrades", symbol="BTCUSDT").json()
    assert [(t["commission"], t["commissionAsset"]) for t in trades] == [("0.00001000", "BTC"), ("0.25000000", "USDT")]


def test_with_commission_in_bnb_a_fill_pays_its_fee_in_bnb_at_the_bnb_price(simulator):
    simulator.reset(commission_asset="bnb")
    trader = _trader(simulator, balances={"USDT": "1000", "BNB": "1"})
    simulator.set_price(symbol="BTC/USDT", price="50000")
    simulator.set_price(symbol="BNB/USDT", price="500")

    bought = trader.order(quantity="0.01").json()

    # 0.1 % of 500 USDT = 0.5 USDT = 0.001 BNB at 500.
    assert (bought["fills"][0]["commission"], bought["fills"][0]["commissionAsset"]) == ("0.00100000", "BNB")
    assert _balances(simulator, trader) == {"USDT": (Decimal("500"), 0), "BTC": (Decimal("0.01"), 0), "BNB": (Decimal("0.999"), 0)}


def test_with_commission_in_bnb_an_account_without_enough_bnb_pays_in_the_quote(simulator):
    simulator.reset(commission_asset="bnb")
    trader = _trader(simulator, balances={"USDT": "1000"})
    simulator.set_price(symbol="BTC/USDT", price="50000")

    bought = trader.order(quantity="0.01").json()

    assert (bought["fills"][0]["commission"], bought["fills"][0]["commissionAsset"]) == ("0.50000000", "USDT")


def test_it_refuses_an_unknown_commission_asset(simulator):
    with pytest.raises(SimulatorError):
        simulator.reset(commission_asset="gold")


def test_it_buys_by_quote_amount_truncated_to_the_lot_step(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")

    body = trader.order(quoteOrderQty="100").json()

    assert body["executedQty"] == "0.00166000"


def test_it_fills_a_marketable_ioc_limit_at_the_current_price(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")

    body = trader.order(type="LIMIT", timeInForce="IOC", quantity="0.001", price="60500").json()

    assert (body["status"], body["fills"][0]["price"]) == ("FILLED", "60000.00000000")


def test_it_expires_an_ioc_limit_that_is_not_marketable_and_moves_nothing(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")

    body = trader.order(type="LIMIT", timeInForce="IOC", quantity="0.001", price="59000").json()

    assert (body["status"], body["executedQty"], body["fills"]) == ("EXPIRED", "0.00000000", [])
    assert _balances(simulator, trader) == {"USDT": (Decimal("10000"), 0)}


def test_it_rests_a_gtc_limit_locking_funds_and_releases_them_on_cancel(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")

    placed = trader.order(type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="rest-1").json()
    locked = _balances(simulator, trader)["USDT"]
    open_orders = trader.signed("GET", "/api/v3/openOrders", symbol="BTCUSDT").json()
    canceled = trader.signed("DELETE", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="rest-1").json()

    assert placed["status"] == "NEW"
    assert locked == (Decimal("9499.5"), Decimal("500.5"))  # 500 plus the commission it may cost
    assert [order["clientOrderId"] for order in open_orders] == ["rest-1"]
    assert (canceled["status"], canceled["origClientOrderId"]) == ("CANCELED", "rest-1")
    assert _balances(simulator, trader)["USDT"] == (Decimal("10000"), 0)
    again = trader.signed("DELETE", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="rest-1")
    assert _error(again) == (400, -2011, "Unknown order sent.")


def test_it_fills_a_resting_order_at_its_limit_when_the_price_crosses(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")
    trader.order(type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000", newClientOrderId="rest-2")

    simulator.set_price(symbol="BTC/USDT", price="49000")

    order = trader.signed("GET", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="rest-2").json()
    assert (order["status"], order["cummulativeQuoteQty"]) == ("FILLED", "500.00000000")
    assert _balances(simulator, trader) == {"USDT": (Decimal("9499.5"), 0), "BTC": (Decimal("0.01"), 0)}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"quantity": "0.000015"}, (400, -1013, "Filter failure: LOT_SIZE")),
        ({"quantity": "0.000001"}, (400, -1013, "Filter failure: LOT_SIZE")),
        ({"quantity": "0.00007"}, (400, -1013, "Filter failure: NOTIONAL")),
        ({"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "60000.005"}, (400, -1013, "Filter failure: PRICE_FILTER")),
        (
            {"type": "LIMIT", "quantity": "0.001", "price": "60000"},
            (400, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
        ),
        ({"quantity": "1"}, (400, -2010, "Account has insufficient balance for requested action.")),
        ({"quantity": "0.001", "symbol": "NOPEUSDT"}, (400, -1121, "Invalid symbol.")),
    ],
)
def test_it_rejects_orders_as_binance_does(simulator, trader, params, expected):
    simulator.set_price(symbol="BTC/USDT", price="60000")

    response = trader.order(**params)

    assert _error(response) == expected
    assert simulator.orders() == []
    assert simulator.stats()["orders_rejected"] == 1


def test_it_rejects_a_client_order_id_reused_while_its_order_is_open(simulator, trader):
    simulator.set_price(symbol="BTC/USDT", price="60000")
    trader.order(type="LIMIT", timeInForce="GTC", quantity="0.001", price="50000", newClientOrderId="dup-1")

    response = trader.order(quantity="0.001", newClientOrderId="dup-1")

    assert _error(response) == (400, -2010, "Duplicate order sent.")
    assert simulator.order_counts() == {"dup-1": 1}


def test_it_accepts_reuse_of_a_closed_orders_client_id_like_binance_and_counts_both(simulator, trader):
    trader.order(quantity="0.001", newClientOrderId="reuse-1")

    second = trader.order(quantity="0.001", newClientOrderId="reuse-1")

    assert second.status_code == 200
    assert simulator.order_counts() == {"reuse-1": 2}


def test_it_rejects_any_reuse_of_a_client_id_when_the_scope_is_all(simulator):
    simulator.reset(duplicate_scope="all")
    trader = _trader(simulator, balances={"USDT": "100"})
    trader.order(quantity="0.0001", newClientOrderId="once-1")

    response = trader.order(quantity="0.0001", newClientOrderId="once-1")

    assert _error(response) == (400, -2010, "Duplicate order sent.")


def test_it_finds_orders_by_id_and_by_client_id_and_reports_unknown_ones(simulator, trader):
    placed = trader.order(quantity="0.001", newClientOrderId="find-1").json()

    by_id = trader.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=placed["orderId"]).json()
    by_client_id = trader.signed("GET", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="find-1").json()
    unknown = trader.signed("GET", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="never")

    assert by_id == by_client_id
    assert (by_id["orderId"], by_id["status"], by_id["clientOrderId"]) == (placed["orderId"], "FILLED", "find-1")
    assert _error(unknown) == (400, -2013, "Order does not exist.")


def test_it_hides_one_accounts_orders_from_another(simulator, trader):
    placed = trader.order(quantity="0.001").json()
    other = simulator.create_account(balances={})

    trader.api_key, trader.api_secret = other["api_key"], other["api_secret"]

    assert _error(trader.signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=placed["orderId"]))[1] == -2013


def test_it_lists_my_trades_per_symbol_and_order(simulator, trader):
    first = trader.order(quantity="0.001").json()
    trader.order(quantity="0.002")

    all_trades = trader.signed("GET", "/api/v3/myTrades", symbol="BTCUSDT").json()
    of_first = trader.signed("GET", "/api/v3/myTrades", symbol="BTCUSDT", orderId=first["orderId"]).json()

    assert [trade["qty"] for trade in all_trades] == ["0.00100000", "0.00200000"]
    assert [trade["orderId"] for trade in of_first] == [first["orderId"]]
    assert all_trades[0]["isBuyer"] is True


def test_it_reports_spot_balances_on_the_account_endpoint(simulator, trader):
    trader.order(quantity="0.001")

    account = trader.signed("GET", "/api/v3/account", omitZeroBalances="true").json()

    balances = {entry["asset"]: entry["free"] for entry in account["balances"]}
    assert balances == {"USDT": "9934.93500000", "BTC": "0.00100000"}
    assert account["accountType"] == "SPOT"


# --- control API, log and stats -------------------------------------------------------


def test_it_logs_every_accepted_order_for_cheap_reading(simulator, trader):
    before = time.time()
    trader.order(quantity="0.001", newClientOrderId="log-1")
    trader.order(type="LIMIT", timeInForce="IOC", quantity="0.01", price="1000", newClientOrderId="log-2")

    orders = simulator.orders()
    after_first = simulator.orders(since_id=orders[0]["id"])

    assert [(o["client_order_id"], o["type"], o["amount"], o["status"]) for o in orders] == [
        ("log-1", "MARKET", "0.001", "FILLED"),
        ("log-2", "LIMIT", "0.01", "EXPIRED"),
    ]
    assert orders[1]["price"] == "1000"
    assert all(o["api_key"] == trader.api_key and o["symbol"] == "BTCUSDT" and o["side"] == "BUY" for o in orders)
    assert before <= orders[0]["ack_time"] <= orders[1]["ack_time"] <= time.time()
    assert [o["client_order_id"] for o in after_first] == ["log-2"]
    assert simulator.orders(client_order_id="log-2")[0]["id"] == orders[1]["id"]
    assert {o["remote"] for o in orders} == {"127.0.0.1"}  # which host sent each order


def test_it_resets_to_default_markets_without_accounts_or_orders(simulator, trader):
    trader.order(quantity="0.001")
    simulator.set_price(symbol="BTC/USDT", price="1")

    simulator.reset()

    assert simulator.orders() == [] and simulator.order_counts() == {}
    assert simulator.prices()["BTCUSDT"] == "65000"
    assert _error(trader.signed("GET", "/api/v3/account"))[1] == -2015


def test_it_accepts_given_credentials_and_rejects_bad_control_input(simulator):
    created = simulator.create_account(api_key="follower-key", api_secret="follower-secret", balances={"usdt": "5"})

    assert (created["api_key"], created["api_secret"], created["balances"]["USDT"]["free"]) == ("follower-key", "follower-secret", "5")
    with pytest.raises(SimulatorError, match="400"):
        simulator.create_account(api_key="follower-key")
    with pytest.raises(SimulatorError, match="400"):
        simulator.set_price(symbol="BTC/USDT", price="-1")
    with pytest.raises(SimulatorError, match="404"):
        simulator.account(api_key="nobody")
    with pytest.raises(SimulatorError, match="400"):
        simulator.set_faults(rates={"429": 2})


def test_it_serves_markets_added_at_runtime(simulator, trader):
    simulator.add_market(
        base="DOGE", quote="USDT", step_size="1", tick_size="0.00001", min_qty="1", max_qty="1000000", min_notional="1", price="0.1"
    )

    response = trader.order(symbol="DOGEUSDT", quantity="20")

    assert response.json()["cummulativeQuoteQty"] == "2.00000000"


# --- faults ---------------------------------------------------------------------------


def test_it_answers_429_and_418_with_retry_after_and_counts_them(simulator, trader):
    simulator.set_faults(queue=["429", "418"], retry_after_s=3)

    first, second, third = trader.order(quantity="0.001"), trader.order(quantity="0.001"), trader.order(quantity="0.001")

    assert (first.status_code, first.headers["Retry-After"], first.json()["code"]) == (429, "3", -1003)
    assert (second.status_code, second.headers["Retry-After"]) == (418, "3")
    assert third.status_code == 200
    assert len(simulator.orders()) == 1
    assert simulator.stats()["faults"] == {"429": 1, "418": 1}


def test_it_answers_5xx_without_taking_the_order(simulator, trader):
    simulator.set_faults(queue=["502", "503"])

    assert trader.order(quantity="0.001").status_code == 502
    assert trader.order(quantity="0.001").status_code == 503
    assert simulator.orders() == []


def test_it_restricts_faults_to_the_matching_endpoints(simulator, trader):
    simulator.set_faults(rates={"5xx": 1.0}, match=["POST /api/v3/order"])

    assert trader.signed("GET", "/api/v3/account").status_code == 200
    assert trader.order(quantity="0.001").status_code in (502, 503)
    assert simulator.faults()["rates"]["5xx"] == 1.0


def test_it_injects_faults_at_the_configured_rate(simulator, trader):
    simulator.set_faults(rates={"429": 0.5}, match=["/api/v3/ping"])

    statuses = [trader.public("/api/v3/ping").status_code for _ in range(200)]

    assert 50 < statuses.count(429) < 150
    assert statuses.count(429) + statuses.count(200) == 200


def test_it_records_the_order_and_then_withholds_the_answer_past_the_client_timeout(simulator, trader):
    simulator.set_faults(queue=["timeout_after_accept"], timeout_delay_ms=2000)

    with pytest.raises(requests.exceptions.ReadTimeout):
        trader.order(quantity="0.001", newClientOrderId="late-1", timeout=0.3)

    assert simulator.order_counts() == {"late-1": 1}
    assert simulator.stats()["faults"] == {"timeout_after_accept": 1}


def test_it_records_the_order_and_then_drops_the_connection(simulator, trader):
    simulator.set_faults(queue=["timeout_after_accept"], timeout_mode="drop")

    with pytest.raises(requests.exceptions.ConnectionError):
        trader.order(quantity="0.001", newClientOrderId="dropped-1")

    assert simulator.orders()[0]["status"] == "FILLED"


def test_it_adds_the_configured_latency(simulator, trader):
    simulator.set_faults(latency_ms=150)

    started = time.monotonic()
    trader.public("/api/v3/ping")

    assert time.monotonic() - started >= 0.15


# --- as a process ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _simulator_command(*arguments: str):
    """`manage.py exchange_simulator` as a subprocess on a free port; its client once it answers."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "exchange_simulator", "--port", str(port), *arguments],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = SimulatorClient(f"http://127.0.0.1:{port}", timeout=2)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.stats()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.05)  # polling a starting process, with a deadline
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow  # starts processes: make test, not the fast lane
def test_the_management_command_serves_the_simulator_as_a_subprocess():
    with _simulator_command("--seed", "7") as client:
        stats = client.stats()
        credentials = client.create_account(balances={"USDT": "100"})
        trader = Binance(client.base_url, api_key=credentials["api_key"], api_secret=credentials["api_secret"])

        assert stats["orders_accepted"] == 0
        assert trader.order(quantity="0.0001").status_code == 200
        assert client.stats()["orders_accepted"] == 1


@pytest.mark.slow  # starts processes: make test, not the fast lane
def test_a_simulator_started_from_a_snapshot_carries_on_with_the_accounts_balances_and_prices(simulator, trader, tmp_path):
    # what `make demo` leaves behind for `make run`'s simulator (Procfile: --state .demo/simulator.json)
    simulator.set_price(symbol="BTCUSDT", price="61234.5")
    trader.order(quantity="0.001")
    before = simulator.account(api_key=trader.api_key)["balances"]
    state = tmp_path / "simulator.json"
    state.write_text(json.dumps(simulator.snapshot()))

    with _simulator_command("--state", str(state)) as restored:
        prices = restored.prices()
        assert prices["BTCUSDT"] == "61234.5"
        assert {asset: entry["free"] for asset, entry in restored.account(api_key=trader.api_key)["balances"].items()} == {
            asset: entry["free"] for asset, entry in before.items()
        }
        # the same keys trade there: a signed order is accepted
        again = Binance(restored.base_url, api_key=trader.api_key, api_secret=trader.api_secret)
        assert again.order(quantity="0.0001").status_code == 200
