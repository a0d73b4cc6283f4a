"""The simulator's `--state` (what `make demo` leaves and `make run` carries on from) keeps the
Bybit side: its accounts, balances, orders and orderLinkIds survive a restart, spoken to by
ccxt's real `bybit` class over HTTP."""

import json
from decimal import Decimal

import ccxt
import pytest

from exchanges.gateways.ccxt_gateway import _rebase
from tests.exchanges.test_simulator import _simulator_command


def _bybit(base_url: str, account: dict, *, types: tuple = ("spot",)) -> ccxt.bybit:
    client = ccxt.bybit(
        {"apiKey": account["api_key"], "secret": account["api_secret"], "options": {"fetchMarkets": {"types": list(types)}}}
    )
    client.urls = {**client.urls, "api": _rebase(client.urls["api"], base_url)}
    client.load_markets()
    return client


def _by_link(client: ccxt.bybit, link_id: str) -> dict:
    found = client.privateGetV5OrderRealtime({"category": "spot", "symbol": "BTCUSDT", "orderLinkId": link_id})["result"]["list"]
    return client.parse_order(found[0], client.market("BTC/USDT"))


@pytest.mark.slow  # starts processes: make test, not the fast lane
def test_a_restarted_simulator_keeps_bybit_accounts_balances_orders_and_order_link_ids(bybit_simulator, tmp_path):
    account = bybit_simulator.create_account(balances={"USDT": "1000"})
    bybit = _bybit(bybit_simulator.base_url, account)
    bybit.create_order("BTC/USDT", "market", "buy", 0.0007, None, {"clientOrderId": "ct-kept-1"})
    bybit.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"clientOrderId": "ct-resting-1"})
    before = bybit_simulator.account(api_key=account["api_key"])["balances"]
    assert before["USDT"]["locked"] != "0"  # the resting order holds its USDT
    state = tmp_path / "simulator.json"
    # The Binance side's snapshot (what `make demo` writes) includes the Bybit side.
    state.write_text(json.dumps(bybit_simulator.for_exchange("binance").snapshot()))

    with _simulator_command("--state", str(state)) as restarted:
        side = restarted.for_exchange("bybit")
        assert side.account(api_key=account["api_key"])["balances"] == before
        again = _bybit(restarted.base_url, account)
        # The gateway's look-up before a retry finds each order by its orderLinkId, as it was.
        kept = _by_link(again, "ct-kept-1")
        assert (kept["status"], kept["filled"], kept["average"]) == ("closed", 0.0007, 65000.0)
        assert _by_link(again, "ct-resting-1")["status"] == "open"
        assert [trade["amount"] for trade in again.fetch_my_trades("BTC/USDT")] == [0.0007]
        # An orderLinkId is unique for good on Bybit: reused after the restart, it is refused.
        with pytest.raises(ccxt.InvalidOrder, match="170141"):
            again.create_order("BTC/USDT", "market", "buy", 0.0007, None, {"clientOrderId": "ct-kept-1"})
        # New orders are numbered on, and the resting one still cancels and gives its USDT back.
        again.create_order("BTC/USDT", "market", "buy", 0.0002, None, {"clientOrderId": "ct-new-1"})
        again.cancel_order(None, "BTC/USDT", {"orderLinkId": "ct-resting-1"})
        assert [order["id"] for order in side.orders()] == [1, 2, 3]
        assert Decimal(side.account(api_key=account["api_key"])["balances"]["USDT"]["locked"]) == 0
        # An account connected while `make run` runs...
        later = side.create_account(balances={"USDT": "250"})

    # ...is written back when the simulator stops, and is there after the next start.
    written = json.loads(state.read_text())["bybit"]
    assert {row["api_key"] for row in written["accounts"]} == {account["api_key"], later["api_key"]}
    assert [(row["client_order_id"], row["status"]) for row in written["orders"]] == [
        ("ct-kept-1", "FILLED"),
        ("ct-resting-1", "CANCELED"),
        ("ct-new-1", "FILLED"),
    ]
    with _simulator_command("--state", str(state)) as restarted:
        assert restarted.for_exchange("bybit").account(api_key=later["api_key"])["balances"]["USDT"]["free"] == "250"


@pytest.mark.slow  # starts processes: make test, not the fast lane
def test_a_restarted_simulator_keeps_bybit_perpetual_positions_leverage_and_their_order_link_ids(bybit_simulator, tmp_path):
    account = bybit_simulator.create_account(balances={"USDT": "1000"})
    linear = _bybit(bybit_simulator.base_url, account, types=("spot", "linear"))
    linear.set_leverage(5, "BTC/USDT:USDT")
    linear.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"clientOrderId": "lin-kept-1"})
    state = tmp_path / "simulator.json"
    state.write_text(json.dumps(bybit_simulator.for_exchange("binance").snapshot()))

    with _simulator_command("--state", str(state)) as restarted:
        again = _bybit(restarted.base_url, account, types=("spot", "linear"))
        # 0.01 BTC at 65,000 on 5x: 130 USDT of margin, 0.65 USDT of fee, as before the restart
        assert again.fetch_balance()["USDT"] == {"free": 869.35, "used": 130.0, "total": 999.35}
        [position] = again.fetch_positions(["BTC/USDT:USDT"])
        assert (position["contracts"], position["side"], position["entryPrice"], position["leverage"]) == (0.01, "long", 65000.0, 5.0)
        found = again.privateGetV5OrderRealtime({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "lin-kept-1"})
        assert [row["orderStatus"] for row in found["result"]["list"]] == ["Filled"]
        assert len(again.fetch_my_trades("BTC/USDT:USDT")) == 1 and again.fetch_my_trades("BTC/USDT") == []
        with pytest.raises(ccxt.InvalidOrder, match="110072"):  # an orderLinkId is never reused, restart or not
            again.create_order("BTC/USDT:USDT", "market", "buy", 0.01, None, {"clientOrderId": "lin-kept-1"})
        again.create_order("BTC/USDT:USDT", "market", "sell", 0.01, None, {"clientOrderId": "lin-close-1", "reduceOnly": True})
        assert again.fetch_positions(["BTC/USDT:USDT"])[0]["contracts"] == 0.0
