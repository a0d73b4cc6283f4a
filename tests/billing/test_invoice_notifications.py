"""An invoice tells its follower when it is issued, paid or fails; a payout its payee when it
is made: each by the real status change, shown in the app, mailed only when it asks for action."""

import pytest
from django.core import mail

from billing.models import Invoice
from billing.services import billing_period_run, stripe_event_handle
from core.models import Notification
from devtools.stripe_standin import build_event
from tests.billing.factories import add_trade, at, make_copy, month

OCTOBER = month(2026, 10)


@pytest.mark.django_db
def test_an_invoice_is_told_when_issued_and_when_paid_and_mailed_only_when_payment_fails(
    stripe_standin, follower, ai_strategy, django_capture_on_commit_callbacks
):
    # given October's profit of 100 USD, billed at 15 %
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))

    # when the invoice goes to Stripe, its payment fails, and then it is paid
    with django_capture_on_commit_callbacks(execute=True):
        billing_period_run(period=OCTOBER)
        invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
        for event_type in ("invoice.payment_failed", "invoice.paid"):
            stripe_event_handle(
                event=build_event(
                    event_type=event_type,
                    obj={"id": invoice.stripe_invoice_id, "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}},
                )
            )

    # then three notices in that order, and one mail: the failed payment
    told = list(Notification.objects.filter(user=follower).order_by("id").values_list("kind", "title"))
    assert told == [
        (Notification.Kind.INVOICE_ISSUED, "Your 2026-10 invoice: 15.00 USD"),
        (Notification.Kind.INVOICE, "Payment of your 2026-10 invoice failed"),
        (Notification.Kind.INVOICE_PAID, "Your 2026-10 invoice of 15.00 USD was paid"),
    ]
    assert [message.subject for message in mail.outbox] == ["Payment of your 2026-10 invoice failed"]
