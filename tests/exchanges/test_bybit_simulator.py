"""The simulator's Bybit v5 side, spoken to by ccxt's real `bybit` class over HTTP."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import ccxt
import pytest
import requests

from exchanges.gateways.ccxt_gateway import _rebase


@pytest.fixture
def account(bybit_simulator) -> dict:
    return bybit_simulator.create_account(balances={"USDT": "1000"})


@pytest.fixture
def bybit(bybit_simulator, account) -> ccxt.bybit:
    client = ccxt.bybit({"apiKey": account["api_key"], "secret": account["api_secret"], "options": {"fetchMarkets": {"types": ["spot"]}}})
    client.urls = {**client.urls, "api": _rebase(client.urls["api"], bybit_simulator.base_url)}
    client.load_markets()
    return client


def signed_get(base_url: str, path: str, *, api_key: str, secret: str, query: str) -> dict:
    timestamp, recv_window = str(int(time.time() * 1000)), "5000"
    signature = hmac.new(secret.encode(), f"{timestamp}{api_key}{recv_window}{query}".encode(), hashlib.sha256).hexdigest()
    headers = {"X-BAPI-API-KEY": api_key, "X-BAPI-TIMESTAMP": timestamp, "X-BAPI-RECV-WINDOW": recv_window, "X-BAPI-SIGN": signature}
    return requests.get(f"{base_url}{path}?{query}", headers=headers, timeout=10).json()


def test_it_lists_bybits_own_spot_instruments_with_their_own_lot_sizes(bybit):
    assert set(bybit.markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT"}  # no BNB/USDT, no ETH/BTC
    btc = bybit.markets["BTC/USDT"]
    assert (btc["precision"]["amount"], btc["limits"]["amount"]["min"], btc["limits"]["cost"]["min"]) == (0.0001, 0.0001, 5.0)


def test_it_serves_prices_and_the_unified_wallet_balance(bybit, bybit_simulator):
    bybit_simulator.set_price(symbol="BTC/USDT", price="64000")
    assert bybit.fetch_ticker("BTC/USDT")["last"] == 64000.0
    assert bybit.fetch_balance()["USDT"] == {"free": 1000.0, "used": 0.0, "total": 1000.0}


def test_it_fills_a_market_order_and_finds_it_by_order_link_id_with_its_execution(bybit):
    created = bybit.create_order("BTC/USDT", "market", "buy", 0.0007, None, {"clientOrderId": "ct-1"})
    assert (created["clientOrderId"], created["status"]) == ("ct-1", None)  # Bybit answers a create with ids only

    found = bybit.privateGetV5OrderRealtime({"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "ct-1"})["result"]["list"]
    order = bybit.parse_order(found[0], bybit.market("BTC/USDT"))
    assert (order["status"], order["filled"], order["average"], order["fee"]) == (
        "closed",
        0.0007,
        65000.0,
        {"cost": 0.0455, "currency": "USDT"},
    )
    history = bybit.privateGetV5OrderHistory({"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "ct-1"})["result"]["list"]
    assert [row["orderLinkId"] for row in history] == ["ct-1"]
    [trade] = bybit.fetch_my_trades("BTC/USDT")
    assert (trade["info"]["orderLinkId"], trade["amount"], trade["fee"]["cost"]) == ("ct-1", 0.0007, 0.0455)
    assert bybit.fetch_balance()["total"] == {"USDT": 954.4545, "BTC": 0.0007}


def test_it_refuses_any_reuse_of_an_order_link_id_even_of_a_filled_order(bybit):
    bybit.create_order("BTC/USDT", "market", "buy", 0.0007, None, {"clientOrderId": "ct-2"})
    with pytest.raises(ccxt.InvalidOrder, match="170141"):
        bybit.create_order("BTC/USDT", "market", "buy", 0.0007, None, {"clientOrderId": "ct-2"})


@pytest.mark.parametrize(
    ("amount", "code", "error"),
    [
        (1, "170131", ccxt.InsufficientFunds),  # 65,000 USDT of a 1,000 USDT account
        (0.00005, "170136", ccxt.InvalidOrder),  # below the minimum quantity
        (0.00015, "170137", ccxt.InvalidOrder),  # not a whole 0.0001 step (sent raw, past ccxt's rounding)
    ],
)
def test_it_refuses_orders_with_bybits_codes(bybit, amount, code, error):
    with pytest.raises(error, match=code):
        bybit.privatePostV5OrderCreate(
            {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": str(amount), "marketUnit": "baseCoin"}
        )


def test_it_rests_a_limit_order_and_cancels_it_by_order_link_id(bybit, bybit_simulator, account):
    bybit.create_order("BTC/USDT", "limit", "buy", 0.001, 60000, {"clientOrderId": "ct-3"})
    assert bybit.fetch_balance()["USDT"]["used"] == pytest.approx(60.06)
    bybit.cancel_order(None, "BTC/USDT", {"orderLinkId": "ct-3"})
    assert bybit_simulator.account(api_key=account["api_key"])["balances"]["USDT"] == {"free": "1000.00000000", "locked": "0E-8"}
    with pytest.raises(ccxt.OrderNotFound, match="170213"):
        bybit.cancel_order(None, "BTC/USDT", {"orderLinkId": "ct-3"})


def test_it_answers_bad_keys_and_signatures_with_10003_and_10004(bybit_simulator, account):
    base = bybit_simulator.base_url
    query = "accountType=UNIFIED"
    assert signed_get(base, "/v5/account/wallet-balance", api_key="nobody", secret="x", query=query)["retCode"] == 10003
    assert signed_get(base, "/v5/account/wallet-balance", api_key=account["api_key"], secret="wrong", query=query)["retCode"] == 10004
    answer = signed_get(base, "/v5/account/wallet-balance", api_key=account["api_key"], secret=account["api_secret"], query=query)
    assert answer["retCode"] == 0


def test_it_answers_its_rate_limit_fault_with_10006_and_the_reset_time(bybit, bybit_simulator):
    bybit_simulator.set_faults(queue=["429"], match=["GET /v5/account/wallet-balance"])
    with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
        bybit.fetch_balance()
    assert int(bybit.last_response_headers["X-Bapi-Limit-Reset-Timestamp"]) > time.time() * 1000


def test_it_enforces_its_own_order_limit_per_uid(bybit, bybit_simulator):
    bybit_simulator.set_order_limit(per_second=2)
    order = {"category": "spot", "symbol": "XRPUSDT", "side": "Buy", "orderType": "Limit", "qty": "100", "price": "0.1"}
    try:
        answers = [bybit.privatePostV5OrderCreate(order) for _ in range(2)]
        assert [int(answer["retCode"]) for answer in answers] == [0, 0]
        with pytest.raises(ccxt.RateLimitExceeded, match="10006"):
            bybit.privatePostV5OrderCreate(order)
    finally:
        bybit_simulator.set_order_limit(per_second=20)


def test_it_records_the_order_and_then_withholds_the_answer(bybit, bybit_simulator, account):
    bybit_simulator.set_faults(queue=["timeout_after_accept"], match=["POST /v5/order/create"], timeout_delay_ms=3000)
    bybit.timeout = 500
    with pytest.raises(ccxt.RequestTimeout):
        bybit.create_order("BTC/USDT", "market", "buy", 0.0007, None, {"clientOrderId": "ct-4"})
    assert [row["client_order_id"] for row in bybit_simulator.orders(api_key=account["api_key"])] == ["ct-4"]


def test_its_side_is_separate_from_binances(simulator, bybit_simulator, account):
    with pytest.raises(Exception, match="404"):
        simulator.account(api_key=account["api_key"])
    assert json.loads(json.dumps(bybit_simulator.account(api_key=account["api_key"])))["balances"]["USDT"]["free"] == "1000"
    assert Decimal(bybit_simulator.prices()["BTCUSDT"]) == Decimal("65000")


# --- linear perpetuals ----------------------------------------------------------------


@pytest.fixture
def bybit_linear(bybit_simulator, account) -> ccxt.bybit:
    client = ccxt.bybit(
        {"apiKey": account["api_key"], "secret": account["api_secret"], "options": {"fetchMarkets": {"types": ["spot", "linear"]}}}
    )
    client.urls = {**client.urls, "api": _rebase(client.urls["api"], bybit_simulator.base_url)}
    client.load_markets()
    return client


def test_it_lists_usdt_perpetuals_beside_spot_with_their_own_steps(bybit_linear):
    perpetual = bybit_linear.markets["BTC/USDT:USDT"]
    assert (perpetual["type"], perpetual["id"], perpetual["contractSize"]) == ("swap", "BTCUSDT", 1.0)
    assert (perpetual["precision"]["amount"], perpetual["limits"]["cost"]["min"]) == (0.001, 5.0)
    assert bybit_linear.fetch_ticker("BTC/USDT:USDT")["last"] == 65000.0


def test_a_linear_market_order_opens_a_position_on_margin_and_a_reduce_only_one_closes_it_with_its_pnl(bybit_linear, bybit_simulator):
    bybit_linear.set_leverage(5, "BTC/USDT:USDT")
    bybit_linear.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"clientOrderId": "lin-1"})

    # 0.01 BTC at 65,000 on 5x: 130 USDT of margin, 0.65 USDT of fee
    assert bybit_linear.fetch_balance()["USDT"] == {"free": 869.35, "used": 130.0, "total": 999.35}
    [position] = bybit_linear.fetch_positions(["BTC/USDT:USDT"])
    assert (position["contracts"], position["side"], position["entryPrice"]) == (0.01, "long", 65000.0)

    # a reduce-only sell larger than the position is capped at it (Bybit's rule)
    bybit_simulator.set_price(symbol="BTC/USDT", price="66000")
    bybit_linear.create_order("BTC/USDT:USDT", "market", "sell", 0.02, None, {"clientOrderId": "lin-2", "reduceOnly": True})
    assert bybit_linear.fetch_balance()["USDT"]["total"] == pytest.approx(1008.69)  # +10 P&L, -0.66 fee
    assert bybit_linear.fetch_positions(["BTC/USDT:USDT"])[0]["contracts"] == 0.0
    assert bybit_simulator.order_counts() == {"lin-1": 1, "lin-2": 1}

    with pytest.raises(ccxt.InvalidOrder, match="110017"):  # nothing left to reduce
        bybit_linear.create_order("BTC/USDT:USDT", "market", "sell", 0.01, None, {"clientOrderId": "lin-3", "reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="110072"):  # an orderLinkId is never reused
        bybit_linear.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"clientOrderId": "lin-1"})


def test_linear_and_spot_orders_are_looked_up_in_their_own_category(bybit_linear):
    bybit_linear.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"clientOrderId": "lin-4"})
    linear = bybit_linear.privateGetV5OrderRealtime({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "lin-4"})
    spot = bybit_linear.privateGetV5OrderRealtime({"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "lin-4"})
    assert [row["orderStatus"] for row in linear["result"]["list"]] == ["Filled"]
    assert spot["result"]["list"] == []
    assert bybit_linear.fetch_my_trades("BTC/USDT") == []
    assert len(bybit_linear.fetch_my_trades("BTC/USDT:USDT")) == 1


def test_linear_margin_beyond_the_free_balance_is_refused_with_110007(bybit_linear):
    with pytest.raises(ccxt.InsufficientFunds, match="110007"):
        bybit_linear.create_order("BTC/USDT:USDT", "market", "buy", 1, None, {"clientOrderId": "lin-5"})  # 6,500 USDT of margin
