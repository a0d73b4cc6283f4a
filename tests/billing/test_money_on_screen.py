"""Money a person reads: 2 decimals and the currency, in notifications (and so emails),
admin titles and the API's fee terms; never "79.29000000" or "0E-8"."""

from decimal import Decimal

import pytest
from django.core import mail

from billing.models import AssessedTrade, Invoice, Payout
from billing.services import billing_period_run, payout_record_manual, payouts_run, stripe_event_handle
from core.models import Notification
from devtools.stripe_standin import build_event
from marketplace.models import CopyFeeTerms
from marketplace.services import curators_group, provider_apply
from tests.billing.factories import add_trade, at, make_copy, make_user, month

OCTOBER = month(2026, 10)
TX_HASH = "0x" + "ab" * 32


@pytest.fixture(autouse=True)
def _ledger_only(settings):
    settings.STRIPE_API_KEY = ""


@pytest.mark.django_db
def test_a_paid_payout_and_a_failed_payment_state_their_amounts_in_cents_with_the_currency(leader, follower, ai_strategy):
    # given: October billed (15 % of 528.60 = 79.29) and paid
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 15))
    add_trade(copy, pnl="528.60", finished_at=at(2026, 10, 10))
    billing_period_run(period=OCTOBER)
    invoice = Invoice.objects.get(follower=follower)
    stripe_event_handle(
        event=build_event(
            event_type="invoice.payment_failed",
            obj={"id": "in_1", "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}},
        )
    )
    stripe_event_handle(
        event=build_event(
            event_type="invoice.paid",
            obj={"id": "in_1", "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}},
        )
    )
    payouts_run()

    # when
    payout_record_manual(payout_id=Payout.objects.get(payee=leader).id, tx_hash=TX_HASH)

    # then
    failed = Notification.objects.get(user=follower, kind=Notification.Kind.INVOICE)
    assert "We could not collect 79.29 USD." in failed.body
    paid = Notification.objects.get(user=leader, kind=Notification.Kind.PAYOUT)
    assert paid.title == "Your 2026-10 payout of 47.57 USD was paid"
    assert all("0000" not in message.subject + message.body for message in mail.outbox)


@pytest.mark.django_db
def test_ledger_and_terms_rows_read_in_cents_in_admin_titles(leader, follower, ai_strategy):
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 15))
    add_trade(copy, pnl="0", finished_at=at(2026, 10, 10))
    billing_period_run(period=OCTOBER)

    assert str(Invoice.objects.get()) == "Invoice 2026-10 · follower follower · 0.00 USD · paid"
    assert "P&L 0.00 USD · fee 0.00 USD" in str(AssessedTrade.objects.get())
    assert str(CopyFeeTerms.objects.get()).endswith("· 15 % + 0.00 USD a month")


@pytest.mark.django_db
def test_a_providers_application_tells_curators_the_fee_in_cents():
    curator = make_user("curator", is_staff=True)
    curators_group().user_set.add(curator)

    provider_apply(
        user=make_user("paula"), display_name="Paula", subscription_fee_monthly=Decimal("29"), performance_fee_percent=Decimal("12.50")
    )

    (told,) = Notification.objects.filter(user=curator, kind=Notification.Kind.PROVIDER_APPLICATION)
    assert "subscription 29.00 USD a month, performance fee 12.5 %" in told.body
