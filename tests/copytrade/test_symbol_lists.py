"""A copy's list of markets (allow-only or deny), over the wire to the loopback simulator:
entries the list leaves out are skipped with the reason in words and reach no exchange;
exits of what the copy holds always follow the leader, whatever the list says now."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, Copy, Strategy
from copytrade.reasons import copied_trade_reason_text
from copytrade.services.copies import copy_start, copy_update
from copytrade.services.leader_trades import LeaderSignal, leader_signal_submit
from core.models import Notification
from tests.copytrade import market_moves_to, signal_only_strategy, simulator_account, submit
from tests.copytrade.test_execution import run_engine

pytestmark = pytest.mark.django_db

BASE = "/api/copy-trading"


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    simulated_binance.set_price(symbol="ETH/USDT", price="3500")
    return simulated_binance


@pytest.fixture
def strategy(owner, sim):
    return signal_only_strategy(owner, capital="100000")


def _eth(strategy: Strategy, external_id: str, action: str, **size):
    market_moves_to("3500", symbol="ETH/USDT")
    signal = LeaderSignal(
        external_id=external_id, symbol="ETH/USDT", action=action, price=Decimal("3500"), **{k: Decimal(v) for k, v in size.items()}
    )
    return leader_signal_submit(strategy_id=strategy.pk, signal=signal, source=Strategy.Source.API)


def _start(sim, follower, strategy, **options) -> Copy:
    account = simulator_account(sim, follower, usdt="10000")
    return copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("50"), **options
    )


def _outcomes(copy) -> list[tuple[str, str, str]]:
    return [(t.symbol, t.status, t.reason) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]


def test_an_allow_list_copies_only_its_markets_and_skips_the_rest_with_the_reason(sim, strategy, follower):
    copy = _start(sim, follower, strategy, symbol_list_mode="allow", symbol_list=["ethusdt"])
    assert copy.symbol_list == ["ETH/USDT"]  # resolved on the copy's exchange

    submit(strategy, "b1", "buy", amount="1", price="65000")
    _eth(strategy, "e1", "buy", amount="10")
    run_engine()

    assert _outcomes(copy) == [("BTC/USDT", "skipped", "symbol_not_allowed"), ("ETH/USDT", "filled", "")]
    assert [order["symbol"] for order in sim.orders(api_key=copy.exchange_account.api_key)] == ["ETHUSDT"]
    skipped = CopiedTrade.objects.get(copy=copy, symbol="BTC/USDT")
    assert copied_trade_reason_text(skipped) == (
        "BTC/USDT is not on your copy's list of markets to copy; what the copy already holds there still follows the leader's exits"
    )
    # the follower chose it: no notification for each market left out
    assert not Notification.objects.filter(user=follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED).exists()


def test_a_market_denied_while_the_copy_holds_it_still_follows_the_leaders_exits(sim, strategy, follower):
    copy = _start(sim, follower, strategy)
    submit(strategy, "b1", "buy", amount="1", price="65000")
    run_engine()

    copy_update(follower=follower, copy_id=copy.pk, data={"symbol_list_mode": "deny", "symbol_list": ["BTC/USDT"]})
    submit(strategy, "b2", "buy", amount="1", price="65000")
    submit(strategy, "b3", "sell", fraction="0.5", price="65000")
    submit(strategy, "b4", "close", price="65000")
    run_engine()

    assert [(status, reason) for _, status, reason in _outcomes(copy)] == [
        ("filled", ""),
        ("skipped", "symbol_not_allowed"),
        ("filled", ""),
        ("filled", ""),
    ]
    assert [order["side"] for order in sim.orders(api_key=copy.exchange_account.api_key)] == ["BUY", "SELL", "SELL"]
    assert copy.positions.get(symbol="BTC/USDT").quantity == 0


def test_a_market_the_exchange_does_not_list_is_refused_with_400_and_nothing_changes(client_for, sim, strategy, follower):
    copy = _start(sim, follower, strategy)
    before = Copy.objects.filter(pk=copy.pk).values().get()
    client = client_for(follower)

    patched = client.patch(f"{BASE}/copies/{copy.pk}", {"symbol_list_mode": "allow", "symbol_list": ["NOPE/USDT"]}, format="json")
    checked = client.post(f"{BASE}/copies/{copy.pk}/check", {"symbol_list_mode": "allow", "symbol_list": ["NOPE/USDT"]}, format="json")
    no_mode = client.patch(f"{BASE}/copies/{copy.pk}", {"symbol_list": ["BTC/USDT"]}, format="json")
    empty = client.patch(f"{BASE}/copies/{copy.pk}", {"symbol_list_mode": "allow", "symbol_list": []}, format="json")

    assert (patched.status_code, checked.status_code, no_mode.status_code, empty.status_code) == (400, 400, 400, 400)
    assert "NOPE/USDT" in str(patched.json()) and patched.json() == checked.json()
    assert "allow" in str(no_mode.json()) and "at least one market" in str(empty.json())
    assert Copy.objects.filter(pk=copy.pk).values().get() == before


def test_the_api_starts_a_copy_with_a_deny_list_and_the_check_says_what_a_change_does(client_for, sim, strategy, follower):
    account = simulator_account(sim, follower, usdt="10000")
    client = client_for(follower)

    started = client.post(
        f"{BASE}/start",
        {
            "strategy_id": strategy.pk,
            "exchange_account_id": account.pk,
            "allocation_percent": "20",
            "symbol_list_mode": "deny",
            "symbol_list": ["SOL/USDT", "eth-usdt"],
        },
        format="json",
    )

    assert started.status_code == 201, started.json()
    assert (started.json()["symbol_list_mode"], started.json()["symbol_list"]) == ("deny", ["ETH/USDT", "SOL/USDT"])
    checked = client.post(
        f"{BASE}/copies/{started.json()['id']}/check", {"symbol_list_mode": "allow", "symbol_list": ["BTC/USDT"]}, format="json"
    )
    assert checked.json() == {"changes": ["From the next trade only BTC/USDT is copied"]}
    cleared = client.patch(f"{BASE}/copies/{started.json()['id']}", {"symbol_list_mode": ""}, format="json")
    assert (cleared.json()["symbol_list_mode"], cleared.json()["symbol_list"]) == ("", [])
