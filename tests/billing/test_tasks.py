"""The beat tasks: the monthly run bills the month that just ended; the daily run pays out.

Both fan out (issue 15): the beat task only enqueues one task per follower (per invoice
to send, per payout to pay), each well inside the broker's visibility timeout. `eager`
runs the enqueued tasks in this process, as a worker would.
"""

import base64
import json
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from billing import tasks
from billing.fees import previous_period
from billing.models import BillingAccount, Invoice, Payout
from billing.selectors import billing_period_progress
from billing.services import stripe_event_handle
from billing.tasks import run_daily_payouts, run_monthly_billing
from devtools.stripe_standin import build_event
from tests.billing.factories import add_trade, at, make_copy, make_user


@pytest.fixture
def last_month():
    return previous_period(timezone.now().date())


@pytest.fixture
def eager():
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def profit_last_month(leader, follower, ai_strategy, last_month):
    """The follower made 100 last month copying the leader's AI strategy (15 %); the leader has a Connect account."""
    BillingAccount.objects.create(user=leader, stripe_connect_account_id="acct_leader")
    copy = make_copy(follower, ai_strategy, started_at=at(last_month.year, last_month.month, 1))
    add_trade(copy, pnl="100", finished_at=at(last_month.year, last_month.month, 2))


def test_the_monthly_task_bills_the_month_that_just_ended_and_the_daily_task_pays_the_leader(
    stripe_standin, leader, follower, last_month, profit_last_month, eager
):
    run_monthly_billing()
    run_monthly_billing()

    invoice = Invoice.objects.get(follower=follower)
    assert (invoice.period, invoice.total, invoice.status) == (last_month, Decimal("15.00"), Invoice.Status.OPEN)
    assert stripe_standin.counts()["invoices"] == 1

    stripe_event_handle(event=build_event(event_type="invoice.paid", obj={"id": invoice.stripe_invoice_id, "object": "invoice"}))
    run_daily_payouts()
    run_daily_payouts()

    payout = Payout.objects.get(payee=leader, period=last_month)
    assert (payout.status, payout.payee_amount) == (Payout.Status.PAID, Decimal("9.00"))
    assert [transfer["amount"] for transfer in stripe_standin.objects()["transfers"]] == [900]


def test_the_daily_task_reconciles_an_invoice_paid_at_stripe_without_a_webhook_and_pays_the_leader_once(
    stripe_standin, leader, follower, last_month, profit_last_month, eager
):
    run_monthly_billing()
    invoice = Invoice.objects.get(follower=follower)
    stripe_standin.invoice_collect(invoice.stripe_invoice_id)

    run_daily_payouts()
    run_daily_payouts()
    run_daily_payouts()

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payout = Payout.objects.get(payee=leader, period=last_month)
    assert (payout.status, payout.payee_amount) == (Payout.Status.PAID, Decimal("9.00"))
    assert [transfer["amount"] for transfer in stripe_standin.objects()["transfers"]] == [900]


def test_the_monthly_run_enqueues_one_task_per_follower_each_bills_once_and_progress_shows(stripe_standin, ai_strategy, last_month, capsys):
    # given three followers with a profitable copy last month
    followers = [make_user(f"payer{index}") for index in range(3)]
    for follower in followers:
        add_trade(
            make_copy(follower, ai_strategy, started_at=at(last_month.year, last_month.month, 1)),
            pnl="100",
            finished_at=at(last_month.year, last_month.month, 2),
        )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("billing")

    # when the beat task runs
    run_monthly_billing()

    # then it billed nobody itself: it enqueued one task per follower on the billing queue
    messages = [json.loads(raw) for raw in broker.lrange("billing", 0, -1)]
    assert sorted(message["headers"]["task"] for message in messages) == ["billing.tasks.bill_follower"] * 3
    enqueued = sorted(json.loads(base64.b64decode(message["body"]))[0] for message in messages)  # [args, kwargs, embed]
    assert enqueued == sorted([follower.pk, last_month.isoformat()] for follower in followers)
    assert Invoice.objects.count() == 0
    assert billing_period_progress(period=last_month).invoiced == 0

    # when the workers run them, one of them twice (a redelivery)
    for follower in followers:
        tasks.bill_follower.apply(args=(follower.pk, last_month.isoformat())).get()
    tasks.bill_follower.apply(args=(followers[0].pk, last_month.isoformat())).get()

    # then each follower has one invoice, sent once, and the run's progress says done
    invoices = Invoice.objects.filter(period=last_month)
    assert sorted(invoices.values_list("follower_id", flat=True)) == sorted(follower.pk for follower in followers)
    assert {(invoice.total, invoice.status) for invoice in invoices} == {(Decimal("15.00"), Invoice.Status.OPEN)}
    assert stripe_standin.counts()["invoices"] == 3
    progress = billing_period_progress(period=last_month)
    assert (progress.followers, progress.invoiced, progress.awaiting_send, progress.done) == (3, 3, 0, True)
    call_command("billing_progress", "--period", last_month.strftime("%Y-%m"))
    assert f"billing {last_month:%Y-%m}: 3/3 followers invoiced (done), 0 invoices not sent" in capsys.readouterr().out


def test_every_billing_task_ends_well_inside_the_visibility_timeout():
    visibility_timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    every = (
        tasks.run_monthly_billing,
        tasks.bill_follower,
        tasks.run_daily_payouts,
        tasks.send_invoice,
        tasks.pay_payout,
        tasks.reconcile_invoice,
        tasks.reconcile_payout,
        tasks.delete_orphan_drafts,
    )
    for task in every:
        assert task.acks_late and task.time_limit <= visibility_timeout / 3, task.name
