"""Exactly once on perpetuals: kill -9 one of two execution workers during a fan-out of a
USDⓈ-M entry to many followers (the harness of test_worker_kill.py, smaller: Redis only).
Every row ends filled with one order at the exchange, and each follower account's market is
at the copy's leverage and margin mode despite the runs the dead worker had started."""

import os
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from copytrade.services.sweeper import copied_trades_sweep
from exchanges.models import ExchangeAccount, PerpetualSetting
from tests.copytrade import signal_only_strategy
from tests.copytrade.test_perpetuals import leader
from tests.copytrade.test_worker_kill import OPEN, held_now
from tests.fixtures.worker import CeleryWorker

pytestmark = [pytest.mark.worker, pytest.mark.slow]

FOLLOWERS = int(os.environ.get("KILL_FUTURES_FOLLOWERS", "30"))
KILL_AT = 0.3
LATENCY_MS = 50.0
TIMEOUT_SECONDS = 60.0 + 0.1 * FOLLOWERS


@pytest.fixture
def workers(simulated_binance, transactional_db, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    settings.EXCHANGE_TIMEOUT_MS = 2000
    settings.COPYTRADE_EXECUTION_LEASE_SECONDS = 5
    settings.COPYTRADE_ORDER_SETTLE_SECONDS = 5
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


def start_perpetual_followers(sim, strategy, count: int) -> list[ExchangeAccount]:
    users = get_user_model().objects
    accounts = []
    for index in range(count):
        user = users.create_user(username=f"perp{index}", password="kill-pass-123", email=f"perp{index}@example.com")
        credentials = sim.create_account(balances={"USDT": "1000"})
        sim.set_futures_wallet(api_key=credentials["api_key"], usdt="1000")
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        # 50 USDT of margin at 3×: 150 a position, above the market's 100 minimum
        copy_start(
            follower=user,
            strategy_id=strategy.pk,
            exchange_account_id=account.pk,
            sizing_mode="fixed",
            fixed_notional="50",
            leverage_policy="fixed",
            leverage=3,
            margin_mode="isolated",
        )
        accounts.append(account)
    return accounts


def test_a_killed_workers_perpetual_entries_are_each_placed_once_with_leverage_set_once(workers, simulated_binance, owner):
    sim = simulated_binance
    victim, survivor = workers
    strategy = signal_only_strategy(owner, capital="100000")
    accounts = start_perpetual_followers(sim, strategy, FOLLOWERS)
    sim.set_faults(latency_ms=LATENCY_MS)

    # when a perpetual entry fans out and one of the two execution workers is killed mid-way
    [trade] = leader(sim, strategy, "k1", "buy", price="65000", amount="0.05").trades
    rows = CopiedTrade.objects.filter(leader_trade=trade)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while (
        LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at=None).exists() or rows.exclude(status__in=OPEN).count() < KILL_AT * FOLLOWERS
    ):
        assert time.monotonic() < deadline, "the fan-out did not get going"
        time.sleep(0.05)  # polling with a deadline
    held_before = held_now()
    victim.kill()
    next_sweep, swept = time.monotonic(), []
    while rows.filter(status__in=OPEN).exists():
        if time.monotonic() >= next_sweep:  # beat's part
            swept += copied_trades_sweep().copied_trade_ids
            next_sweep = time.monotonic() + settings.COPYTRADE_SWEEP_EVERY_SECONDS
        assert time.monotonic() < deadline, (
            f"still open: {list(rows.filter(status__in=OPEN).values('id', 'status'))[:5]}\n{survivor.log_text()[-3000:]}"
        )
        time.sleep(0.1)  # polling with a deadline

    # then every row is filled by one entry order, and each account's market set to 3× isolated
    counts = sim.order_counts()
    assert dict(rows.values_list("status").annotate(n=Count("id"))) == {CopiedTrade.Status.FILLED: FOLLOWERS}
    assert set(counts) == set(rows.values_list("client_order_id", flat=True)) and set(counts.values()) == {1}
    assert held_before, "the killed worker held no row: the kill came too late to test anything"
    for account in accounts:
        futures = sim.futures_account(api_key=account.api_key)
        # (a run killed between setting them and remembering it sets the same values again)
        assert {tuple(entry) for entry in futures["settings_log"]} == {("marginType", "BTCUSDT", "ISOLATED"), ("leverage", "BTCUSDT", "3")}
        assert futures["positions"]["BTCUSDT"]["amount"] == "0.002"
    assert PerpetualSetting.objects.filter(leverage=3, margin_mode="isolated").count() == FOLLOWERS
