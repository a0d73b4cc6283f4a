"""The PostgreSQL connection budget (issue 30): a refused connection is a 503 with Retry-After,
never a 500; /healthz reports saturation; a fan-out through a real worker holds at most one
connection per worker thread (docs/OPERATING.md, "Connection budget").

The refusals come from a role with CONNECTION LIMIT 0 (PostgreSQL's own "too many
connections" answer) and from a closed port; the shared server is never restarted.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from devtools.processes import database_url, procfile_web_process
from exchanges.models import ExchangeAccount
from tests.copytrade import market_moves_to, sign, signal_only_strategy, submit, webhook_body
from tests.fixtures.worker import CeleryWorker
from tests.test_metrics import free_port, samples, value

OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)


@contextmanager
def database_refusing(**changes):
    """This process's next connections go with `changes` (another role, a closed port)."""
    original = connection.settings_dict.copy()
    connection.close()
    connection.settings_dict.update(changes)
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)


@pytest.fixture
def refused_role(transactional_db):
    """A role PostgreSQL lets in zero times: every connection is 'too many connections for role'."""
    name = f"{connection.settings_dict['NAME']}_refused"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{name}"')
        cursor.execute(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT 0')
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture(params=["too many connections", "connection refused"])
def refusing(request, refused_role):
    if request.param == "too many connections":
        return {"USER": refused_role, "PASSWORD": ""}
    return {"PORT": str(free_port())}


def test_a_page_answers_503_with_retry_after_when_postgresql_refuses_connections(client, refusing, settings, follower):
    client.force_login(follower)
    with database_refusing(**refusing):
        preview = client.get("/leaders/1/copy/preview/")
        leaderboard = Client().get("/")

    for response in (preview, leaderboard):
        assert response.status_code == 503
        assert response["Retry-After"] == str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)
        assert b"try again" in response.content


def test_the_api_answers_503_in_its_error_shape_when_postgresql_refuses_connections(client, refusing):
    with database_refusing(**refusing):
        response = client.get("/api/auth/me/", HTTP_AUTHORIZATION="Token not-a-real-token")
        signal = {"strategy_id": 1, "external_id": "s1", "symbol": "BTC/USDT", "action": "buy", "timestamp": int(time.time())}
        webhook = client.post("/webhook", data=json.dumps(signal), content_type="application/json", HTTP_X_SIGNATURE="sha256=00")

    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json() == {"message": "The service is busy; please try again in a few seconds.", "extra": {}}
    assert webhook.status_code == 503


def test_a_refusal_outside_a_view_is_a_503_too(rf, refused_role):
    from django.db import OperationalError

    from core.database import server_error

    request = rf.get("/somewhere")
    try:
        with database_refusing(USER=refused_role):
            connection.ensure_connection()
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503


def test_healthz_reports_connection_saturation(client, transactional_db):
    body = client.get("/healthz").json()

    connections = body["connections"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
    assert connections["max"] == limit
    assert 1 <= connections["in_use"] <= limit
    assert connections["saturation"] == round(connections["in_use"] / limit, 3)


def connections_to(database: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        return cursor.fetchone()[0]


@pytest.mark.worker
@pytest.mark.slow
def test_a_fan_out_through_a_worker_holds_one_connection_per_busy_thread_and_few_once_idle(
    simulated_binance, transactional_db, _clean_redis, owner, settings
):
    # given 24 followers and a worker of 4 threads (the fan-out's and the executions')
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    strategy = signal_only_strategy(owner, capital="100000")
    users = get_user_model().objects
    for index in range(24):
        user = users.create_user(username=f"copier{index}", password="copier-pass-123", email=f"copier{index}@example.com")
        credentials = simulated_binance.create_account(balances={"USDT": "1000"})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        copy_start(
            follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("20")
        )
    database = connection.settings_dict["NAME"]
    worker = CeleryWorker(concurrency=4)
    try:
        worker.start()
        # when the leader trades, sampling the test database's connections until every copy is done
        [trade] = submit(strategy, "b1", "buy", amount="0.05").trades
        peak, deadline = 0, time.monotonic() + 90
        while time.monotonic() < deadline:
            peak = max(peak, connections_to(database))
            fanned_out = LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at__isnull=False).exists()
            if fanned_out and not CopiedTrade.objects.filter(leader_trade=trade, status__in=OPEN).exists():
                break
            time.sleep(0.05)  # a sampling interval, not a synchronisation
        else:
            raise AssertionError(worker.log_text()[-4000:])
        # and once its threads have waited DATABASE_IDLE_SECONDS for work, the idle worker keeps
        # DATABASE_IDLE_CONNECTIONS_PER_WORKER (a deadline with room for a loaded machine)
        kept, deadline = connections_to(database), time.monotonic() + settings.DATABASE_IDLE_SECONDS + 30
        while kept > settings.DATABASE_IDLE_CONNECTIONS_PER_WORKER and time.monotonic() < deadline:
            time.sleep(0.05)  # the janitor closes them after the idle time
            kept = connections_to(database)
    finally:
        worker.close()

    # then the worker never held more than one connection per thread (none for its main loop)
    assert CopiedTrade.objects.filter(leader_trade=trade, status=CopiedTrade.Status.FILLED).count() == 24
    assert 1 <= peak <= worker.concurrency
    assert kept <= settings.DATABASE_IDLE_CONNECTIONS_PER_WORKER


# The Procfile's web line: gunicorn, 2 workers x 4 threads (docs/OPERATING.md, "Connection budget").
WEB_BUDGET = 2 * 4


def start_copiers(simulator, strategy, count: int) -> None:
    users = get_user_model().objects
    for index in range(count):
        user = users.create_user(username=f"copier{index}", password="copier-pass-123", email=f"copier{index}@example.com")
        credentials = simulator.create_account(balances={"USDT": "1000"})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        copy_start(
            follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("20")
        )


def signals_answered(base_url: str) -> float:
    """Signals the web answered 201, as its /metrics adds them up over its gunicorn workers
    (the Procfile's metrics folder may hold earlier runs' figures: compare, do not count)."""
    text = requests.get(f"{base_url}/metrics", timeout=30).text
    return value(samples(text), "copytrade_webhook_seconds_count", webhook="signal", status="201")


@pytest.mark.worker
@pytest.mark.slow
def test_make_run_s_web_and_a_worker_stay_within_the_budget_while_pages_are_read_during_a_fan_out(
    simulated_binance, transactional_db, _clean_redis, owner, settings, tmp_path
):
    # given the web process exactly as `make run` starts it, a worker of 4 threads, 24 copiers
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    strategy = signal_only_strategy(owner, capital="100000")
    start_copiers(simulated_binance, strategy, 24)
    market_moves_to("65000")
    database = connection.settings_dict["NAME"]
    env = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "EXCHANGE_URL_OVERRIDES": f"binance={simulated_binance.base_url}",
    }
    worker = CeleryWorker(concurrency=4)
    with open(tmp_path / "web.log", "w+") as log, procfile_web_process(env=env, log=log) as base_url:
        try:
            worker.start()
            signals_before = signals_answered(base_url)
            # when the leader's signal reaches the web while 16 clients read pages at once
            body = webhook_body(strategy, amount="0.05")
            answer = requests.post(
                f"{base_url}/webhook",
                data=body,
                headers={"Content-Type": "application/json", "X-Signature": sign(body, strategy.webhook_secret)},
                timeout=30,
            )
            assert answer.status_code == 201, answer.text
            trade = LeaderTrade.objects.get(strategy=strategy)
            peak, deadline = 0, time.monotonic() + 90
            with ThreadPoolExecutor(16) as readers:
                while time.monotonic() < deadline:
                    pages = [readers.submit(requests.get, f"{base_url}{path}", timeout=30) for path in ["/", "/healthz"] * 8]
                    peak = max(peak, connections_to(database))
                    assert all(page.result().status_code == 200 for page in pages)
                    peak = max(peak, connections_to(database))
                    fanned_out = LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at__isnull=False).exists()
                    if fanned_out and not CopiedTrade.objects.filter(leader_trade=trade, status__in=OPEN).exists():
                        break
                else:
                    raise AssertionError(worker.log_text()[-4000:])
            # and the web's /metrics (local settings: loopback may read it) adds up its gunicorn workers
            signals_after = signals_answered(base_url)
            exposition = requests.get(f"{base_url}/metrics", timeout=30).text
        finally:
            worker.close()

    # then every copy went out, and the two processes held at most one connection per thread
    assert CopiedTrade.objects.filter(leader_trade=trade, status=CopiedTrade.Status.FILLED).count() == 24
    assert 1 <= peak <= WEB_BUDGET + worker.concurrency
    assert signals_after == signals_before + 1
    assert 'copytrade_queue_messages{queue="execution"} 0.0' in exposition
