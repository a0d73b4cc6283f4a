"""The beat tasks: the monthly run bills the month that just ended; the daily run pays out."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.fees import previous_period
from billing.models import BillingAccount, Invoice, Payout
from billing.services import stripe_event_handle
from billing.tasks import run_daily_payouts, run_monthly_billing
from devtools.stripe_standin import build_event
from tests.billing.factories import add_trade, at, make_copy


@pytest.fixture
def last_month():
    return previous_period(timezone.now().date())


def test_the_monthly_task_bills_the_month_that_just_ended_and_the_daily_task_pays_the_leader(
    stripe_standin, leader, follower, ai_strategy, last_month
):
    BillingAccount.objects.create(user=leader, stripe_connect_account_id="acct_leader")
    relationship = make_copy(follower, ai_strategy, started_at=at(last_month.year, last_month.month, 1))
    add_trade(relationship, pnl="100", finished_at=at(last_month.year, last_month.month, 2))

    run_monthly_billing()
    run_monthly_billing()

    invoice = Invoice.objects.get(follower=follower)
    assert (invoice.period, invoice.total, invoice.status) == (last_month, Decimal("15.00"), Invoice.Status.OPEN)
    assert stripe_standin.counts()["invoices"] == 1

    stripe_event_handle(
        event=build_event(event_type="invoice.paid", obj={"id": invoice.stripe_invoice_id, "object": "invoice"})
    )
    run_daily_payouts()
    run_daily_payouts()

    payout = Payout.objects.get(payee=leader, period=last_month)
    assert (payout.status, payout.payee_amount) == (Payout.Status.PAID, Decimal("9.00"))
    assert [transfer["amount"] for transfer in stripe_standin.objects()["transfers"]] == [900]
