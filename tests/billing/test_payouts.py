"""Payouts: pending → ready once the invoices settle → a Connect transfer, or a manual payment with its tx hash."""

from decimal import Decimal

import pytest
from django.test import Client

from billing.models import BillingAccount, Invoice, Payout
from billing.services import billing_period_run, payout_record_manual, payouts_run, stripe_event_handle
from core.errors import ApplicationError
from core.models import Notification
from devtools.stripe_standin import build_event
from tests.billing.factories import add_trade, at, make_copy, make_user, month

OCTOBER = month(2026, 10)
TX_HASH = "0x9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c"


def _settle(invoice: Invoice, event_type: str = "invoice.paid") -> None:
    stripe_event_handle(
        event=build_event(
            event_type=event_type,
            obj={"id": invoice.stripe_invoice_id, "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}},
        )
    )


@pytest.fixture
def two_paying_followers(stripe_standin, ai_strategy) -> list[Invoice]:
    """Two followers of the leader's AI strategy (15 %), billed for October at Stripe."""
    for username, pnl in (("alice", "100"), ("bob", "200")):
        copy = make_copy(make_user(username), ai_strategy, started_at=at(2026, 9, 1))
        add_trade(copy, pnl=pnl, finished_at=at(2026, 10, 10))
    billing_period_run(period=OCTOBER)
    return list(Invoice.objects.filter(period=OCTOBER).order_by("follower__username"))


def test_a_payout_waits_while_an_invoice_is_open_and_is_ready_once_all_are_settled(leader, two_paying_followers):
    alice, bob = two_paying_followers
    payout = Payout.objects.get(payee=leader, period=OCTOBER)
    assert (payout.status, payout.gross) == (Payout.Status.PENDING, Decimal("0"))

    _settle(alice)
    payouts_run()
    payout.refresh_from_db()
    assert (payout.status, payout.gross, payout.payee_amount) == (Payout.Status.PENDING, Decimal("15.00"), Decimal("9.00"))

    # Bob's invoice is voided: his lines are never paid out, and the payout goes ahead.
    _settle(bob, "invoice.voided")
    payouts_run()
    payout.refresh_from_db()
    assert payout.status == Payout.Status.AWAITING_MANUAL
    assert (payout.gross, payout.payee_amount, payout.platform_amount) == (Decimal("15.00"), Decimal("9.00"), Decimal("6.00"))


def test_a_payee_with_a_connect_account_is_paid_by_one_transfer_however_often_the_run_repeats(leader, two_paying_followers, stripe_standin):
    BillingAccount.objects.create(user=leader, stripe_connect_account_id="acct_leader123")
    for invoice in two_paying_followers:
        _settle(invoice)
    # The first transfer's answer is lost after Stripe made it: the SDK retries with the same key.
    stripe_standin.fail_next(path="/v1/transfers", after_operation=True)

    payouts_run()
    payouts_run()

    payout = Payout.objects.get(payee=leader, period=OCTOBER)
    # 15 % of 100 + 15 % of 200 = 45.00; leader 60 % = 27.00
    assert (payout.status, payout.gross, payout.payee_amount, payout.platform_amount) == (
        Payout.Status.PAID,
        Decimal("45.00"),
        Decimal("27.00"),
        Decimal("18.00"),
    )
    (transfer,) = stripe_standin.objects()["transfers"]
    assert (transfer["id"], transfer["amount"], transfer["destination"]) == (payout.stripe_transfer_id, 2700, "acct_leader123")
    keys = [entry["idempotency_key"] for entry in stripe_standin.request_log() if entry["path"] == "/v1/transfers"]
    assert keys == [f"transfer-{payout.id}", f"transfer-{payout.id}"]
    assert Notification.objects.filter(user=leader, kind=Notification.Kind.PAYOUT).count() == 1


def test_a_transfer_stripe_refuses_fails_the_payout_with_the_reason(leader, two_paying_followers, stripe_standin):
    BillingAccount.objects.create(user=leader, stripe_connect_account_id="acct_leader123")
    for invoice in two_paying_followers:
        _settle(invoice)
    stripe_standin.fail_next(path="/v1/transfers", status=400)

    payouts_run()

    payout = Payout.objects.get(payee=leader, period=OCTOBER)
    assert payout.status == Payout.Status.FAILED
    assert "Stripe create transfer failed" in payout.failure_reason
    assert stripe_standin.counts()["transfers"] == 0


def test_the_billing_role_records_the_tx_hash_of_a_manual_payout_in_admin(leader, two_paying_followers, billing_operator):
    for invoice in two_paying_followers:
        _settle(invoice)
    payouts_run()
    payout = Payout.objects.get(payee=leader, period=OCTOBER)
    assert payout.status == Payout.Status.AWAITING_MANUAL
    browser = Client()
    browser.force_login(billing_operator)

    refused = browser.post(f"/admin/billing/payout/{payout.id}/change/", {"tx_hash": "not a hash!"})
    payout.refresh_from_db()
    assert refused.status_code == 200 and payout.status == Payout.Status.AWAITING_MANUAL

    response = browser.post(f"/admin/billing/payout/{payout.id}/change/", {"tx_hash": TX_HASH})

    assert response.status_code == 302
    payout.refresh_from_db()
    assert (payout.status, payout.tx_hash) == (Payout.Status.PAID, TX_HASH)
    assert payout.paid_at is not None


def test_a_tx_hash_cannot_be_recorded_on_a_payout_that_is_not_awaiting_manual_payment(leader, two_paying_followers):
    payout = Payout.objects.get(payee=leader, period=OCTOBER)

    with pytest.raises(ApplicationError, match="pending"):
        payout_record_manual(payout_id=payout.id, tx_hash=TX_HASH)

    payout.refresh_from_db()
    assert (payout.status, payout.tx_hash) == (Payout.Status.PENDING, "")
