"""Exchange and webhook secrets never reach a log line or an API response.

One full flow, everything in-process: the follower connects a Binance account on the
simulator through the API (first with a wrong secret), the leader creates a signal-only
strategy, the follower copies it, the leader sends a signed webhook, the fan-out and the
execution run as Celery tasks (`Task.apply`: the task's own tracer and logs, no worker),
then the follower's key is revoked at the exchange and the next signal's execution fails on
it. Every logger is at DEBUG meanwhile, ccxt's and urllib3's included, and SQL statements
are logged (`django.db.backends`).

Two levels are checked:
- what the log handlers write (the project's console handler and its redaction filter):
  no secret at all;
- the raw log records, before any handler filter: no secret in any record of the project
  or of a library, except the SQL log, whose statements carry the column values (the
  webhook secret is a plain column: the redaction filter masks SQL literals for that).
"""

import logging

import pytest
from django.db import connection
from rest_framework.test import APIClient

from copytrade.models import CopiedTrade, Copy
from copytrade.services import fanout, leader_trades
from copytrade.tasks import execute_copied_trade, fan_out_leader_trade
from core.redaction import RedactSecretsFilter
from exchanges.models import ExchangeAccount
from tests.copytrade import sign, webhook_body

pytestmark = pytest.mark.django_db

# The simulator's control API (accounts, prices), which only the test harness calls.
HARNESS_PATH = " /_sim/"
WRONG_SECRET = "wrong-secret-typed-by-the-follower-7f3a9c1e5b"


class _Collect(logging.Handler):
    def __init__(self, *, redacting: bool):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.raw: list[tuple[str, str]] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        if redacting:
            self.addFilter(RedactSecretsFilter())
        self.redacting = redacting

    def emit(self, record):
        text = self.format(record)
        if HARNESS_PATH in text:
            return  # the test's own calls to the simulator's control API, not the platform's
        extras = " ".join(str(getattr(record, name, "")) for name in ("sql", "params"))
        if self.redacting:
            self.lines.append(f"{text} {extras}")
        else:
            self.raw.append((record.name, f"{text} {extras}"))


@pytest.fixture
def everything_logged():
    """Every logger at DEBUG, SQL logged; a raw collector before every other handler and a
    redacting one after them, as the console handler is."""
    root = logging.getLogger()
    raw, written = _Collect(redacting=False), _Collect(redacting=True)
    saved_levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items() if isinstance(logger, logging.Logger)}
    saved_root, saved_handlers = root.level, list(root.handlers)
    for name in saved_levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in ("ccxt", "urllib3", "django.db.backends", "celery", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    root.handlers.insert(0, raw)
    root.addHandler(written)
    connection.force_debug_cursor = True
    try:
        yield raw, written
    finally:
        connection.force_debug_cursor = False
        root.handlers[:] = saved_handlers
        root.setLevel(saved_root)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


class _Recorder:
    """API clients that keep every response of the flow."""

    def __init__(self):
        self.responses: list[tuple[str, str, bytes]] = []

    def client(self, user, label: str):
        recorder = self

        class _Client(APIClient):
            def generic(self, method, path, *args, **kwargs):
                response = super().generic(method, path, *args, **kwargs)
                recorder.responses.append((label, f"{method} {path}", response.content))
                return response

        client = _Client()
        if user is not None:
            client.force_authenticate(user)
        return client


class _Strategy:
    """What `webhook_body` needs of a strategy: its id."""

    def __init__(self, pk: int):
        self.pk = pk


def _run_engine(leader_trade_ids: list[int], execution_ids: list[int]) -> None:
    """The fan-out and execution tasks, through Celery's tracer, in this process."""
    while leader_trade_ids:
        fan_out_leader_trade.apply(args=(leader_trade_ids.pop(0),)).get()
        while execution_ids:
            execute_copied_trade.apply(args=(execution_ids.pop(0),)).get()


def test_a_full_flow_logs_no_secret_and_answers_none(
    owner, follower, simulated_binance, everything_logged, capfd, monkeypatch, django_capture_on_commit_callbacks
):
    raw, written = everything_logged
    leader_trade_ids, execution_ids = [], []
    monkeypatch.setattr(leader_trades.record, "_fan_out_enqueue", leader_trade_ids.append)
    monkeypatch.setattr(fanout, "copied_trades_enqueue", execution_ids.extend)
    recorder = _Recorder()
    leader_api, follower_api, anonymous = (
        recorder.client(owner, "leader"),
        recorder.client(follower, "follower"),
        recorder.client(None, "anonymous"),
    )
    credentials = simulated_binance.create_account(balances={"USDT": "10000"})
    api_key, api_secret = credentials["api_key"], credentials["api_secret"]

    # given: a strategy, a Binance account (a wrong secret first), a copy
    created = leader_api.post("/api/strategies/", {"name": "Signals", "declared_capital": "10000", "is_public_leader": True}, format="json")
    assert created.status_code == 201
    strategy_id, webhook_secret = created.json()["id"], created.json()["webhook_secret"]
    wrong = follower_api.post(
        "/api/exchange-accounts/",
        {"exchange_id": "binance", "label": "Binance", "api_key": api_key, "api_secret": WRONG_SECRET},
        format="json",
    )
    assert wrong.status_code == 400
    connected = follower_api.post(
        "/api/exchange-accounts/",
        {"exchange_id": "binance", "label": "Binance", "api_key": api_key, "api_secret": api_secret},
        format="json",
    )
    assert connected.status_code == 201, connected.content
    account_id = connected.json()["id"]
    started = follower_api.post(
        "/api/copy-trading/start",
        {"strategy_id": strategy_id, "exchange_account_id": account_id, "allocation_percent": "50"},
        format="json",
    )
    assert started.status_code == 201, started.content

    # when: a signed signal is copied
    price = simulated_binance.prices()["BTCUSDT"]
    body = webhook_body(_Strategy(strategy_id), external_id="sig-buy", amount="0.01", price=price)
    with django_capture_on_commit_callbacks(execute=True):
        signal = anonymous.post("/webhook", data=body, content_type="application/json", HTTP_X_SIGNATURE=sign(body, webhook_secret))
    assert signal.status_code == 201, signal.content
    _run_engine(leader_trade_ids, execution_ids)
    assert list(CopiedTrade.objects.values_list("status", flat=True)) == [CopiedTrade.Status.FILLED]

    # and when: the key is revoked at the exchange and the next signal fails on it
    simulated_binance.delete_account(api_key=api_key)
    body = webhook_body(_Strategy(strategy_id), external_id="sig-close", action="close", price=price)
    with django_capture_on_commit_callbacks(execute=True):
        closing = anonymous.post("/webhook", data=body, content_type="application/json", HTTP_X_SIGNATURE=sign(body, webhook_secret))
    assert closing.status_code == 201, closing.content
    _run_engine(leader_trade_ids, execution_ids)
    failed = CopiedTrade.objects.get(leader_trade__external_id="sig-close")
    assert failed.status == CopiedTrade.Status.FAILED
    assert ExchangeAccount.objects.get(pk=account_id).status == ExchangeAccount.Status.INVALID
    for path in (
        "/api/exchange-accounts/",
        f"/api/exchange-accounts/{account_id}/",
        "/api/copy-trading/my-copies",
        "/api/copy-trading/copied-trades",
        "/api/notifications/",
        "/api/auth/me/",
    ):
        assert follower_api.get(path).status_code == 200
    assert leader_api.get(f"/api/strategies/{strategy_id}/trades/").status_code == 200
    assert Copy.objects.get(follower=follower).status == Copy.Status.PAUSED

    # then: the flow was logged...
    secrets = {"api key": api_key, "api secret": api_secret, "wrong secret": WRONG_SECRET, "webhook secret": webhook_secret}
    assert len(raw.raw) > 50 and any(name.startswith("django.db.backends") for name, _ in raw.raw)
    assert any("fanned out" in line for line in written.lines)
    assert any(name.startswith("celery") for name, _ in raw.raw), "the tasks' own logs"
    # ...and no handler wrote a secret, nor did anything reach the terminal
    terminal = capfd.readouterr()
    for what, secret in secrets.items():
        assert not [line for line in written.lines if secret in line], f"the {what} was logged"
        assert secret not in terminal.out + terminal.err, f"the {what} reached stdout/stderr"
    # ...no record carried one before the filters, bar the SQL log's column values
    for what, secret in secrets.items():
        leaks = [f"{name}: {text[:300]}" for name, text in raw.raw if secret in text and not name.startswith("django.db.backends")]
        assert not leaks, f"the {what} is in raw log records: {leaks}"
    # ...and no API response carried one, except the webhook secret to its owner on creation
    for label, request, content in recorder.responses:
        assert api_key.encode() not in content and api_secret.encode() not in content and WRONG_SECRET.encode() not in content, request
        if (label, request) != ("leader", "POST /api/strategies/"):
            assert webhook_secret.encode() not in content, (label, request)


def test_sql_log_lines_show_no_column_values():
    record = logging.LogRecord(
        "django.db.backends",
        logging.DEBUG,
        __file__,
        1,
        "(%.3f) %s; args=%s; alias=%s",
        (0.001, 'UPDATE "copytrade_strategy" SET "webhook_secret" = \'s3cr3t-value\' WHERE id = 1', ("s3cr3t-value", 1), "default"),
        None,
    )
    record.sql, record.params, record.duration, record.alias = record.args[1], record.args[2], 0.001, "default"

    assert RedactSecretsFilter().filter(record)

    assert "s3cr3t-value" not in record.getMessage()
    assert "s3cr3t-value" not in f"{record.sql} {record.params}"
    assert 'UPDATE "copytrade_strategy" SET "webhook_secret" = \'<redacted>\' WHERE id = 1' in record.getMessage()
