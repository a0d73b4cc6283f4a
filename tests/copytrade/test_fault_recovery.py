"""What the fault soak (tests/soak/) found, each pinned down here.

- A Redis that is restarting made `execute_copied_trade` and `fan_out_leader_trade` fail
  outright, leaving the copied trade to the sweeper minutes later: they retry now. Tasks run
  eagerly here (`apply`): a retry runs again at once, in this process.
- A copied trade waiting for the earlier one of its copy looked stuck to the sweeper, which
  started one more polling chain for it at every sweep.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailableError
from redis.exceptions import ConnectionError as RedisConnectionError

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services import execution, fanout
from copytrade.services.copies import copy_start
from copytrade.services.execution import copied_trade_execute
from copytrade.services.fanout import leader_trade_fan_out
from copytrade.services.sweeper import copied_trades_sweep
from copytrade.tasks import execute_copied_trade, fan_out_leader_trade
from tests.copytrade import signal_only_strategy, simulator_account, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(simulated_binance):
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


@pytest.fixture
def leader_trade(sim, owner, follower):
    strategy = signal_only_strategy(owner, capital="100000")
    account = simulator_account(sim, follower)
    copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("50"))
    return submit(strategy, "t1", "buy", amount="0.05", price="65000").trades[0]


def failing_once(monkeypatch, module, name: str, error: Exception) -> list[int]:
    """Make `module.name` raise `error` on its first call only; returns the call log."""
    real = getattr(module, name)
    calls: list[int] = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return calls


@pytest.mark.parametrize(
    "error",
    [RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), OperationalError("server closed the connection")],
    ids=["redis restarting", "database restarting"],
)
def test_an_execution_that_loses_redis_or_the_database_is_retried_and_fills(sim, leader_trade, monkeypatch, error):
    [copied_trade_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids
    calls = failing_once(monkeypatch, execution, "reserve_order_slot", error)

    result = execute_copied_trade.apply(args=(copied_trade_id,))

    assert result.successful(), result.traceback
    assert len(calls) == 2
    row = CopiedTrade.objects.get(pk=copied_trade_id)
    # The failed run had not claimed the row yet (a pending row is claimed by the submitted
    # mark, after the rate-limit token): one claim in all.
    assert (row.status, row.attempts) == ("filled", 1)
    assert len(sim.orders()) == 1


def test_a_fan_out_that_loses_the_broker_is_retried_and_enqueues_every_row(sim, leader_trade, monkeypatch):
    enqueued: list[list[int]] = []
    monkeypatch.setattr(fanout, "copied_trades_enqueue", enqueued.append)
    calls = failing_once(monkeypatch, fanout, "copied_trades_enqueue", BrokerUnavailableError("Error 111 connecting to 127.0.0.1:6379."))

    result = fan_out_leader_trade.apply(args=(leader_trade.pk,))

    assert result.successful(), result.traceback
    assert len(calls) == 2
    leader_trade.refresh_from_db()
    assert leader_trade.fanout_done_at is not None
    assert enqueued == [list(CopiedTrade.objects.filter(leader_trade=leader_trade).values_list("id", flat=True))]


def test_the_sweeper_leaves_alone_a_copied_trade_that_is_waiting_for_its_turn(sim, leader_trade, monkeypatch):
    # given two copied trades of one copy, both enqueued long ago; the first never ran (its
    # message was lost), the second's task is alive, polling for the first to finish
    monkeypatch.setattr(fanout, "copied_trades_enqueue", lambda ids: None)
    submit(leader_trade.strategy, "t2", "buy", amount="0.05", price="65000")
    first, second = (
        leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids[0] for trade in LeaderTrade.objects.order_by("sequence")
    )
    CopiedTrade.objects.update(enqueued_at=timezone.now() - timedelta(minutes=10))

    waiting = copied_trade_execute(copied_trade_id=second)
    swept = copied_trades_sweep(stuck_after=timedelta(minutes=2))

    # then only the first is re-enqueued; the second's own task finishes it
    assert waiting.retry_in is not None
    assert swept.copied_trade_ids == [first]
