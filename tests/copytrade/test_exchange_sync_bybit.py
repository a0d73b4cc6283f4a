"""Exchange sync of a leader whose linked account is on Bybit (v5 spot, over the wire against
the simulator's Bybit side): its own fills become leader trades once each, as a Binance
leader's do."""

from decimal import Decimal

import pytest

from copytrade.client_order_ids import copied_trade_client_order_id
from copytrade.models import LeaderPosition, LeaderTrade, Strategy
from copytrade.services.exchange_sync import strategy_exchange_sync
from copytrade.services.strategies import strategy_create
from exchanges.gateways import gateway_for_account
from exchanges.services import exchange_account_create
from tests.copytrade import record_fan_outs

pytestmark = pytest.mark.django_db


@pytest.fixture
def fan_outs(monkeypatch):
    return record_fan_outs(monkeypatch)


@pytest.fixture
def bybit_leader_account(owner, simulated_bybit):
    credentials = simulated_bybit.create_account(balances={"USDT": "10000"})
    return exchange_account_create(
        owner=owner, exchange_id="bybit", label="Bybit", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
    )


@pytest.fixture
def strategy(owner, bybit_leader_account):
    return strategy_create(
        owner=owner, name="Synced on Bybit", leader_account_id=bybit_leader_account.pk, source=Strategy.Source.EXCHANGE_SYNC
    )


def _trade_at_bybit(account, side: str, amount: str, order_link_id: str):
    """The leader trades on Bybit on their own, outside the platform."""
    return gateway_for_account(account).create_order(symbol="BTC/USDT", side=side, amount=Decimal(amount), client_order_id=order_link_id)


def test_a_bybit_leaders_fill_is_recorded_once_however_often_the_sync_runs(
    strategy, bybit_leader_account, simulated_bybit, fan_outs, django_capture_on_commit_callbacks
):
    simulated_bybit.set_price(symbol="BTC/USDT", price="64000")
    bought = _trade_at_bybit(bybit_leader_account, "buy", "0.0203", "manual-1")  # Bybit's lot: 0.0001 BTC

    with django_capture_on_commit_callbacks(execute=True):
        first_run = strategy_exchange_sync(strategy_id=strategy.pk)
        second_run = strategy_exchange_sync(strategy_id=strategy.pk)

    assert (first_run, second_run) == (1, 0)
    trade = LeaderTrade.objects.get()
    fills = gateway_for_account(bybit_leader_account).fetch_my_trades(symbol="BTC/USDT")
    assert [fill.client_order_id for fill in fills] == ["manual-1"]
    assert (trade.external_id, trade.exchange_order_id) == (fills[0].trade_id, bought.exchange_order_id)
    assert (trade.source, trade.effect, trade.side, trade.symbol, trade.amount, trade.price) == (
        "exchange_sync",
        "open",
        "buy",
        "BTC/USDT",
        Decimal("0.0203"),
        Decimal("64000"),
    )
    assert trade.fee == Decimal("1.2992")  # 0.1 % of 1,299.20 USDT
    assert fan_outs == [trade.pk]


def test_a_bybit_leader_is_followed_through_increase_reduce_and_close(strategy, bybit_leader_account, simulated_bybit, fan_outs):
    _trade_at_bybit(bybit_leader_account, "buy", "0.02", "m1")
    strategy_exchange_sync(strategy_id=strategy.pk)
    _trade_at_bybit(bybit_leader_account, "buy", "0.02", "m2")
    _trade_at_bybit(bybit_leader_account, "sell", "0.01", "m3")
    strategy_exchange_sync(strategy_id=strategy.pk)
    # Sold out: the account holds no BTC any more, and the sync still asks for the market of
    # the position it knows about.
    _trade_at_bybit(bybit_leader_account, "sell", "0.03", "m4")

    strategy_exchange_sync(strategy_id=strategy.pk)
    strategy_exchange_sync(strategy_id=strategy.pk)

    assert list(LeaderTrade.objects.order_by("sequence").values_list("effect", "amount")) == [
        ("open", Decimal("0.02")),
        ("increase", Decimal("0.02")),
        ("reduce", Decimal("0.01")),
        ("close", Decimal("0.03")),
    ]
    assert LeaderPosition.objects.get(strategy=strategy).quantity == 0


def test_a_bybit_leaders_equity_and_positions_are_read_from_its_unified_wallet(bybit_leader_account, simulated_bybit):
    simulated_bybit.set_price(symbol="BTC/USDT", price="60000")
    _trade_at_bybit(bybit_leader_account, "buy", "0.05", "hold-1")
    gateway = gateway_for_account(bybit_leader_account)

    assert [(position.symbol, position.quantity) for position in gateway.positions()] == [("BTC/USDT", Decimal("0.05"))]
    equity = gateway.equity("USDT")
    # 10,000 USDT less 3,000 and a 3 USDT fee, plus 0.05 BTC at 60,000
    assert (equity.free_quote, equity.equity) == (Decimal("6997"), Decimal("9997"))


def test_a_copy_order_on_the_bybit_leaders_account_is_told_apart_by_its_order_link_id(
    strategy, bybit_leader_account, simulated_bybit, fan_outs
):
    # ccxt parses a Bybit fill without its order's orderLinkId: the gateway reads it from the order.
    _trade_at_bybit(bybit_leader_account, "buy", "0.01", copied_trade_client_order_id(leader_trade_id=7, copy_id=3))
    _trade_at_bybit(bybit_leader_account, "buy", "0.02", "own-1")

    assert strategy_exchange_sync(strategy_id=strategy.pk) == 1
    assert list(LeaderTrade.objects.values_list("effect", "amount")) == [("open", Decimal("0.02"))]
