"""Exchange sync: the leader's own fills at the exchange become leader trades, once each."""

from decimal import Decimal

import pytest

from copytrade.models import LeaderPosition, LeaderTrade, Strategy
from copytrade.services.exchange_sync import strategies_exchange_sync, strategy_exchange_sync
from copytrade.services.strategies import strategy_create, strategy_update
from exchanges.gateways import gateway_for_account
from exchanges.gateways.ccxt_gateway import clear_caches
from tests.copytrade import record_fan_outs, simulator_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def fan_outs(monkeypatch):
    return record_fan_outs(monkeypatch)


@pytest.fixture
def leader_account(owner, simulated_binance):
    return simulator_account(simulated_binance, owner, usdt="10000")


@pytest.fixture
def strategy(owner, leader_account):
    return strategy_create(owner=owner, name="Synced", leader_account_id=leader_account.pk, source=Strategy.Source.EXCHANGE_SYNC)


def _trade_at_the_exchange(account, side: str, amount: str, client_order_id: str):
    """The leader trades on their own, outside the platform."""
    return gateway_for_account(account).create_order(symbol="BTC/USDT", side=side, amount=Decimal(amount), client_order_id=client_order_id)


def _synced_strategy_after_history(owner, account) -> Strategy:
    """An exchange-sync strategy created after the account's fills so far. The exchange's
    clock has millisecond resolution, so the cursor is put explicitly past the last one."""
    strategy = strategy_create(owner=owner, name="Late", leader_account_id=account.pk, source=Strategy.Source.EXCHANGE_SYNC)
    last_fill = gateway_for_account(account).fetch_my_trades(symbol="BTC/USDT")[-1]
    strategy.sync_cursor_ms = max(strategy.sync_cursor_ms, int(last_fill.timestamp.timestamp() * 1000) + 1)
    strategy.save(update_fields=["sync_cursor_ms"])
    return strategy


def test_it_records_each_new_fill_once_however_often_the_sync_runs(
    strategy, leader_account, simulated_binance, fan_outs, django_capture_on_commit_callbacks
):
    simulated_binance.set_price(symbol="BTC/USDT", price="64000")
    bought = _trade_at_the_exchange(leader_account, "buy", "0.02", "manual-1")

    with django_capture_on_commit_callbacks(execute=True):
        first_run = strategy_exchange_sync(strategy_id=strategy.pk)
        second_run = strategy_exchange_sync(strategy_id=strategy.pk)

    assert (first_run, second_run) == (1, 0)
    trade = LeaderTrade.objects.get()
    fills = [fill for fill in gateway_for_account(leader_account).fetch_my_trades(symbol="BTC/USDT")]
    assert trade.external_id == fills[0].trade_id
    assert trade.exchange_order_id == bought.exchange_order_id
    assert (trade.source, trade.effect, trade.side, trade.amount, trade.price) == (
        "exchange_sync",
        "open",
        "buy",
        Decimal("0.02"),
        Decimal("64000"),
    )
    assert trade.fee == Decimal("1.28")
    assert fan_outs == [trade.pk]


def test_it_follows_the_leader_through_increase_reduce_and_close(strategy, leader_account, simulated_binance, fan_outs):
    _trade_at_the_exchange(leader_account, "buy", "0.02", "m1")
    strategy_exchange_sync(strategy_id=strategy.pk)
    _trade_at_the_exchange(leader_account, "buy", "0.02", "m2")
    _trade_at_the_exchange(leader_account, "sell", "0.01", "m3")
    strategy_exchange_sync(strategy_id=strategy.pk)
    # The leader sold everything: the account holds no BTC any more, and the sync must
    # still look at the market of the position it knows about.
    _trade_at_the_exchange(leader_account, "sell", "0.03", "m4")

    strategy_exchange_sync(strategy_id=strategy.pk)
    strategy_exchange_sync(strategy_id=strategy.pk)

    effects = list(LeaderTrade.objects.order_by("sequence").values_list("effect", "amount"))
    assert effects == [
        ("open", Decimal("0.02")),
        ("increase", Decimal("0.02")),
        ("reduce", Decimal("0.01")),
        ("close", Decimal("0.03")),
    ]
    assert LeaderPosition.objects.get(strategy=strategy).quantity == 0


def test_it_ignores_fills_from_before_the_strategy_synced(owner, leader_account, simulated_binance, fan_outs):
    _trade_at_the_exchange(leader_account, "buy", "0.02", "history")
    strategy = _synced_strategy_after_history(owner, leader_account)

    recorded = strategy_exchange_sync(strategy_id=strategy.pk)

    assert recorded == 0
    assert LeaderTrade.objects.count() == 0


def test_it_mirrors_only_what_the_strategy_holds_when_the_leader_sells_older_coins(owner, leader_account, simulated_binance, fan_outs):
    _trade_at_the_exchange(leader_account, "buy", "0.05", "history")
    strategy = _synced_strategy_after_history(owner, leader_account)
    _trade_at_the_exchange(leader_account, "buy", "0.01", "new")
    strategy_exchange_sync(strategy_id=strategy.pk)

    _trade_at_the_exchange(leader_account, "sell", "0.04", "sell-old-and-new")
    strategy_exchange_sync(strategy_id=strategy.pk)

    assert list(LeaderTrade.objects.order_by("sequence").values_list("effect", "amount")) == [
        ("open", Decimal("0.01")),
        ("close", Decimal("0.01")),
    ]


def test_the_beat_run_syncs_running_exchange_sync_strategies_only(owner, strategy, leader_account, simulated_binance, fan_outs):
    _trade_at_the_exchange(leader_account, "buy", "0.02", "m1")

    assert strategies_exchange_sync() == 1
    _trade_at_the_exchange(leader_account, "buy", "0.02", "m2")
    strategy_update(owner=owner, strategy_id=strategy.pk, data={"status": "paused"})
    assert strategies_exchange_sync() == 0
    assert LeaderTrade.objects.count() == 1


def test_a_failing_exchange_does_not_stop_the_beat_run(strategy, leader_account, simulated_binance, fan_outs):
    _trade_at_the_exchange(leader_account, "buy", "0.02", "m1")
    simulated_binance.set_faults(rates={"5xx": 1.0})

    assert strategies_exchange_sync() == 0

    simulated_binance.set_faults(rates={"5xx": 0.0})
    assert strategies_exchange_sync() == 1


def test_it_skips_a_sync_already_running_for_the_strategy(strategy, leader_account, simulated_binance, fan_outs):
    from core.locks import held_lock

    _trade_at_the_exchange(leader_account, "buy", "0.02", "m1")
    with held_lock(f"exchange-sync:{strategy.pk}", timeout=60) as held:  # a sync still running
        assert held
        assert strategy_exchange_sync(strategy_id=strategy.pk) == 0
    assert strategy_exchange_sync(strategy_id=strategy.pk) == 1


def _leader_paying_fees_in(simulated_binance, owner, commission_asset: str, *, bnb: str = "0"):
    """A leader account on a simulated Binance that charges fees in `commission_asset`."""
    simulated_binance.reset(commission_asset=commission_asset)
    clear_caches()
    account = simulator_account(simulated_binance, owner, usdt="10000")
    simulated_binance.set_balances(api_key=account.api_key, balances={"BNB": bnb})
    strategy = strategy_create(owner=owner, name="Synced", leader_account_id=account.pk, source=Strategy.Source.EXCHANGE_SYNC)
    return account, strategy


def test_a_buy_whose_fee_is_taken_in_the_base_coin_records_that_fee_in_the_quote_and_holds_only_what_was_received(
    owner, simulated_binance, fan_outs
):
    # given Binance's default: a buy pays its fee in the coin bought
    account, strategy = _leader_paying_fees_in(simulated_binance, owner, "received")
    simulated_binance.set_price(symbol="BTC/USDT", price="64000")
    _trade_at_the_exchange(account, "buy", "0.02", "base-fee-buy")

    strategy_exchange_sync(strategy_id=strategy.pk)

    # then the fee (0.1 % of 0.02 BTC = 0.00002 BTC) is recorded at the fill's price, the
    # trade keeps the filled amount (what followers mirror) and the position what arrived
    trade = LeaderTrade.objects.get()
    assert (trade.amount, trade.fee, trade.position_after) == (Decimal("0.02"), Decimal("1.28"), Decimal("0.01998"))
    position = LeaderPosition.objects.get(strategy=strategy)
    assert position.quantity == Decimal("0.01998") == gateway_for_account(account).holding("BTC/USDT")
    assert position.realized_pnl == Decimal("-1.28")


def test_selling_all_a_base_fee_buy_left_closes_the_leaders_position(owner, simulated_binance, fan_outs):
    account, strategy = _leader_paying_fees_in(simulated_binance, owner, "received")
    _trade_at_the_exchange(account, "buy", "0.02", "base-fee-buy")
    strategy_exchange_sync(strategy_id=strategy.pk)

    _trade_at_the_exchange(account, "sell", "0.01998", "sell-all")
    strategy_exchange_sync(strategy_id=strategy.pk)

    assert list(LeaderTrade.objects.order_by("sequence").values_list("effect", "amount")) == [
        ("open", Decimal("0.02")),
        ("close", Decimal("0.01998")),
    ]
    assert LeaderPosition.objects.get(strategy=strategy).quantity == 0


def test_a_fee_paid_in_bnb_is_recorded_in_the_quote_at_the_exchanges_bnb_price(owner, simulated_binance, fan_outs):
    account, strategy = _leader_paying_fees_in(simulated_binance, owner, "bnb", bnb="1")
    simulated_binance.set_price(symbol="BTC/USDT", price="64000")
    simulated_binance.set_price(symbol="BNB/USDT", price="640")
    _trade_at_the_exchange(account, "buy", "0.02", "bnb-fee-buy")

    strategy_exchange_sync(strategy_id=strategy.pk)

    # 0.1 % of 1,280 USDT = 1.28 USDT = 0.002 BNB at 640: recorded as 0.002 × 640
    fill = gateway_for_account(account).fetch_my_trades(symbol="BTC/USDT")[-1]
    assert (fill.fee, fill.fee_currency) == (Decimal("0.002"), "BNB")
    trade = LeaderTrade.objects.get()
    assert (trade.amount, trade.fee, trade.position_after) == (Decimal("0.02"), Decimal("1.28"), Decimal("0.02"))
    assert LeaderPosition.objects.get(strategy=strategy).quantity == Decimal("0.02")
