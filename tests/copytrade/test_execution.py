"""The copy engine run in this process against the loopback simulator: fan-out, sizing,
risk checks, positions and P&L, copy stop-loss, unknown outcomes, bad credentials.

Leader trades go through `leader_signal_submit` (the REST/webhook service); the engine's
services are then called directly (`run_engine`), as the Celery tasks call them. The
real-worker tests are in test_fanout_worker.py.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings as settings_module
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from copytrade import rows
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade
from copytrade.services import fanout
from copytrade.services.copies import copy_pause, copy_start, copy_stop
from copytrade.services.execution import ExecutionOutcome, copied_trade_execute, copied_trade_give_up
from copytrade.services.fanout import leader_trade_fan_out
from copytrade.services.strategies import strategy_create
from copytrade.services.sweeper import copied_trades_sweep
from copytrade.tasks import execute_copied_trade
from core.models import Notification
from exchanges.gateways.ccxt_gateway import clear_caches
from exchanges.models import ExchangeAccount
from tests.copytrade import signal_only_strategy, simulator_account, submit

pytestmark = pytest.mark.django_db

OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0  # prices change between steps of a test
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


@pytest.fixture
def strategy(owner, sim):
    return signal_only_strategy(owner, capital="100000")


def start_copy(sim, user, strategy, *, usdt: str = "10000", **options) -> Copy:
    account = simulator_account(sim, user, usdt=usdt)
    return copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, **options)


def run_engine(max_rounds: int = 20) -> None:
    """Fan out unfinished leader trades and execute open copied trades, in order, until none is left."""
    for _ in range(max_rounds):
        unfanned = list(
            LeaderTrade.objects.filter(fanout_done_at__isnull=True).order_by("strategy_id", "sequence").values_list("id", flat=True)
        )
        for leader_trade_id in unfanned:
            leader_trade_fan_out(leader_trade_id=leader_trade_id)
        open_ids = list(CopiedTrade.objects.filter(status__in=OPEN).order_by("copy_id", "sequence").values_list("id", flat=True))
        if not unfanned and not open_ids:
            return
        for copied_trade_id in open_ids:
            copied_trade_execute(copied_trade_id=copied_trade_id)
    raise AssertionError(f"the engine did not settle: {list(CopiedTrade.objects.filter(status__in=OPEN).values('id', 'status'))}")


def orders_of(sim, copy) -> list[tuple[str, Decimal]]:
    return [(o["side"], Decimal(o["amount"])) for o in sim.orders(api_key=copy.exchange_account.api_key)]


def copied(copy) -> list[tuple]:
    return [(t.kind, t.effect, t.status, t.reason, t.filled_amount) for t in CopiedTrade.objects.filter(copy=copy).order_by("sequence")]


def test_it_mirrors_a_leader_position_from_open_to_close_with_realised_pnl(sim, strategy, follower):
    # given a follower copying 50 % of 10,000 USDT against a 100,000 USDT leader
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))

    # when the leader opens, increases, reduces by 40 % and closes
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    sim.set_price(symbol="BTC/USDT", price="66000")
    submit(strategy, "t2", "buy", amount="0.5", price="66000")
    run_engine()
    sim.set_price(symbol="BTC/USDT", price="67000")
    submit(strategy, "t3", "sell", fraction="0.4", price="67000")
    run_engine()
    sim.set_price(symbol="BTC/USDT", price="64000")
    submit(strategy, "t4", "close", price="64000")
    run_engine()

    # then: open 3250 USDT = 0.05 BTC; increase 33000 × (5000 − 3.25 fee) / 100000 at 66000
    # = 0.02498 BTC; reduce 40 % of 0.07498 = 0.02999; close the remaining 0.04499
    assert orders_of(sim, copy) == [
        ("BUY", Decimal("0.05")),
        ("BUY", Decimal("0.02498")),
        ("SELL", Decimal("0.02999")),
        ("SELL", Decimal("0.04499")),
    ]
    assert [row[2] for row in copied(copy)] == ["filled"] * 4
    assert FollowerPosition.objects.get(copy=copy).quantity == 0
    copy.refresh_from_db()
    usdt = Decimal(sim.account(api_key=copy.exchange_account.api_key)["balances"]["USDT"]["free"])
    assert abs(copy.realized_pnl - (usdt - Decimal("10000"))) < Decimal("0.0000001")
    assert copy.realized_pnl == sum(t.pnl_billing for t in CopiedTrade.objects.filter(copy=copy))
    assert copy.copy_equity == copy.copy_capital + copy.realized_pnl


def test_it_runs_the_copy_stop_loss_closing_positions_and_pausing_the_copy(sim, strategy, follower, django_capture_on_commit_callbacks):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), max_drawdown_stop=Decimal("20"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    # when the price falls 38 % and the leader buys more there
    sim.set_price(symbol="BTC/USDT", price="40000")
    submit(strategy, "t2", "buy", amount="1", price="40000")
    with django_capture_on_commit_callbacks(execute=True):
        run_engine()
    # (the stop-loss trips once the fill that crossed it has committed; its closes follow)
    run_engine()

    # then the copy is ~25 % down from its peak: it is paused and everything it held is sold
    copy.refresh_from_db()
    assert copy.status == Copy.Status.PAUSED
    assert copy.pause_reason == Copy.PauseReason.STOP_LOSS
    assert copy.pause_detail["drawdown_percent"].startswith("25.") and copy.pause_detail["limit_percent"] == str(copy.max_drawdown_stop)
    assert copy.current_drawdown_percent >= copy.max_drawdown_stop
    assert [row[:3] for row in copied(copy)] == [
        ("mirror", "open", "filled"),
        ("mirror", "increase", "filled"),
        ("stop_loss", "close", "filled"),
    ]
    assert orders_of(sim, copy)[-1] == ("SELL", Decimal("0.09996"))
    assert FollowerPosition.objects.get(copy=copy).quantity == 0
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_STOP_LOSS).count() == 1
    assert [m.to for m in mail.outbox] == [[follower.email]]

    # and a paused copy takes no new entries
    submit(strategy, "t3", "buy", amount="1", price="40000")
    run_engine()
    assert CopiedTrade.objects.filter(copy=copy).count() == 3


def test_the_slippage_guard_skips_an_entry_but_never_an_exit(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    submit(strategy, "t2", "buy", amount="1", price="65000")
    submit(strategy, "t3", "sell", fraction="0.5", price="65000")
    # the follower's price is 1.5 % away from the leader's fills (the copy allows 1 %)
    sim.set_price(symbol="BTC/USDT", price="65975")
    run_engine()

    assert [row[1:4] for row in copied(copy)] == [
        ("open", "filled", ""),
        ("increase", "skipped", "slippage_exceeded"),
        ("reduce", "filled", ""),
    ]
    assert orders_of(sim, copy) == [("BUY", Decimal("0.05")), ("SELL", Decimal("0.025"))]


def test_a_skipped_entry_tells_the_follower_once_with_the_reason(sim, strategy, follower, django_capture_on_commit_callbacks):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))

    with django_capture_on_commit_callbacks(execute=True):
        submit(strategy, "t1", "buy", amount="1", price="65000")
        sim.set_price(symbol="BTC/USDT", price="65975")  # 1.5 % from the leader's fill; the copy allows 1 %
        run_engine()
        # a redelivered task finds the row done and tells nobody again
        copied_trade_execute(copied_trade_id=CopiedTrade.objects.get(copy=copy).pk)

    [notification] = Notification.objects.filter(user=follower).exclude(kind=Notification.Kind.COPY_STARTED)
    assert notification.kind == Notification.Kind.COPIED_TRADE_SKIPPED
    assert notification.title == f"Not copied: its buy of BTC/USDT (trade #1) of '{strategy.name}'"
    assert notification.body == (
        f"Skipped on '{copy.exchange_account.label}': The price (65,975) had moved 1.5 % from the leader's (65,000), "
        "more than your slippage limit of 1 %."
    )
    assert mail.outbox == []  # nothing to act on: a skip is told in the app only, unless the follower asks for mail


def test_it_skips_insufficient_margin_while_the_leaders_own_trade_is_unaffected(sim, owner, follower):
    leader_account = simulator_account(sim, owner, label="Leader", usdt="100000")
    strategy = strategy_create(owner=owner, name="Linked", leader_account_id=leader_account.pk, is_public_leader=True)
    copy = start_copy(sim, follower, strategy, usdt="100", sizing_mode="fixed", fixed_notional=Decimal("500"))

    outcome = submit(strategy, "t1", "buy", amount="0.1", price=None)
    run_engine()

    leader_orders = sim.orders(api_key=leader_account.api_key)
    assert [(o["side"], o["amount"], o["status"]) for o in leader_orders] == [("BUY", "0.1", "FILLED")]
    assert outcome.trades[0].amount == Decimal("0.1")
    assert [row[2:4] for row in copied(copy)] == [("skipped", "insufficient_margin")]
    assert orders_of(sim, copy) == []
    told = Notification.objects.get(user=follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED).body
    assert told == "Skipped on 'Binance': Your account did not have enough free balance for the order."


def test_a_paused_copy_still_mirrors_exits_but_no_entries(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    copy_pause(follower=follower, copy_id=copy.pk)

    submit(strategy, "t2", "buy", amount="1", price="65000")
    submit(strategy, "t3", "sell", fraction="0.4", price="65000")
    submit(strategy, "t4", "close", price="65000")
    run_engine()

    assert [row[1:3] for row in copied(copy)] == [("open", "filled"), ("reduce", "filled"), ("close", "filled")]
    assert orders_of(sim, copy) == [("BUY", Decimal("0.05")), ("SELL", Decimal("0.02")), ("SELL", Decimal("0.03"))]
    assert FollowerPosition.objects.get(copy=copy).quantity == 0


def test_stopping_a_copy_with_close_positions_sells_what_it_holds(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    copy_stop(follower=follower, copy_id=copy.pk, close_positions=True)
    run_engine()
    submit(strategy, "t2", "buy", amount="1", price="65000")  # a stopped copy mirrors nothing more
    run_engine()

    assert [row[:3] for row in copied(copy)] == [("mirror", "open", "filled"), ("close_on_stop", "close", "filled")]
    assert orders_of(sim, copy) == [("BUY", Decimal("0.05")), ("SELL", Decimal("0.05"))]


def test_fanning_out_twice_creates_each_copied_trade_once(sim, strategy, follower, stranger, monkeypatch):
    monkeypatch.setattr(fanout, "FAN_OUT_BATCH", 1)  # one batch per copy
    start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    start_copy(sim, stranger, strategy, allocation_percent=Decimal("50"))
    trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]

    first = leader_trade_fan_out(leader_trade_id=trade.pk)
    LeaderTrade.objects.filter(pk=trade.pk).update(fanout_done_at=None)  # as if the worker died before marking it
    second = leader_trade_fan_out(leader_trade_id=trade.pk)

    assert len(first.copied_trade_ids) == 2
    assert sorted(second.copied_trade_ids) == sorted(first.copied_trade_ids)
    assert CopiedTrade.objects.filter(leader_trade=trade).count() == 2


def test_an_unknown_outcome_is_looked_up_and_the_order_is_placed_again_only_once_it_cannot_exist(sim, strategy, follower, settings):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    [row_id] = leader_trade_fan_out(leader_trade_id=LeaderTrade.objects.get().pk).copied_trade_ids
    # a 503 before the order is taken: to ccxt that is an unknown outcome
    sim.set_faults(queue=["503"], match=["POST /api/v3/order"])

    waiting = copied_trade_execute(copied_trade_id=row_id)

    row = CopiedTrade.objects.get(pk=row_id)
    assert waiting.retry_in is not None and waiting.retry_in > 0
    assert (row.status, row.submitted_at is not None) == ("executing", True)
    assert sim.orders(api_key=copy.exchange_account.api_key) == []
    # the waiting run keeps the row: a message that is not its own (a duplicate) leaves it alone
    assert copied_trade_execute(copied_trade_id=row_id) == ExecutionOutcome(status="executing")
    again = copied_trade_execute(copied_trade_id=row_id, token=waiting.token)
    assert again.retry_in > 0  # still settling: not placed again

    settings.COPYTRADE_ORDER_SETTLE_SECONDS = 0  # the order can no longer arrive
    done = copied_trade_execute(copied_trade_id=row_id, token=again.token)

    assert done.status == "filled"
    assert sim.order_counts() == {row.client_order_id: 1}


def test_a_timeout_after_the_exchange_took_the_order_records_that_order(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    [row_id] = leader_trade_fan_out(leader_trade_id=LeaderTrade.objects.get().pk).copied_trade_ids
    sim.set_faults(queue=["timeout_after_accept"], match=["POST /api/v3/order"], timeout_mode="drop")

    outcome = copied_trade_execute(copied_trade_id=row_id)

    row = CopiedTrade.objects.get(pk=row_id)
    assert (outcome.status, row.filled_amount) == ("filled", Decimal("0.05"))
    assert row.exchange_order_id == str(sim.orders(api_key=copy.exchange_account.api_key)[0]["id"])
    assert sim.order_counts() == {row.client_order_id: 1}


def test_rejected_credentials_fail_the_trade_invalidate_the_account_and_pause_its_copies(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    sim.delete_account(api_key=copy.exchange_account.api_key)

    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    copy.refresh_from_db()
    account = ExchangeAccount.objects.get(pk=copy.exchange_account_id)
    assert [row[2:4] for row in copied(copy)] == [("failed", "invalid_credentials")]
    assert account.status == ExchangeAccount.Status.INVALID
    assert (copy.status, copy.pause_reason) == ("paused", Copy.PauseReason.INVALID_CREDENTIALS)
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.ACCOUNT_INVALID).count() == 1


def test_the_sweeper_re_enqueues_only_rows_stuck_longer_than_the_threshold(sim, strategy, follower):
    start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    [row_id] = leader_trade_fan_out(leader_trade_id=LeaderTrade.objects.get().pk).copied_trade_ids

    assert copied_trades_sweep().copied_trade_ids == []
    assert copied_trades_sweep(stuck_after=timedelta(0)).copied_trade_ids == [row_id]


def test_the_sweeper_re_enqueues_a_fan_out_that_never_finished(sim, strategy, follower):
    start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]

    swept = copied_trades_sweep(stuck_after=timedelta(0))
    leader_trade_fan_out(leader_trade_id=trade.pk)

    assert swept.leader_trade_ids == [trade.pk]
    assert copied_trades_sweep(stuck_after=timedelta(0)).leader_trade_ids == []


def test_an_exit_the_exchange_refuses_fails_with_its_reason_and_tells_the_follower(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    sim.set_balances(api_key=copy.exchange_account.api_key, balances={"BTC": "0"})  # sold by hand on the exchange

    submit(strategy, "t2", "close", price="65000")
    run_engine()

    assert [row[1:4] for row in copied(copy)] == [("open", "filled", ""), ("close", "failed", "insufficient_funds")]
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.COPIED_TRADE_FAILED).count() == 1


def test_max_order_notional_clamps_an_entry_rather_than_skipping_it(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("500"), max_order_notional=Decimal("100"))

    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    assert [row[2:] for row in copied(copy)] == [("filled", "clamped_to_max_order_notional", Decimal("0.00153"))]
    assert orders_of(sim, copy) == [("BUY", Decimal("0.00153"))]


def test_giving_up_fails_only_a_copied_trade_whose_order_was_never_sent(sim, strategy, follower, stranger):
    start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    start_copy(sim, stranger, strategy, allocation_percent=Decimal("50"))
    trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]
    never_sent, maybe_sent = leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids
    CopiedTrade.objects.filter(pk=maybe_sent).update(status="executing", submitted_at=timezone.now())

    assert copied_trade_give_up(copied_trade_id=never_sent) is True
    assert copied_trade_give_up(copied_trade_id=maybe_sent) is False  # the sweeper reconciles it by client order id
    assert CopiedTrade.objects.get(pk=never_sent).reason == "exchange_unavailable"
    assert CopiedTrade.objects.get(pk=maybe_sent).status == "executing"


def test_a_wait_resends_the_task_with_a_countdown_without_using_its_retry_budget(sim, strategy, follower):
    # given a copy whose first copied trade is still open: the second must wait for it
    start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    submit(strategy, "t2", "buy", amount="1", price="65000")
    fan_outs = [leader_trade_fan_out(leader_trade_id=t.pk) for t in LeaderTrade.objects.order_by("sequence")]
    second = fan_outs[1].copied_trade_ids[0]
    broker = redis.Redis.from_url(settings_module.REDIS_URL)
    broker.delete("execution")

    result = execute_copied_trade.apply(args=(second,), retries=3)

    [raw] = broker.lrange("execution", 0, -1)
    headers = json.loads(raw)["headers"]
    assert result.state == "RETRY"
    assert (headers["task"], headers["retries"], headers["eta"] is not None) == ("copytrade.tasks.execute_copied_trade", 3, True)
    assert CopiedTrade.objects.get(pk=second).status == "pending"


def test_a_follower_entry_costs_three_prepared_sql_statements_and_matches_what_the_orm_would_write(
    sim, strategy, follower, django_assert_num_queries
):
    """The per-follower hot path (bench/RESULTS.md): load (with the copy's position), claim
    with the submitted mark, and one statement writing the fill's position, copy and copied
    trade; each prepared once per connection and then only executed. Thirteen statements
    through the ORM cost three times the CPU, seven unprepared ones twice the database's;
    a new statement here is a choice, not an accident."""
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"))
    leader_trade = submit(strategy, "t1", "buy", amount="0.1", price="65000").trades[0]
    [copied_trade_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids

    with django_assert_num_queries(3) as captured:
        outcome = copied_trade_execute(copied_trade_id=copied_trade_id)

    assert [query["sql"].split()[0] for query in captured.captured_queries] == ["EXECUTE"] * 3

    assert outcome.status == CopiedTrade.Status.FILLED
    row = CopiedTrade.objects.get(pk=copied_trade_id)
    [order] = sim.orders(api_key=copy.exchange_account.api_key)
    assert (row.attempts, row.side, row.client_order_id, row.exchange_order_id) == (1, "buy", order["client_order_id"], str(order["id"]))
    assert row.requested_amount == row.filled_amount == Decimal(order["amount"])
    assert row.submitted_at <= row.acknowledged_at == row.finished_at and row.lease_expires_at is None
    position = FollowerPosition.objects.get(copy=copy, symbol="BTC/USDT")
    assert position.quantity == row.filled_amount and position.average_entry == row.average_price
    copy.refresh_from_db()
    assert copy.realized_pnl == row.pnl_billing == -row.fee < 0
    assert copy.copy_equity < copy.copy_capital and copy.updated_at >= row.finished_at


def test_a_follower_exit_also_costs_three_statements_no_field_the_load_leaves_out_is_read(
    sim, strategy, follower, django_assert_num_queries
):
    """The load selects only the fields an execution reads (execution_statements.LOAD_FIELDS):
    one it left out would be fetched by a query of its own, per order. An exit reads the
    position, the leader trade's reduce fraction and the copy's stop-loss figures."""
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"), stop_loss_percent=Decimal("50"))
    submit(strategy, "t1", "buy", amount="0.1", price="65000")
    run_engine()
    sim.set_price(symbol="BTC/USDT", price="66000")
    leader_trade = submit(strategy, "t2", "sell", amount="0.05", price="66000").trades[0]
    [copied_trade_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids

    with django_assert_num_queries(3):
        outcome = copied_trade_execute(copied_trade_id=copied_trade_id)

    assert outcome.status == CopiedTrade.Status.FILLED
    row = CopiedTrade.objects.get(pk=copied_trade_id)
    assert (row.side, row.effect, row.delay_ms is not None) == ("sell", LeaderTrade.Effect.REDUCE, True)
    position = FollowerPosition.objects.get(copy=copy, symbol="BTC/USDT")
    assert Decimal(0) < position.quantity < row.filled_amount * 2 and position.realized_pnl != 0


@pytest.mark.parametrize("inline_wait, expect_wait", [(1.0, False), (0.0, True)], ids=["slept in the thread", "re-sent later"])
def test_a_short_rate_limit_wait_is_slept_in_the_thread_and_a_long_one_resends_the_task(
    sim, strategy, owner, follower, settings, inline_wait, expect_wait
):
    # given one exchange account that may place one order every 0.3 s, copying two strategies
    settings.EXCHANGE_RATE_LIMITS = {**settings.EXCHANGE_RATE_LIMITS, "binance": {"account": (1, 0.3), "exchange": (1000, 1.0)}}
    settings.COPYTRADE_RATE_LIMIT_INLINE_WAIT_SECONDS = inline_wait
    other = signal_only_strategy(owner, capital="100000", name="Other")
    account = simulator_account(sim, follower, usdt="10000")
    for copied in (strategy, other):
        copy_start(
            follower=follower, strategy_id=copied.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("100")
        )
    ids = []
    for copied in (strategy, other):
        trade = submit(copied, "t1", "buy", amount="0.1", price="65000").trades[0]
        ids += leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids

    # when both execute back to back
    first = copied_trade_execute(copied_trade_id=ids[0])
    second = copied_trade_execute(copied_trade_id=ids[1])

    # then the second either waited for its token in the thread and filled, or was handed back
    # with the wait (nothing claimed, nothing sent) to be re-sent with a countdown
    assert first.status == CopiedTrade.Status.FILLED
    if expect_wait:
        assert (second.status, second.waiting_for) == (CopiedTrade.Status.PENDING, "a rate-limit token")
        assert 0 < second.retry_in <= 0.3
        assert CopiedTrade.objects.get(pk=ids[1]).attempts == 0 and len(sim.orders(api_key=account.api_key)) == 1
    else:
        assert (second.status, second.retry_in) == (CopiedTrade.Status.FILLED, None)
        first_ack, second_ack = (CopiedTrade.objects.get(pk=pk).acknowledged_at for pk in ids)
        assert (second_ack - first_ack).total_seconds() >= 0.2  # it did wait for the bucket
        assert len(sim.orders(api_key=account.api_key)) == 2


def test_a_fenced_write_that_changes_no_row_rolls_the_fill_back(sim, strategy, follower):
    """The fill writes position, copy and copied trade in one statement; each of its writes
    must change exactly one row, or nothing of it stays."""
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"))
    position = FollowerPosition(copy=copy, symbol="ETH/USDT", quantity=Decimal("1"), average_entry=Decimal("3000"))
    gone = CopiedTrade(pk=10**12, status=CopiedTrade.Status.FILLED)

    with pytest.raises(rows.FencedWriteLost), transaction.atomic():
        rows.save(position, along_with=[rows.update_statement(gone, ["status"])])

    assert not FollowerPosition.objects.filter(copy=copy, symbol="ETH/USDT").exists()


def _between_load_and_fill(monkeypatch, change) -> None:
    """Run `change()` while the order is at the exchange: after the run loaded its row, copy
    and position, before it records the fill (what a concurrent writer could do then)."""
    from exchanges.gateways.ccxt_gateway import CcxtGateway

    place = CcxtGateway.create_order

    def create_order(self, **kwargs):
        change()
        return place(self, **kwargs)

    monkeypatch.setattr(CcxtGateway, "create_order", create_order)


@pytest.mark.parametrize(
    "moved",
    [
        {"peak_equity": Decimal("12000")},  # a mark-to-market pass raised the peak
        {"copy_capital": Decimal("5000"), "peak_equity": Decimal("5000")},  # the follower resized the copy
        {"realized_pnl": Decimal("7")},
    ],
    ids=["peak", "capital", "realised P&L"],
)
def test_a_fill_is_recorded_from_the_copy_as_it_is_when_the_copy_moved_after_the_load(sim, strategy, follower, monkeypatch, moved):
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"))
    leader_trade = submit(strategy, "t1", "buy", amount="0.1", price="65000").trades[0]
    [copied_trade_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids
    _between_load_and_fill(monkeypatch, lambda: Copy.objects.filter(pk=copy.pk).update(**moved))

    outcome = copied_trade_execute(copied_trade_id=copied_trade_id)

    # then the fill was recorded once, computed from the copy's figures at the fill, not the load's
    assert outcome.status == CopiedTrade.Status.FILLED
    row = CopiedTrade.objects.get(pk=copied_trade_id)
    copy.refresh_from_db()
    position = FollowerPosition.objects.get(copy=copy)
    assert position.quantity == row.filled_amount and position.realized_pnl == row.pnl_quote == -row.fee
    assert copy.realized_pnl == moved.get("realized_pnl", Decimal(0)) + row.pnl_quote
    unrealised = (Decimal("65000") - position.average_entry) * position.quantity
    assert copy.copy_equity == (copy.copy_capital + copy.realized_pnl + unrealised).quantize(Decimal("0.00000001"))
    assert copy.peak_equity == max(moved.get("peak_equity", copy.copy_capital), copy.copy_equity)


def test_a_fill_moves_the_position_as_it_is_at_the_fill_if_it_changed_after_the_load(sim, strategy, follower, monkeypatch):
    # given a copy holding 0.01 BTC (its first trade filled)
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"))
    submit(strategy, "t1", "buy", amount="0.1", price="65000")
    run_engine()
    held = FollowerPosition.objects.get(copy=copy).quantity
    # when its position changes while the next entry's order is at the exchange (nothing in
    # the product does that outside a fill; the write must not lose it if anything ever does)
    second = submit(strategy, "t2", "buy", amount="0.1", price="65000").trades[0]
    [copied_trade_id] = leader_trade_fan_out(leader_trade_id=second.pk).copied_trade_ids
    _between_load_and_fill(monkeypatch, lambda: FollowerPosition.objects.filter(copy=copy).update(quantity=held + Decimal("1")))
    copied_trade_execute(copied_trade_id=copied_trade_id)

    # then the fill added to the position as it was at the fill
    row = CopiedTrade.objects.get(pk=copied_trade_id)
    assert row.status == CopiedTrade.Status.FILLED
    assert FollowerPosition.objects.get(copy=copy).quantity == held + Decimal("1") + row.filled_amount


def test_a_run_whose_row_was_taken_over_before_the_fill_writes_nothing(sim, strategy, follower, monkeypatch):
    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"))
    leader_trade = submit(strategy, "t1", "buy", amount="0.1", price="65000").trades[0]
    [copied_trade_id] = leader_trade_fan_out(leader_trade_id=leader_trade.pk).copied_trade_ids
    # the sweeper takes the row back (bumping attempts) while this run's order is out
    _between_load_and_fill(monkeypatch, lambda: CopiedTrade.objects.filter(pk=copied_trade_id).update(attempts=F("attempts") + 1))
    equity = copy.copy_equity

    outcome = copied_trade_execute(copied_trade_id=copied_trade_id)

    assert outcome.status == CopiedTrade.Status.EXECUTING
    row = CopiedTrade.objects.get(pk=copied_trade_id)
    assert (row.status, row.filled_amount, row.acknowledged_at) == (CopiedTrade.Status.EXECUTING, 0, None)
    assert not FollowerPosition.objects.filter(copy=copy).exists()
    copy.refresh_from_db()
    assert (copy.realized_pnl, copy.copy_equity) == (Decimal(0), equity)


def test_prepared_statements_are_prepared_again_on_a_new_connection_and_can_be_turned_off(
    sim, strategy, follower, settings, django_assert_num_queries
):
    from django.db import connection

    def prepared() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_prepared_statements")
            return {name for (name,) in cursor.fetchall()}

    copy = start_copy(sim, follower, strategy, sizing_mode="fixed", fixed_notional=Decimal("100"))
    trades = [submit(strategy, f"t{index}", "buy", amount="0.1", price="65000").trades[0] for index in range(3)]
    ids = [leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids[0] for trade in trades]
    # a connection that has prepared nothing yet (what a reconnect is)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    rows._prepared_on.clear()

    # a first run prepares its statements on the connection; the next run only executes them
    assert copied_trade_execute(copied_trade_id=ids[0]).status == CopiedTrade.Status.FILLED
    names = prepared()
    assert len(names) == 3 and all(name.startswith("ct_") for name in names)
    assert copied_trade_execute(copied_trade_id=ids[1]).status == CopiedTrade.Status.FILLED
    assert len(prepared()) == 4  # its fill updates the position the first one inserted: one more statement
    # planned once for any values, not per execution (plan_cache_mode, config/settings/base.py)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(custom_plans), sum(generic_plans) FROM pg_prepared_statements WHERE name LIKE 'ct%%'")
        custom, generic = cursor.fetchone()
    assert custom == 0 and generic >= 6, (custom, generic)
    # turned off, plain statements
    settings.DATABASE_PREPARED_STATEMENTS = False
    with django_assert_num_queries(3) as captured:
        assert copied_trade_execute(copied_trade_id=ids[2]).status == CopiedTrade.Status.FILLED
    assert [query["sql"].split()[0] for query in captured.captured_queries] == ["WITH", "UPDATE", "WITH"]
    assert FollowerPosition.objects.get(copy=copy).quantity == sum(
        CopiedTrade.objects.filter(pk__in=ids).values_list("filled_amount", flat=True), Decimal(0)
    )


def _copy_paying_fees_in(sim, follower, strategy, commission_asset: str, *, bnb: str = "0") -> Copy:
    sim.reset(commission_asset=commission_asset)
    clear_caches()
    sim.set_price(symbol="BTC/USDT", price="65000")
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"))
    sim.set_balances(api_key=copy.exchange_account.api_key, balances={"BNB": bnb})
    return copy


def _balance(sim, copy, asset: str) -> Decimal:
    return Decimal(sim.account(api_key=copy.exchange_account.api_key)["balances"].get(asset, {"free": "0"})["free"])


def test_a_copy_whose_buy_pays_its_fee_in_the_base_coin_holds_what_it_received_and_shows_pnl_net_of_that_fee(sim, strategy, follower):
    # given Binance's default: a buy pays its fee in the coin bought
    copy = _copy_paying_fees_in(sim, follower, strategy, "received")

    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    position = FollowerPosition.objects.get(copy=copy)
    entry = CopiedTrade.objects.get(copy=copy)

    # then the copy holds 0.05 BTC less the 0.00005 BTC fee, and that fee (at 65,000) is its P&L so far
    assert position.quantity == Decimal("0.04995") == _balance(sim, copy, "BTC")
    assert (entry.fee, entry.pnl_quote) == (Decimal("3.25"), Decimal("-3.25"))

    # when the leader closes, the copy sells exactly what it holds
    sim.set_price(symbol="BTC/USDT", price="66000")
    submit(strategy, "t2", "close", price="66000")
    run_engine()

    assert orders_of(sim, copy) == [("BUY", Decimal("0.05")), ("SELL", Decimal("0.04995"))]
    assert FollowerPosition.objects.get(copy=copy).quantity == 0 == _balance(sim, copy, "BTC")
    copy.refresh_from_db()
    assert copy.realized_pnl == _balance(sim, copy, "USDT") - Decimal("10000")


def test_a_copy_paying_its_fees_in_bnb_shows_pnl_net_of_them_at_the_bnb_price(sim, strategy, follower):
    # given a follower account that pays fees in BNB, at 650 USDT a BNB
    copy = _copy_paying_fees_in(sim, follower, strategy, "bnb", bnb="1")
    sim.set_price(symbol="BNB/USDT", price="650")

    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    sim.set_price(symbol="BTC/USDT", price="66000")
    submit(strategy, "t2", "close", price="66000")
    run_engine()

    # then each fill's fee is its BNB at 650: 3.25 USDT for the buy (0.005 BNB); the sale's
    # 3.30 USDT was charged as 0.00507692 BNB (8 places), so 3.299998
    assert list(CopiedTrade.objects.filter(copy=copy).order_by("sequence").values_list("fee", flat=True)) == [
        Decimal("3.25"),
        Decimal("3.299998"),
    ]
    bnb_spent = Decimal("1") - _balance(sim, copy, "BNB")
    assert bnb_spent == Decimal("0.005") + Decimal("0.00507692")
    copy.refresh_from_db()
    # and the P&L shown is what the account gained in USDT less the BNB it paid, at 650
    assert copy.realized_pnl == _balance(sim, copy, "USDT") - Decimal("10000") - bnb_spent * Decimal("650")
