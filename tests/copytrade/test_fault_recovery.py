"""What the fault soak (tests/soak/) found, each pinned down here.

- A Redis that is restarting made `execute_copied_trade` and `fan_out_leader_trade` fail
  outright, leaving the copied trade to the sweeper minutes later: they retry now. Tasks run
  eagerly here (`apply`): a retry runs again at once, in this process.
- A copied trade waiting for the earlier one of its copy looked stuck to the sweeper, which
  started one more polling chain for it at every sweep.
- A killed worker's rows stayed executing for minutes (issue 15): leases, the sweeper's
  rules and the fencing of a run that was taken over (the kill itself: test_worker_kill.py).
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
    copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("50")
    )
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


# --- Leases (issue 15): a dead worker's rows come back in seconds --------------------------


def test_the_sweeper_takes_back_a_row_as_soon_as_its_lease_ends_and_leaves_a_held_one(sim, leader_trade, monkeypatch, settings):
    monkeypatch.setattr(fanout, "copied_trades_enqueue", lambda ids: None)
    monkeypatch.setattr(fanout, "execution_queue_length", lambda: 3)  # a backlog in the broker
    submit(leader_trade.strategy, "t2", "buy", amount="0.05", price="65000")
    dead, held = (leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids[0] for trade in LeaderTrade.objects.order_by("sequence"))
    now = timezone.now()
    CopiedTrade.objects.filter(pk=dead).update(status="executing", attempts=1, lease_expires_at=now - timedelta(milliseconds=1))
    CopiedTrade.objects.filter(pk=held).update(status="executing", attempts=1, lease_expires_at=now + timedelta(seconds=5))

    swept = copied_trades_sweep()

    # the ended lease is taken back at once (no 120 s grace); its old holder is fenced out
    assert swept.copied_trade_ids == [dead]
    row = CopiedTrade.objects.get(pk=dead)
    assert (row.status, row.attempts, row.lease_expires_at) == ("executing", 2, None)
    # and, re-enqueued and not yet picked up, it is not sent again while the queue drains
    assert copied_trades_sweep().copied_trade_ids == []


def test_an_unpicked_row_comes_back_once_the_queue_is_empty_and_not_while_it_drains(sim, leader_trade, monkeypatch, settings):
    monkeypatch.setattr(fanout, "copied_trades_enqueue", lambda ids: None)
    settings.COPYTRADE_UNSTARTED_AFTER_SECONDS = 10
    [row_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids
    CopiedTrade.objects.filter(pk=row_id).update(enqueued_at=timezone.now() - timedelta(seconds=11))

    # a queue that still holds messages: the row may be one of them
    monkeypatch.setattr(fanout, "execution_queue_length", lambda: 500)
    assert copied_trades_sweep().copied_trade_ids == []
    # a broker that cannot say: the same
    monkeypatch.setattr(fanout, "execution_queue_length", lambda: None)
    assert copied_trades_sweep().copied_trade_ids == []
    # an empty queue: its message went to a worker that never started it
    monkeypatch.setattr(fanout, "execution_queue_length", lambda: 0)
    assert copied_trades_sweep().copied_trade_ids == [row_id]


def test_a_message_that_is_not_the_holders_leaves_a_held_row_alone(sim, leader_trade, monkeypatch):
    # given a row whose run waits (rate limit) with its message re-sent
    [row_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids
    monkeypatch.setattr(execution, "_order_slot", lambda account: 2.0)
    waiting = copied_trade_execute(copied_trade_id=row_id)
    monkeypatch.undo()
    assert (waiting.retry_in, waiting.token) == (2.0, 0)

    # when a duplicate (a redelivery, a late message of a replaced chain) runs first
    duplicate = copied_trade_execute(copied_trade_id=row_id)
    stale = copied_trade_execute(copied_trade_id=row_id, token=7)

    # then it ends without touching the row; the holder's own message fills it
    assert duplicate == stale == execution.ExecutionOutcome(status="pending")
    assert copied_trade_execute(copied_trade_id=row_id, token=waiting.token).status == "filled"
    assert len(sim.orders()) == 1


def test_a_run_whose_row_was_taken_over_neither_sends_again_nor_records(sim, leader_trade, monkeypatch):
    # given an order whose outcome is unknown (a 503: the run looks it up, then places it again)
    [row_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids
    sim.set_faults(queue=["503"], match=["POST /api/v3/order"])
    monkeypatch.setattr(execution, "LEASE_FRESH_SECONDS", -1.0)  # renew before every further call
    renew, calls = execution._lease_renew, []

    def taken_over_before_the_second_call(run, *, token):
        if calls:  # the sweeper takes the row over while the run is between two exchange calls
            CopiedTrade.objects.filter(pk=run.trade.pk).update(attempts=token + 1, lease_expires_at=None)
        calls.append(token)
        return renew(run, token=token)

    monkeypatch.setattr(execution, "_lease_renew", taken_over_before_the_second_call)

    outcome = copied_trade_execute(copied_trade_id=row_id)

    # then the run stopped at its renewal: one order attempt (refused), nothing recorded
    assert len(calls) == 2
    assert outcome == execution.ExecutionOutcome(status="executing")
    row = CopiedTrade.objects.get(pk=row_id)
    assert (row.status, row.attempts, row.filled_amount) == ("executing", 2, 0)
    assert sim.orders() == []
