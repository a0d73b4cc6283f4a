"""Prometheus metrics (issue 30): `/metrics` closed to the public; a fan-out through a real
prefork worker read back from the web's endpoint and the worker's (multiprocess collection)."""

import socket
import time
from decimal import Decimal

import pytest
import requests
from django.contrib.auth import get_user_model
from prometheus_client.parser import text_string_to_metric_families

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from exchanges.models import ExchangeAccount
from tests.copytrade import signal_only_strategy, submit
from tests.fixtures.worker import CeleryWorker

TOKEN = "metrics-token-for-tests"
OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (sample, sample_labels), v in found.items() if sample == name and wanted <= sample_labels)


def web_metrics(client) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return samples(response.content.decode())


@pytest.fixture
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return settings


@pytest.mark.django_db
def test_metrics_answer_404_without_the_token_or_an_allowed_network(client, metrics_settings):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    metrics_settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


@pytest.mark.django_db
def test_metrics_are_closed_when_neither_a_token_nor_a_network_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_metrics_are_not_in_the_api_schema(client):
    assert "/metrics" not in client.get("/api/schema/?format=json").json()["paths"]


@pytest.mark.django_db
def test_webhook_latency_is_counted_by_status(client, metrics_settings):
    before = value(web_metrics(client), "copytrade_webhook_seconds_count", webhook="signal", status="400")
    client.post("/webhook", data=b"{}", content_type="application/json")
    after = value(web_metrics(client), "copytrade_webhook_seconds_count", webhook="signal", status="400")
    assert after == before + 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PreforkWorker(CeleryWorker):
    """`make run`'s kind of worker: prefork children, each writing its figures to the folder."""

    def _command(self) -> list[str]:
        command = super()._command()
        command[command.index("threads")] = "prefork"
        return command


def wait_for(predicate, *, what: str, worker, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)  # a polling interval, not a synchronisation
    raise AssertionError(f"{what}: not within {timeout}s\n--- worker log ---\n{worker.log_text()[-4000:]}")


@pytest.mark.worker
@pytest.mark.slow
def test_a_fan_out_through_a_prefork_worker_shows_in_the_web_and_worker_metrics(
    simulated_binance, transactional_db, _clean_redis, owner, client, metrics_settings, tmp_path
):
    # given a leader with four followers who can copy and two whose fixed size is under the minimum
    metrics_settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    strategy = signal_only_strategy(owner, capital="100000")
    users = get_user_model().objects
    for index, notional in enumerate(["50", "50", "50", "50", "2", "2"]):
        user = users.create_user(username=f"copier{index}", password="copier-pass-123", email=f"copier{index}@example.com")
        credentials = simulated_binance.create_account(balances={"USDT": "1000"})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        copy_start(
            follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal(notional)
        )

    # when the leader trades before any worker runs, the web sees the fan-out waiting
    [trade] = submit(strategy, "m1", "buy", amount="0.05").trades
    waiting = web_metrics(client)
    assert value(waiting, "copytrade_queue_messages", queue="fanout") == 1
    assert value(waiting, "copytrade_queue_oldest_age_seconds", queue="fanout") >= 0
    assert LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at__isnull=True).exists()

    # and a prefork worker with its own metrics folder and port does the work
    port = free_port()
    worker = PreforkWorker(
        concurrency=2,
        extra_env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker"), "CELERY_METRICS_PORT": str(port), "METRICS_TOKEN": TOKEN},
    )
    try:
        worker.start()
        wait_for(
            lambda: (
                LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at__isnull=False).exists()
                and not CopiedTrade.objects.filter(leader_trade=trade, status__in=OPEN).exists()
            ),
            what="the copies",
            worker=worker,
        )

        # then the worker's endpoint (closed without the token) counts what its children did
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            assert requests.get(url, timeout=5).status_code == 404
        except requests.ConnectionError as error:
            raise AssertionError(worker.log_text()[-4000:]) from error
        response = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert response.status_code == 200
        found = samples(response.text)
        filled = CopiedTrade.objects.filter(leader_trade=trade, status=CopiedTrade.Status.FILLED).count()
        assert filled == 4
        assert value(found, "copytrade_copy_delay_seconds_count", exchange="binance") == filled
        assert value(found, "copytrade_copied_trades_total", exchange="binance", status="filled") == filled
        assert value(found, "copytrade_copied_trades_total", status="skipped", reason="below_exchange_minimum") == 2
        assert value(found, "copytrade_copy_delay_seconds_bucket", le="+Inf") == filled
    finally:
        worker.close()

    # and the web's queues are back to 0
    drained = web_metrics(client)
    assert value(drained, "copytrade_queue_messages", queue="fanout") == 0
    assert value(drained, "copytrade_queue_messages", queue="execution") == 0
    assert value(drained, "copytrade_queue_oldest_age_seconds", queue="execution") == 0
    assert value(drained, "copytrade_queue_oldest_age_seconds", queue="fanout") == 0
