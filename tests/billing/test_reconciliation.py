"""The daily run reads our invoices and transfers back from Stripe (the stand-in, over HTTP):
what a lost webhook would have said is applied through the webhook's own handlers, once."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.utils import timezone

from billing.models import Invoice, Payout
from billing.services import billing_period_run, payouts_run
from copytrade.models import CopiedTrade
from core.models import Notification
from devtools.stripe_standin import build_event, sign_webhook_payload
from tests.billing.factories import add_trade, at, make_copy, make_user, month
from tests.fixtures.stripe import STANDIN_API_KEY

URL = "/api/billing/stripe/webhook"
SECRET = "whsec_reconciliation_test"
OCTOBER = month(2026, 10)


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def open_invoice(stripe_standin, connected_leader, ai_strategy) -> Invoice:
    """A follower's October invoice of 15.00 (15 % of 100), open at Stripe and here."""
    add_trade(make_copy(make_user("payer"), ai_strategy, started_at=at(2026, 9, 1)), pnl="100", finished_at=at(2026, 10, 10))
    billing_period_run(period=OCTOBER)
    invoice = Invoice.objects.get(period=OCTOBER)
    assert invoice.status == Invoice.Status.OPEN
    return invoice


def _deliver(api_client, event_type: str, obj: dict) -> dict:
    body = json.dumps(build_event(event_type=event_type, obj=obj))
    header = sign_webhook_payload(payload=body, secret=SECRET, timestamp=int(time.time()))
    response = api_client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200, response.content
    return response.json()


def _stripe(settings) -> stripe.StripeClient:
    """Someone else's calls to the same Stripe account (a run that died, Stripe's dashboard)."""
    return stripe.StripeClient(STANDIN_API_KEY, base_addresses={"api": settings.STRIPE_API_BASE})


def _ledger(invoice: Invoice, payee) -> tuple:
    invoice.refresh_from_db()
    payouts = list(Payout.objects.filter(payee=payee).values_list("status", "payee_amount", "stripe_transfer_id"))
    fees_paid = list(CopiedTrade.objects.filter(copy__follower=invoice.follower).values_list("fee_paid_at", flat=True))
    return invoice.status, invoice.paid_at, payouts, fees_paid


def test_an_invoice_paid_at_stripe_whose_webhook_never_came_is_paid_by_the_daily_run_and_paid_out_once(
    api_client, stripe_standin, connected_leader, open_invoice
):
    paid_at_stripe = stripe_standin.invoice_collect(open_invoice.stripe_invoice_id)
    assert paid_at_stripe["status"] == "paid"

    payouts_run()

    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID
    assert int(open_invoice.paid_at.timestamp()) == paid_at_stripe["status_transitions"]["paid_at"]
    assert CopiedTrade.objects.get(copy__follower=open_invoice.follower).fee_paid_at == open_invoice.paid_at
    payout = Payout.objects.get(payee=connected_leader, period=OCTOBER)
    # 15.00 collected, the leader's 60 % is 9.00
    assert (payout.status, payout.payee_amount) == (Payout.Status.PAID, Decimal("9.00"))
    (transfer,) = stripe_standin.objects()["transfers"]
    assert (transfer["id"], transfer["amount"]) == (payout.stripe_transfer_id, 900)

    # The next days' runs, and the webhooks arriving at last (both kinds Stripe sends for a
    # collected invoice, one of them twice), change nothing.
    after_reconciliation = _ledger(open_invoice, connected_leader)
    payouts_run()
    obj = {"object": "invoice", **paid_at_stripe}
    for event_type in ("invoice.payment_succeeded", "invoice.paid", "invoice.paid"):
        assert _deliver(api_client, event_type, obj) == {"received": True, "duplicate": False}
    payouts_run()

    assert _ledger(open_invoice, connected_leader) == after_reconciliation
    assert len(stripe_standin.objects()["transfers"]) == 1
    assert Notification.objects.filter(user=connected_leader, kind=Notification.Kind.PAYOUT).count() == 1


def test_invoice_payment_succeeded_alone_pays_the_invoice(api_client, stripe_standin, open_invoice):
    obj = {"id": open_invoice.stripe_invoice_id, "object": "invoice", "metadata": {"invoice_id": str(open_invoice.id)}}

    _deliver(api_client, "invoice.payment_succeeded", obj)

    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID


def test_an_invoice_written_off_at_stripe_then_collected_is_followed_here_and_paid_out_once(stripe_standin, connected_leader, open_invoice):
    stripe_standin.invoice_uncollectible(open_invoice.stripe_invoice_id)

    payouts_run()

    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.UNCOLLECTIBLE
    payout = Payout.objects.get(payee=connected_leader, period=OCTOBER)
    # Nothing collected: the month's payout closes void, nothing is transferred.
    assert payout.status == Payout.Status.VOID
    assert stripe_standin.objects()["transfers"] == []

    stripe_standin.invoice_collect(open_invoice.stripe_invoice_id)
    payouts_run()
    payouts_run()

    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID
    rows = list(Payout.objects.filter(payee=connected_leader).values_list("status", "payee_amount"))
    assert rows == [(Payout.Status.PAID, Decimal("9.00"))]
    assert [transfer["amount"] for transfer in stripe_standin.objects()["transfers"]] == [900]


def test_a_still_open_invoice_is_left_open(stripe_standin, connected_leader, open_invoice):
    payouts_run()

    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN
    assert Payout.objects.get(payee=connected_leader).status == Payout.Status.PENDING
    reads = [entry["path"] for entry in stripe_standin.request_log() if entry["method"] == "GET"]
    assert f"/v1/invoices/{open_invoice.stripe_invoice_id}" in reads


def test_an_orphan_draft_of_ours_is_deleted_at_stripe_and_nothing_else_is(settings, stripe_standin, open_invoice):
    client = _stripe(settings)
    customer = stripe_standin.objects()["customers"][0]["id"]
    # A run that created a draft for this invoice and died before storing its id; the re-run,
    # after Stripe forgot the idempotency key, made the draft the invoice now names.
    orphan = client.v1.invoices.create(params={"customer": customer, "metadata": {"invoice_id": str(open_invoice.id)}})
    # Not ours to delete: a draft that names no invoice of ours.
    foreign = client.v1.invoices.create(params={"customer": customer, "metadata": {"order": "42"}})

    summary = payouts_run()

    at_stripe = {invoice["id"]: invoice["status"] for invoice in stripe_standin.objects()["invoices"]}
    assert orphan.id not in at_stripe
    assert at_stripe[foreign.id] == "draft"
    assert at_stripe[open_invoice.stripe_invoice_id] == "open"
    assert summary.reconciliation.drafts_deleted == 1


def test_a_reversed_transfer_fails_the_payout_once_and_is_not_transferred_again(stripe_standin, connected_leader, open_invoice):
    stripe_standin.invoice_collect(open_invoice.stripe_invoice_id)
    payouts_run()
    payout = Payout.objects.get(payee=connected_leader)
    assert payout.status == Payout.Status.PAID

    stripe_standin.transfer_reverse(payout.stripe_transfer_id, amount_cents=400)
    payouts_run()
    payouts_run()

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert (
        payout.failure_reason
        == f"Stripe transfer {payout.stripe_transfer_id} was reversed: 4.00 USD of 9.00 USD went back to the platform."
    )
    assert len(stripe_standin.objects()["transfers"]) == 1


def test_a_reversal_webhook_fails_the_paid_payout(api_client, stripe_standin, connected_leader, open_invoice):
    stripe_standin.invoice_collect(open_invoice.stripe_invoice_id)
    payouts_run()
    payout = Payout.objects.get(payee=connected_leader)
    reversed_transfer = stripe_standin.transfer_reverse(payout.stripe_transfer_id)

    _deliver(api_client, "transfer.reversed", reversed_transfer)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert "9.00 USD of 9.00 USD" in payout.failure_reason


def test_a_transfer_stripe_made_whose_answer_never_came_is_recorded_and_not_made_again(
    settings, stripe_standin, connected_leader, open_invoice
):
    stripe_standin.invoice_collect(open_invoice.stripe_invoice_id)
    # Every answer to the transfer is lost, the SDK's retries too: the payout stays ready.
    stripe_standin.fail_next(path="/v1/transfers", method="POST", after_operation=True, count=3, status=502)
    payouts_run()
    payout = Payout.objects.get(payee=connected_leader)
    assert (payout.status, payout.stripe_transfer_id) == (Payout.Status.READY, "")
    (made,) = stripe_standin.objects()["transfers"]
    # A day later Stripe has forgotten the idempotency key; the reconciliation finds the transfer first.
    Payout.objects.filter(id=payout.id).update(ready_at=timezone.now() - timedelta(days=1))

    payouts_run()

    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == (Payout.Status.PAID, made["id"])
    assert len(stripe_standin.objects()["transfers"]) == 1
