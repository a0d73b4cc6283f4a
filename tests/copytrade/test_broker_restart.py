"""Workers that survive a broker restart (issue 15): Redis is killed and started again under a
running worker; the worker stays up and the next leader trade is copied.

A private redis-server (tests/fixtures/private_redis.py) is the broker, cache and rate-limit
store of the worker and of this process: the shared Redis is never restarted.
"""

import time
from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade
from copytrade.services.copies import copy_start
from tests.copytrade import signal_only_strategy, simulator_account, submit
from tests.fixtures.private_redis import PrivateRedis, drop_broker_connections, pointed_at, redis_server_available
from tests.fixtures.worker import CeleryWorker

pytestmark = [
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.skipif(not redis_server_available(), reason="restarts its own redis-server; `apt-get install redis-server`"),
]

TIMEOUT_SECONDS = 30.0


def wait_for(condition, *, what: str, timeout: float = TIMEOUT_SECONDS, worker: CeleryWorker | None = None):
    deadline = time.monotonic() + timeout
    while not condition():
        log = worker.log_text()[-3000:] if worker else ""
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s\n{log}"
        time.sleep(0.05)  # polling with a deadline


@pytest.fixture
def broker(simulated_binance, transactional_db, settings):
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    server = PrivateRedis().start()
    try:
        with pointed_at(server.url, settings):
            yield server
    finally:
        server.close()


def test_a_worker_survives_a_redis_restart_and_copies_the_next_leader_trade(broker, simulated_binance, owner, follower):
    strategy = signal_only_strategy(owner, capital="100000")
    account = simulator_account(simulated_binance, follower)
    copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("50")
    )
    worker = CeleryWorker(concurrency=4).start()
    try:
        filled = CopiedTrade.objects.filter(status=CopiedTrade.Status.FILLED)
        submit(strategy, "before", "buy", amount="0.05", price="65000")
        wait_for(lambda: filled.count() == 1, what="the first leader trade copied", worker=worker)

        # when Redis dies (SIGKILL, nothing persisted) while the worker holds an unacknowledged
        # message (an order in flight), and comes back on the same port
        simulated_binance.set_faults(latency_ms=1500)
        submit(strategy, "during", "buy", amount="0.05", price="65000")
        in_flight = CopiedTrade.objects.filter(status=CopiedTrade.Status.EXECUTING, submitted_at__isnull=False)
        wait_for(in_flight.exists, what="an order in flight", worker=worker)
        broker.kill()
        time.sleep(1.0)  # a broker that is down for a while: the outage itself, not a synchronisation
        broker.start()
        drop_broker_connections()
        simulated_binance.set_faults(latency_ms=0)

        # then the worker is still running, and copies the next leader trade
        submit(strategy, "after", "buy", amount="0.05", price="65000")
        wait_for(lambda: filled.count() == 3, what="the leader trade after the restart copied", worker=worker)
        assert worker.process is not None and worker.process.poll() is None, worker.log_text()[-3000:]
        assert "Unrecoverable error" not in worker.log_text()
        assert len(simulated_binance.orders(api_key=account.api_key)) == 3
    finally:
        worker.close()
