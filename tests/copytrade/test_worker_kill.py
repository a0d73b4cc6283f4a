"""Recovery after an execution worker dies (issue 15): kill -9 one of two execution workers
during a fan-out to many followers; the rows it held must be final within seconds.

The test process plays beat: it runs the sweeper every COPYTRADE_SWEEP_EVERY_SECONDS (5 s)
as beat does. The simulator answers every request after KILL_LATENCY_MS (an exchange's
round trip), so orders are in flight when the worker dies. The worker is killed once the
fan-out is done (the fan-out task has no lease: a fan-out worker's death is the 120 s rule).

Measured: the time from the kill to the last row being final, which bounds the time to the
last row the dead worker held (its in-flight runs, and the messages it had taken from the
queue but not started, which no lease names): target <= 30 s, asserted. Also shown: the
same for the rows that had a live lease at the kill. And every row filled, one order per
row at the exchange: 0 duplicates, 0 missing.

`make test` runs it on Redis and on RabbitMQ (a vhost of its own), 100 followers, with a 5 s lease (exchange timeout 2 s, as the soak, and
orders killed before they left placed again after 5 s, not the shipped 15 s); the
issue's figure is for 1,000 followers and the shipped 15 s lease and 10 s timeout:
    KILL_FOLLOWERS=1000 KILL_SHIPPED_LEASE=1 pytest tests/copytrade/test_worker_kill.py
On RabbitMQ the broker itself gives a dead consumer's unacknowledged messages back the
moment its connection closes (Redis only after the visibility timeout): the sweeper is left
with the runs that were in flight.
"""

import os
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone

from copytrade.models import CopiedTrade
from copytrade.services.copies import copy_start
from copytrade.services.sweeper import copied_trades_sweep
from exchanges.models import ExchangeAccount
from tests.copytrade import signal_only_strategy, submit
from tests.fixtures.rabbitmq import broker_pointed_at
from tests.fixtures.worker import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.slow]

FOLLOWERS = int(os.environ.get("KILL_FOLLOWERS", "100"))
KILL_AT = float(os.environ.get("KILL_AT", "0.3"))  # the share of rows final when the worker dies
LATENCY_MS = float(os.environ.get("KILL_LATENCY_MS", "50"))
SHIPPED_LEASE = bool(os.environ.get("KILL_SHIPPED_LEASE"))
RECOVERY_TARGET_SECONDS = 30.0
TIMEOUT_SECONDS = 60.0 + 0.1 * FOLLOWERS
OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)


def start_followers(sim, strategy, count: int) -> None:
    users = get_user_model().objects
    for index in range(count):
        user = users.create_user(username=f"kill{index}", password="kill-pass-123", email=f"kill{index}@example.com")
        credentials = sim.create_account(balances={"USDT": "1000"})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional="20")


def held_now() -> set[int]:
    """Open rows a run holds (a live lease): executing ones, and pending ones picked up."""
    return set(CopiedTrade.objects.filter(status__in=OPEN, lease_expires_at__gte=timezone.now()).values_list("id", flat=True))


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request, settings):
    """The test Redis, or a RabbitMQ vhost of the test's own (tests/fixtures/rabbitmq.py)."""
    if request.param == "redis":
        yield request.param
        return
    with broker_pointed_at(request.getfixturevalue("rabbitmq_url"), settings):
        yield request.param


@pytest.fixture
def workers(broker, simulated_binance, transactional_db, settings):
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    if not SHIPPED_LEASE:
        settings.EXCHANGE_TIMEOUT_MS = 2000
        settings.COPYTRADE_EXECUTION_LEASE_SECONDS = 5
        settings.COPYTRADE_ORDER_SETTLE_SECONDS = 5  # an order killed before it left is placed again after this
    started = []
    try:
        for _ in range(2):
            started.append(CeleryWorker(concurrency=8).launch())
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.close()


def test_a_killed_execution_workers_rows_are_final_within_seconds_and_each_order_is_placed_once(
    broker, workers, simulated_binance, owner, capsys
):
    sim = simulated_binance
    victim, survivor = workers
    strategy = signal_only_strategy(owner, capital="100000")
    start_followers(sim, strategy, FOLLOWERS)
    sim.set_faults(latency_ms=LATENCY_MS)

    # when a leader trade fans out and, once KILL_AT of its copies are done, one of the two
    # execution workers is killed with SIGKILL
    [trade] = submit(strategy, "k1", "buy", amount="0.05", price="65000").trades
    rows = CopiedTrade.objects.filter(leader_trade=trade)
    started = time.monotonic()
    deadline = started + TIMEOUT_SECONDS
    while (
        trade.__class__.objects.filter(pk=trade.pk, fanout_done_at=None).exists()
        or rows.exclude(status__in=OPEN).count() < KILL_AT * FOLLOWERS
    ):
        assert time.monotonic() < deadline, "the fan-out did not get going"
        time.sleep(0.05)  # polling with a deadline
    held_before = held_now()
    victim.kill()
    killed_at = time.monotonic()
    held = held_before | held_now()  # a row picked up meanwhile by the survivor finishes anyway

    # (beat's part: the sweeper every few seconds)
    next_sweep, swept, finals = killed_at, [], {}
    while True:
        now = time.monotonic()
        if now >= next_sweep:
            swept += copied_trades_sweep().copied_trade_ids
            next_sweep = now + settings.COPYTRADE_SWEEP_EVERY_SECONDS
        done = set(CopiedTrade.objects.filter(id__in=held).exclude(status__in=OPEN).values_list("id", flat=True))
        for copied_trade_id in done - set(finals):
            finals[copied_trade_id] = now - killed_at
        if len(finals) == len(held) and not rows.filter(status__in=OPEN).exists():
            break
        assert now < deadline, (
            f"open after {now - killed_at:.0f}s: {list(rows.filter(status__in=OPEN).values('id', 'status', 'lease_expires_at'))[:5]}"
            f"\n{survivor.log_text()[-3000:]}"
        )
        time.sleep(0.1)  # polling with a deadline
    all_final = time.monotonic() - killed_at
    last_held_final = max(finals.values())
    counts = sim.order_counts()
    statuses = dict(rows.values_list("status").annotate(n=Count("id")))
    filled_ids = set(rows.filter(status=CopiedTrade.Status.FILLED).values_list("client_order_id", flat=True))
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    missing = len(filled_ids - set(counts)) + (FOLLOWERS - len(filled_ids))
    taken_back = len(set(swept))
    with capsys.disabled():
        print(
            f"\nworker kill ({broker}): {FOLLOWERS} followers, lease {settings.COPYTRADE_EXECUTION_LEASE_SECONDS}s, killed at {killed_at - started:.1f}s after the leader trade with "
            f"{len(held)} rows leased; {taken_back} taken back by the sweeper; last leased row final {last_held_final:.1f}s "
            f"after the kill, the last row final {all_final:.1f}s after it; {statuses}; duplicates {duplicates}, missing {missing}"
        )

    # then every row is filled, once, and the dead worker's rows were final within the target
    assert statuses == {CopiedTrade.Status.FILLED: FOLLOWERS}
    assert duplicates == 0 and missing == 0 and set(counts) == filled_ids
    assert taken_back >= 1  # the dead worker held rows, and they came back through their leases
    assert last_held_final <= all_final <= RECOVERY_TARGET_SECONDS
    assert not rows.filter(~Q(lease_expires_at=None)).exists()
