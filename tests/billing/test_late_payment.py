"""Money received late reaches its payee: an invoice written off, then paid, is paid out once."""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import Invoice, Payout
from billing.services import billing_period_run, payouts_run
from devtools.stripe_standin import build_event, sign_webhook_payload
from tests.billing.factories import add_trade, at, make_copy, make_user, month

URL = "/api/billing/stripe/webhook"
SECRET = "whsec_late_payment_test"
OCTOBER = month(2026, 10)
PAID_IN_NOVEMBER = int(datetime(2026, 11, 12, 9, tzinfo=UTC).timestamp())


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


def _event(event_type: str, invoice: Invoice, **fields) -> dict:
    obj = {"id": invoice.stripe_invoice_id, "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}, **fields}
    return build_event(event_type=event_type, obj=obj)


def _deliver(api_client, event: dict) -> dict:
    """Stripe's signed delivery of `event` through the webhook."""
    body = json.dumps(event)
    header = sign_webhook_payload(payload=body, secret=SECRET, timestamp=int(time.time()))
    response = api_client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200, response.content
    return response.json()


def _write_off(api_client, invoice: Invoice) -> None:
    """The payment fails, Stripe's retries give up and the invoice is marked uncollectible."""
    _deliver(api_client, _event("invoice.payment_failed", invoice))
    _deliver(api_client, _event("invoice.marked_uncollectible", invoice))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNCOLLECTIBLE


def _copying_with_profit(follower, strategy, pnl: str):
    """`follower` copies `strategy` and makes `pnl` in October."""
    add_trade(make_copy(follower, strategy, started_at=at(2026, 9, 1)), pnl=pnl, finished_at=at(2026, 10, 10))
    return follower


def _earnings(client, month_label: str = "2026-10") -> tuple[str, str, str]:
    (row,) = [row for row in client.get("/api/billing/earnings").json()["by_month"] if row["period"] == month_label]
    return row["earned"], row["paid_out"], row["pending_payout"]


def _payout_rows(payee) -> list[tuple]:
    return list(
        Payout.objects.filter(payee=payee)
        .order_by("sequence")
        .values_list("sequence", "status", "gross", "payee_amount", "platform_amount", "stripe_transfer_id", "paid_at")
    )


def test_a_written_off_invoice_paid_late_is_paid_out_to_the_leader_once(
    api_client, client_for, stripe_standin, connected_leader, follower, ai_strategy
):
    # given: issue 19. A 30.00 fee (leader 18.00) whose payment fails and is written off:
    # the month's payout closes void at 0.00
    _copying_with_profit(follower, ai_strategy, "200")
    billing_period_run(period=OCTOBER)
    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    _write_off(api_client, invoice)
    payouts_run()
    payout = Payout.objects.get(payee=connected_leader, period=OCTOBER)
    assert (payout.status, payout.payee_amount) == (Payout.Status.VOID, Decimal("0"))
    leader_client = client_for(connected_leader)
    assert _earnings(leader_client) == ("0.00", "0.00", "0.00")

    # when: the follower pays in November
    paid = _event("invoice.paid", invoice, status="paid", status_transitions={"paid_at": PAID_IN_NOVEMBER})
    assert _deliver(api_client, paid) == {"received": True, "duplicate": False}

    # then: the leader's 18.00 is earned and pending until the next payout run pays it
    invoice.refresh_from_db()
    assert (invoice.status, int(invoice.paid_at.timestamp())) == (Invoice.Status.PAID, PAID_IN_NOVEMBER)
    assert _earnings(leader_client) == ("18.00", "0.00", "18.00")

    payouts_run()

    payout.refresh_from_db()
    assert (payout.sequence, payout.status, payout.gross, payout.payee_amount, payout.platform_amount) == (
        0,
        Payout.Status.PAID,
        Decimal("30.00"),
        Decimal("18.00"),
        Decimal("12.00"),
    )
    (transfer,) = stripe_standin.objects()["transfers"]
    assert (transfer["id"], transfer["amount"], transfer["destination"]) == (payout.stripe_transfer_id, 1800, "acct_leader123")
    assert _earnings(leader_client) == ("18.00", "18.00", "0.00")

    # when: Stripe delivers the same event again and the payout run repeats
    paid_out = _payout_rows(connected_leader)
    assert _deliver(api_client, paid) == {"received": True, "duplicate": True}
    payouts_run()
    payouts_run()

    # then: nothing changes
    assert _payout_rows(connected_leader) == paid_out
    assert stripe_standin.counts()["transfers"] == 1
    assert _earnings(leader_client) == ("18.00", "18.00", "0.00")


def test_a_late_payment_after_the_months_payout_was_paid_goes_to_the_months_next_payout(
    api_client, client_for, stripe_standin, connected_leader, ai_strategy
):
    # given: alice pays her 15.00 (leader 9.00) and it is paid out; bob's 30.00 is written off
    alice = _copying_with_profit(make_user("alice"), ai_strategy, "100")
    bob = _copying_with_profit(make_user("bob"), ai_strategy, "200")
    billing_period_run(period=OCTOBER)
    alice_invoice, bob_invoice = (Invoice.objects.get(follower=user, period=OCTOBER) for user in (alice, bob))
    _deliver(api_client, _event("invoice.paid", alice_invoice))
    _write_off(api_client, bob_invoice)
    payouts_run()
    first_payout = _payout_rows(connected_leader)
    assert [row[:4] for row in first_payout] == [(0, Payout.Status.PAID, Decimal("15.00"), Decimal("9.00"))]

    # when: bob pays late, the webhook is delivered twice and the payout run repeats
    paid = _event("invoice.paid", bob_invoice, status="paid", status_transitions={"paid_at": PAID_IN_NOVEMBER})
    _deliver(api_client, paid)
    payouts_run()
    _deliver(api_client, paid)
    payouts_run()

    # then: the paid payout is untouched and bob's 18.00 is paid once, by the month's second payout
    rows = _payout_rows(connected_leader)
    assert rows[0] == first_payout[0]
    assert [row[:5] for row in rows[1:]] == [(1, Payout.Status.PAID, Decimal("30.00"), Decimal("18.00"), Decimal("12.00"))]
    assert sorted(transfer["amount"] for transfer in stripe_standin.objects()["transfers"]) == [900, 1800]
    assert _earnings(client_for(connected_leader)) == ("27.00", "27.00", "0.00")
