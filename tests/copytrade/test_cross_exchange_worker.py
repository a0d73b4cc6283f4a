"""Exactly once on two exchanges (issue 29): a Binance leader with followers split between
simulated Binance and Bybit accounts; entry, partial exit and close each fan out while both
exchanges answer 15 % of order requests with their rate limit (Binance 429, Bybit retCode
10006) and take another 15 % of orders but never answer (timeout after accept), and one of
two execution workers is killed (SIGKILL) mid-fan-out of every trade (the harness of
test_worker_kill.py: the test process plays beat and runs the sweeper; a fresh worker takes
the dead one's place before the next trade).

Shown: one order per follower per leader trade on each exchange (0 duplicates, 0 missing,
every row filled), each exchange's order at its own lot step. Marked deep: `make soak` runs it,
`make test` leaves it out (one exchange's orders under the same faults and a kill are in
test_fanout_worker.py and test_worker_kill.py; Bybit's orders in tests/exchanges).
    CROSS_FOLLOWERS=100 (the default) pytest tests/copytrade/test_cross_exchange_worker.py
"""

import os
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from copytrade.services.sweeper import copied_trades_sweep
from exchanges.models import ExchangeAccount
from tests.copytrade import signal_only_strategy, submit
from tests.fixtures.worker import CeleryWorker

pytestmark = [pytest.mark.deep, pytest.mark.worker, pytest.mark.slow]

FOLLOWERS = int(os.environ.get("CROSS_FOLLOWERS", "100"))
KILL_AT = 0.3  # the share of a trade's rows final when a worker dies
STEP_TIMEOUT_SECONDS = 90.0 + 0.2 * FOLLOWERS
OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)
ORDER_PATHS = {"binance": ["POST /api/v3/order"], "bybit": ["POST /v5/order/create"]}
# 50 USDT at 65,000: Binance's 0.00001 BTC step, Bybit's 0.0001; halved, then the rest.
EXPECTED = {
    "binance": [("BUY", Decimal("0.00076")), ("SELL", Decimal("0.00038")), ("SELL", Decimal("0.00038"))],
    "bybit": [("BUY", Decimal("0.0007")), ("SELL", Decimal("0.0003")), ("SELL", Decimal("0.0004"))],
}


@pytest.fixture
def sims(simulated_binance, simulated_bybit, transactional_db, settings):
    settings.EXCHANGE_TIMEOUT_MS = 1000
    settings.COPYTRADE_EXECUTION_LEASE_SECONDS = 5
    settings.COPYTRADE_ORDER_SETTLE_SECONDS = 5
    for sim in (simulated_binance, simulated_bybit):
        sim.set_price(symbol="BTC/USDT", price="65000")
    return {"binance": simulated_binance, "bybit": simulated_bybit}


class Workers:
    """Two live execution workers; every one ever started is closed at the end."""

    def __init__(self):
        self.live: list[CeleryWorker] = []
        self.every: list[CeleryWorker] = []

    def launch(self) -> CeleryWorker:
        worker = CeleryWorker(concurrency=8).launch()
        self.live.append(worker)
        self.every.append(worker)
        return worker

    def kill_one_and_replace(self) -> None:
        self.live.pop(0).kill()
        self.launch().wait_ready()


@pytest.fixture
def workers(sims):
    workers = Workers()
    try:
        for worker in [workers.launch(), workers.launch()]:
            worker.wait_ready()
        yield workers
    finally:
        for worker in workers.every:
            worker.close()


def start_followers(sims, strategy) -> dict[str, list]:
    users = get_user_model().objects
    accounts = {"binance": [], "bybit": []}
    for index in range(FOLLOWERS):
        exchange_id = "binance" if index % 2 == 0 else "bybit"
        user = users.create_user(username=f"x{index}", password="cross-pass-123", email=f"x{index}@example.com")
        credentials = sims[exchange_id].create_account(balances={"USDT": "1000"})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id=exchange_id, label=exchange_id, api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional="50")
        accounts[exchange_id].append(account.api_key)
    return accounts


def copy_with_a_worker_killed(trade: LeaderTrade, workers: Workers) -> None:
    """Wait until KILL_AT of the trade's rows are final, SIGKILL one worker, start another, and
    sweep (beat's part) until every row is final."""
    rows = CopiedTrade.objects.filter(leader_trade=trade)
    deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
    while (
        LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at=None).exists() or rows.exclude(status__in=OPEN).count() < KILL_AT * FOLLOWERS
    ):
        assert time.monotonic() < deadline, f"the fan-out of {trade.external_id} did not get going\n{workers.live[-1].log_text()[-3000:]}"
        time.sleep(0.05)  # polling with a deadline
    workers.kill_one_and_replace()
    next_sweep = 0.0
    while rows.filter(status__in=OPEN).exists():
        now = time.monotonic()
        assert now < deadline, (
            f"open: {list(rows.filter(status__in=OPEN).values('id', 'status'))[:5]}\n{workers.live[0].log_text()[-3000:]}"
        )
        if now >= next_sweep:
            copied_trades_sweep()
            next_sweep = now + settings.COPYTRADE_SWEEP_EVERY_SECONDS
        time.sleep(0.1)  # polling with a deadline


def test_a_binance_leaders_trades_reach_each_follower_once_on_binance_and_on_bybit_through_faults_and_a_killed_worker(
    sims, workers, owner, capsys
):
    strategy = signal_only_strategy(owner, capital="100000")
    accounts = start_followers(sims, strategy)
    for exchange_id, sim in sims.items():
        sim.set_faults(
            latency_ms=30,
            retry_after_s=0,
            rates={"429": 0.15, "timeout_after_accept": 0.15},
            match=ORDER_PATHS[exchange_id],
            timeout_mode="delay",
            timeout_delay_ms=2000,
        )

    # when the leader opens, halves and closes, with a worker killed during each fan-out
    trades = []
    started = time.monotonic()
    for external_id, action, size in (("c1", "buy", {"amount": "0.05"}), ("c2", "sell", {"fraction": "0.5"}), ("c3", "close", {})):
        [trade] = submit(strategy, external_id, action, price="65000", **size).trades
        trades.append(trade)
        copy_with_a_worker_killed(trade, workers)
    elapsed = time.monotonic() - started

    # then every row is filled, and each exchange holds exactly one order per row
    rows = CopiedTrade.objects.filter(leader_trade__in=trades).select_related("copy__exchange_account")
    statuses = dict(rows.values_list("status").annotate(n=Count("id")))
    report = []
    for exchange_id, sim in sims.items():
        mine = [row for row in rows if row.copy.exchange_account.exchange_id == exchange_id]
        counts = sim.order_counts()
        ids = {row.client_order_id for row in mine}
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        missing = len(ids - set(counts))
        faults = sim.stats()["faults"]
        report.append(f"{exchange_id}: {len(mine)} rows, duplicates {duplicates}, missing {missing}, faults {faults}")
        assert duplicates == 0 and missing == 0 and set(counts) == ids, exchange_id
        assert faults.get("429", 0) > 0 and faults.get("timeout_after_accept", 0) > 0, exchange_id
        orders = {}
        for order in sim.orders():
            orders.setdefault(order["api_key"], []).append((order["side"], Decimal(order["amount"])))
        assert {key: orders.get(key) for key in accounts[exchange_id]} == dict.fromkeys(accounts[exchange_id], EXPECTED[exchange_id])
    with capsys.disabled():
        print(
            f"\ncross-exchange fan-out: {FOLLOWERS} followers x 3 leader trades in {elapsed:.1f}s, a worker killed in each; "
            + "; ".join(report)
        )
    assert statuses == {CopiedTrade.Status.FILLED: 3 * FOLLOWERS}
