"""Invoices sent through the real stripe SDK, over HTTP, to the loopback stand-in."""

import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from billing.models import BillingAccount, Invoice, InvoiceLine
from billing.services import billing_period_run, payouts_run
from billing.stripe_gateway import StripeGateway
from copytrade.models import Strategy
from tests.billing.factories import add_trade, at, make_copy, make_provider, make_strategy, make_user, month
from tests.fixtures.stripe import STANDIN_API_KEY

OCTOBER = month(2026, 10)


def _billable_followers(strategy: Strategy, count: int, *, pnl: str = "100") -> list:
    followers = []
    for index in range(count):
        follower = make_user(f"payer{index}")
        copy = make_copy(follower, strategy, started_at=at(2026, 9, 1))
        add_trade(copy, pnl=pnl, finished_at=at(2026, 10, 10))
        followers.append(follower)
    return followers


def _creating_requests(log: list[dict]) -> list[tuple[str, str]]:
    return [(entry["path"], entry["idempotency_key"]) for entry in log if entry["method"] == "POST"]


def test_it_sends_each_invoice_with_idempotency_keys_from_our_ids(stripe_standin, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))

    summary = billing_period_run(period=OCTOBER)

    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    (line,) = invoice.lines.all()
    log = stripe_standin.request_log()
    assert _creating_requests(log) == [
        ("/v1/customers", f"customer-{follower.id}"),
        ("/v1/invoices", f"invoice-{invoice.id}"),
        ("/v1/invoiceitems", f"invoiceitem-{line.id}"),
        (f"/v1/invoices/{invoice.stripe_invoice_id}/finalize", f"finalize-{invoice.id}"),
    ]
    item_request = next(entry for entry in log if entry["path"] == "/v1/invoiceitems")
    assert item_request["params"]["amount"] == "1500"
    assert item_request["params"]["metadata"] == {"invoice_id": str(invoice.id), "invoice_line_id": str(line.id)}
    assert (invoice.status, invoice.send_error) == (Invoice.Status.OPEN, "")
    assert BillingAccount.objects.get(user=follower).stripe_customer_id == stripe_standin.objects()["customers"][0]["id"]
    (at_stripe,) = stripe_standin.objects()["invoices"]
    assert (at_stripe["id"], at_stripe["status"], at_stripe["total"]) == (invoice.stripe_invoice_id, "open", 1500)
    assert (summary.invoices_sent, summary.invoices_not_sent) == (1, 0)


def test_billing_the_month_again_sends_nothing_more(stripe_standin, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))
    billing_period_run(period=OCTOBER)
    writes_before = _creating_requests(stripe_standin.request_log())

    billing_period_run(period=OCTOBER)
    payouts_run()

    # The daily run reads the open invoice back from Stripe (reconciliation) and writes nothing.
    assert _creating_requests(stripe_standin.request_log()) == writes_before
    assert stripe_standin.counts() == {"customers": 1, "invoices": 1, "invoiceitems": 1, "transfers": 0}


def test_an_invoice_with_nothing_due_is_never_sent(stripe_standin, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="-250", finished_at=at(2026, 10, 10))

    billing_period_run(period=OCTOBER)

    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    assert (invoice.total, invoice.status, invoice.stripe_invoice_id) == (Decimal("0"), Invoice.Status.PAID, "")
    assert stripe_standin.request_log() == []


def test_without_a_stripe_key_invoices_stay_in_our_ledger(stripe_standin, settings, follower, ai_strategy):
    settings.STRIPE_API_KEY = ""
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))

    summary = billing_period_run(period=OCTOBER)

    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    assert (invoice.status, invoice.stripe_invoice_id, invoice.total) == (Invoice.Status.DRAFT, "", Decimal("15.00"))
    assert summary.ledger_only is True
    assert stripe_standin.request_log() == []

    # once a key is configured, the daily run sends what was left in the ledger
    settings.STRIPE_API_KEY = STANDIN_API_KEY
    payouts_run()

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    assert stripe_standin.counts()["invoices"] == 1


def test_a_500_after_stripe_stored_the_invoice_is_retried_with_the_same_key_and_creates_nothing_twice(
    stripe_standin, follower, ai_strategy
):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))
    stripe_standin.fail_next(path="/v1/invoices", method="POST", after_operation=True)

    billing_period_run(period=OCTOBER)

    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    creates = [entry for entry in stripe_standin.request_log() if entry["path"] == "/v1/invoices" and entry["method"] == "POST"]
    assert [(entry["idempotency_key"], entry["status"], entry["replayed"]) for entry in creates] == [
        (f"invoice-{invoice.id}", 500, False),
        (f"invoice-{invoice.id}", 200, True),
    ]
    assert invoice.status == Invoice.Status.OPEN
    assert stripe_standin.counts() == {"customers": 1, "invoices": 1, "invoiceitems": 1, "transfers": 0}


def test_when_stripe_keeps_failing_the_invoice_waits_as_a_draft_and_the_next_run_sends_it_once(stripe_standin, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))
    # Three 500s after Stripe acted: the SDK's two retries are used up too.
    stripe_standin.fail_next(count=3, path="/v1/invoiceitems", after_operation=True)

    summary = billing_period_run(period=OCTOBER)

    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    assert (invoice.status, invoice.stripe_invoice_id) == (Invoice.Status.DRAFT, "")
    assert "Stripe create invoice failed" in invoice.send_error
    assert summary.invoices_not_sent == 1

    billing_period_run(period=OCTOBER)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.send_error) == (Invoice.Status.OPEN, "")
    assert stripe_standin.counts() == {"customers": 1, "invoices": 1, "invoiceitems": 1, "transfers": 0}


class _WorkerKilled(BaseException):
    """Stands for the process dying: nothing in the run may catch it."""


def _assert_every_follower_invoiced_once_here_and_at_stripe(followers, stripe_standin) -> None:
    invoices = Invoice.objects.filter(period=OCTOBER)
    assert sorted(invoices.values_list("follower_id", flat=True)) == sorted(follower.id for follower in followers)
    assert set(invoices.values_list("status", flat=True)) == {Invoice.Status.OPEN}
    at_stripe = stripe_standin.objects()
    assert sorted(item["metadata"]["invoice_id"] for item in at_stripe["invoices"]) == sorted(str(invoice.id) for invoice in invoices)
    assert {item["status"] for item in at_stripe["invoices"]} == {"open"}
    assert sorted(invoice.stripe_invoice_id for invoice in invoices) == sorted(item["id"] for item in at_stripe["invoices"])
    our_line_ids = InvoiceLine.objects.filter(invoice__in=invoices).values_list("id", flat=True)
    assert sorted(item["metadata"]["invoice_line_id"] for item in at_stripe["invoiceitems"]) == sorted(map(str, our_line_ids))
    assert len(at_stripe["customers"]) == len(followers)


def test_a_run_killed_half_way_then_run_again_invoices_every_follower_exactly_once(stripe_standin, ai_strategy, monkeypatch):
    followers = _billable_followers(ai_strategy, 6)
    real_finalize = StripeGateway.finalize_invoice
    finalized = []

    def finalize_then_die_on_the_fourth(self, **kwargs):
        # The fourth invoice dies at the worst point: its draft and items exist at Stripe,
        # finalize was never sent and its id is stored on our side.
        if len(finalized) == 3:
            raise _WorkerKilled()
        finalized.append(kwargs["invoice_id"])
        return real_finalize(self, **kwargs)

    monkeypatch.setattr(StripeGateway, "finalize_invoice", finalize_then_die_on_the_fourth)
    with pytest.raises(_WorkerKilled):
        billing_period_run(period=OCTOBER)
    assert Invoice.objects.filter(period=OCTOBER, status=Invoice.Status.OPEN).count() == 3
    monkeypatch.setattr(StripeGateway, "finalize_invoice", real_finalize)

    billing_period_run(period=OCTOBER)

    _assert_every_follower_invoiced_once_here_and_at_stripe(followers, stripe_standin)


def _command_env(*, stripe_api_base: str) -> dict[str, str]:
    """A manage.py process on this test's database and Redis, with Stripe at `stripe_api_base`."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "STRIPE_API_KEY": STANDIN_API_KEY,
        "STRIPE_API_BASE": stripe_api_base,
        "TEST_REDIS_URL": django_settings.REDIS_URL,
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_billing_process_killed_mid_run_then_rerun_invoices_every_follower_exactly_once(stripe_standin, stripe_standin_url):
    leader = make_user("leader")
    strategy = make_strategy(leader, kind=Strategy.Kind.MANUAL)
    make_provider(leader, subscription="10.00", performance_percent="20")
    followers = _billable_followers(strategy, 24)
    env = _command_env(stripe_api_base=stripe_standin_url)
    command = [sys.executable, "manage.py", "run_billing", "--period", "2026-10"]
    process = subprocess.Popen(command, cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # when: killed outright once about half the invoices are finalized at Stripe
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        finalized = [entry for entry in stripe_standin.request_log() if entry["path"].endswith("/finalize")]
        if len(finalized) >= len(followers) // 2:
            break
        time.sleep(0.002)
    else:
        pytest.fail(f"run_billing ended or stalled before half the invoices: {process.communicate()}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    open_after_kill = Invoice.objects.filter(period=OCTOBER, status=Invoice.Status.OPEN).count()
    assert 0 < open_after_kill < len(followers)

    # then: a second run finishes the job
    rerun = subprocess.run(command, cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120)

    assert rerun.returncode == 0, rerun.stderr
    assert "sent and finalized" in rerun.stdout
    _assert_every_follower_invoiced_once_here_and_at_stripe(followers, stripe_standin)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow  # starts processes: make test, not the fast lane
@pytest.mark.django_db(transaction=True)
def test_run_billing_with_stripe_down_exits_non_zero_naming_the_invoices_then_a_rerun_sends_them(stripe_standin, stripe_standin_url):
    leader = make_user("leader")
    strategy = make_strategy(leader, kind=Strategy.Kind.AI, override="15")
    followers = _billable_followers(strategy, 2)
    # Nothing listens there: every call to Stripe fails to connect.
    env = _command_env(stripe_api_base=f"http://127.0.0.1:{_closed_port()}")
    command = [sys.executable, "manage.py", "run_billing", "--period", "2026-10"]

    down = subprocess.run(command, cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=180)

    invoices = list(Invoice.objects.filter(period=OCTOBER).order_by("id"))
    assert [invoice.status for invoice in invoices] == [Invoice.Status.DRAFT] * 2
    assert down.returncode == 1, down.stdout + down.stderr
    assert "2 invoice(s) of 2026-10 could not be sent to Stripe" in down.stderr
    for invoice, follower in zip(invoices, followers, strict=True):
        assert f"invoice {invoice.id} ({follower.username}, 15.00 USD)" in down.stderr

    back = subprocess.run(
        command,
        cwd=django_settings.BASE_DIR,
        env={**env, "STRIPE_API_BASE": stripe_standin_url},
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert back.returncode == 0, back.stdout + back.stderr
    assert set(Invoice.objects.filter(period=OCTOBER).values_list("status", flat=True)) == {Invoice.Status.OPEN}
