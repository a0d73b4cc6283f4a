"""Logs that trace (issue 30): a request id on every line a request logs, honoured from
X-Request-ID or made; through the fan-out and execution in a real worker, the same request
id with the leader trade's and the copied trade's ids; JSON lines with LOG_FORMAT=json."""

import json
import logging
import re
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.copies import copy_start
from core.log_context import JsonFormatter, bind, clear
from exchanges.models import ExchangeAccount
from tests.copytrade import market_moves_to, sign, signal_only_strategy, webhook_body
from tests.fixtures.worker import CeleryWorker

OPEN = (CopiedTrade.Status.PENDING, CopiedTrade.Status.EXECUTING)


@pytest.mark.django_db
def test_a_request_s_own_id_is_kept_and_answered_back(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a.1")

    assert response["X-Request-ID"] == "edge-7f3a.1"


@pytest.mark.django_db
def test_a_request_without_a_well_formed_id_gets_one_made(client):
    made = client.get("/healthz")["X-Request-ID"]
    forged = client.get("/healthz", HTTP_X_REQUEST_ID='x" level=ERROR\nfake line')["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


@pytest.mark.django_db
def test_every_record_a_request_logs_carries_its_id(api_client, caplog):
    with caplog.at_level(logging.INFO):
        api_client.post("/api/auth/token/", {"username": "x"}, format="json", HTTP_X_REQUEST_ID="req-42")
        after = logging.getLogger("copytrade").makeRecord("copytrade", logging.INFO, __file__, 1, "after", (), None)

    refused = [record for record in caplog.records if record.name == "django.request"]
    assert refused and all(record.request_id == "req-42" for record in refused)
    assert after.request_id is None  # the id is the request's only


def test_a_json_line_holds_the_message_and_the_bound_ids():
    bind(request_id="req-1", leader_trade_id=7, copied_trade_id=70)
    try:
        record = logging.getLogger("copytrade.services.execution").makeRecord(
            "copytrade.services.execution", logging.INFO, __file__, 1, "copied trade %s filled", (70,), None
        )
    finally:
        clear()

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "copied trade 70 filled"
    assert (line["level"], line["logger"]) == ("INFO", "copytrade.services.execution")
    assert (line["request_id"], line["leader_trade_id"], line["copied_trade_id"]) == ("req-1", 7, 70)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_a_record_outside_any_request_or_task_has_no_ids():
    clear()  # a task called directly by an earlier test (no worker's post-run) leaves its ids bound
    record = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "quiet", (), None)

    assert set(json.loads(JsonFormatter().format(record))) == {"time", "level", "logger", "message"}


@pytest.mark.worker
@pytest.mark.slow
def test_a_signal_s_request_id_reaches_the_fan_out_and_every_execution_in_a_worker_s_json_lines(
    simulated_binance, transactional_db, _clean_redis, owner, client
):
    # given two followers and a worker writing JSON lines
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    strategy = signal_only_strategy(owner, capital="100000")
    users = get_user_model().objects
    for index in range(2):
        user = users.create_user(username=f"copier{index}", password="copier-pass-123", email=f"copier{index}@example.com")
        credentials = simulated_binance.create_account(balances={"USDT": "1000"})
        account = ExchangeAccount.objects.create(
            owner=user, exchange_id="binance", label="Binance", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
        )
        copy_start(
            follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="fixed", fixed_notional=Decimal("20")
        )
    market_moves_to("65000")
    worker = CeleryWorker(concurrency=2, extra_env={"LOG_FORMAT": "json"})
    try:
        worker.start()
        # when the leader's signal arrives with the edge's request id
        body = webhook_body(strategy, amount="0.05")
        response = client.post(
            "/webhook",
            data=body,
            content_type="application/json",
            HTTP_X_SIGNATURE=sign(body, strategy.webhook_secret),
            HTTP_X_REQUEST_ID="edge-signal-1",
        )
        assert response.status_code == 201, response.content
        trade = LeaderTrade.objects.get(strategy=strategy)
        deadline = time.monotonic() + 60
        while not LeaderTrade.objects.filter(pk=trade.pk, fanout_done_at__isnull=False).exists() or (
            CopiedTrade.objects.filter(leader_trade=trade, status__in=OPEN).exists()
        ):
            assert time.monotonic() < deadline, worker.log_text()[-4000:]
            time.sleep(0.1)  # a polling interval, not a synchronisation
        worker.stop()
        lines = [json.loads(line) for line in worker.log_text().splitlines() if line.startswith("{")]
    finally:
        worker.close()

    # then the fan-out's line and each execution's line name the request and the trades
    fanned = [line for line in lines if line["logger"] == "copytrade.services.fanout"]
    assert [(line["request_id"], line["leader_trade_id"]) for line in fanned] == [("edge-signal-1", trade.pk)]
    executed = {line["copied_trade_id"]: line for line in lines if line["logger"] == "copytrade.services.execution"}
    copies = set(CopiedTrade.objects.filter(leader_trade=trade).values_list("id", flat=True))
    assert set(executed) == copies
    assert {(line["request_id"], line["leader_trade_id"]) for line in executed.values()} == {("edge-signal-1", trade.pk)}
