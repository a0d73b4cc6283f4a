"""POST /api/billing/stripe/webhook: Stripe-Signature checked by the SDK, events applied once."""

import json
import time
from decimal import Decimal

import pytest
import stripe

from billing.models import Invoice, StripeEvent
from billing.services import billing_period_run
from core.models import Notification
from devtools.stripe_standin import build_event, sign_webhook_payload
from tests.billing.factories import add_trade, at, make_copy, month

URL = "/api/billing/stripe/webhook"
SECRET = "whsec_billing_test"
OCTOBER = month(2026, 10)


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def sdk_verifications(monkeypatch) -> list:
    """Every call into the SDK's own signature verifier."""
    calls = []
    real_verify = stripe.WebhookSignature.verify_header

    def spy(payload, header, secret, tolerance=None):
        calls.append(header)
        return real_verify(payload, header, secret, tolerance)

    monkeypatch.setattr(stripe.WebhookSignature, "verify_header", spy)
    return calls


@pytest.fixture
def open_invoice(stripe_standin, follower, ai_strategy) -> Invoice:
    copy = make_copy(follower, ai_strategy, started_at=at(2026, 9, 1))
    add_trade(copy, pnl="100", finished_at=at(2026, 10, 10))
    billing_period_run(period=OCTOBER)
    invoice = Invoice.objects.get(follower=follower, period=OCTOBER)
    assert invoice.status == Invoice.Status.OPEN
    return invoice


def _event_body(event_type: str, invoice: Invoice, **fields) -> str:
    obj = {"id": invoice.stripe_invoice_id, "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}, **fields}
    return json.dumps(build_event(event_type=event_type, obj=obj))


def _post(api_client, body: str, *, secret: str = SECRET, timestamp: int | None = None, header: str | None = None):
    if header is None:
        header = sign_webhook_payload(payload=body, secret=secret, timestamp=timestamp or int(time.time()))
    return api_client.post(URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def test_a_signed_invoice_paid_event_marks_the_invoice_and_its_fees_paid(api_client, open_invoice, sdk_verifications):
    paid_at = int(time.time()) - 60
    body = _event_body("invoice.paid", open_invoice, status="paid", status_transitions={"paid_at": paid_at})

    response = _post(api_client, body)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    assert len(sdk_verifications) == 1
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID
    assert int(open_invoice.paid_at.timestamp()) == paid_at
    trade = open_invoice.lines.get().assessment.assessed_trades.get().copied_trade
    assert (trade.override_fee_charged, trade.fee_paid_at) == (Decimal("15.00000000"), open_invoice.paid_at)


def test_the_same_event_twice_changes_nothing_the_second_time(api_client, open_invoice):
    body = _event_body("invoice.paid", open_invoice)
    _post(api_client, body)
    open_invoice.refresh_from_db()
    first = (open_invoice.status, open_invoice.paid_at, open_invoice.updated_at)

    response = _post(api_client, body)

    assert response.json() == {"received": True, "duplicate": True}
    open_invoice.refresh_from_db()
    assert (open_invoice.status, open_invoice.paid_at, open_invoice.updated_at) == first
    assert StripeEvent.objects.count() == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, header: (body.replace('"invoice.paid"', '"invoice.voided"'), header), id="tampered body"),
        pytest.param(lambda body, header: (body, header.replace("v1=", "v1=0")), id="tampered signature"),
        pytest.param(lambda body, header: (body, ""), id="no signature"),
        pytest.param(lambda body, header: (body, "t=oops"), id="garbled header"),
    ],
)
def test_a_tampered_or_unsigned_event_is_refused_with_400_and_changes_nothing(api_client, open_invoice, tamper, sdk_verifications):
    body = _event_body("invoice.paid", open_invoice)
    body, header = tamper(body, sign_webhook_payload(payload=body, secret=SECRET, timestamp=int(time.time())))

    response = _post(api_client, body, header=header)

    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid Stripe webhook")
    assert len(sdk_verifications) == 1
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN
    assert StripeEvent.objects.count() == 0


def test_a_stale_event_outside_the_replay_window_is_refused(api_client, open_invoice, sdk_verifications):
    body = _event_body("invoice.paid", open_invoice)

    response = _post(api_client, body, timestamp=int(time.time()) - 301)

    assert response.status_code == 400
    assert "timestamp" in response.json()["message"].lower()
    assert len(sdk_verifications) == 1
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN


def test_an_event_signed_with_another_secret_is_refused(api_client, open_invoice):
    response = _post(api_client, _event_body("invoice.paid", open_invoice), secret="whsec_someone_else")

    assert response.status_code == 400
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN


def test_a_failed_payment_keeps_the_invoice_open_and_tells_the_follower(api_client, open_invoice, follower):
    response = _post(api_client, _event_body("invoice.payment_failed", open_invoice))

    assert response.status_code == 200
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN
    assert open_invoice.payment_failed_at is not None
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.INVOICE, title__contains="failed").count() == 1


def test_a_voided_invoice_is_void_and_a_late_paid_event_does_not_revive_it(api_client, open_invoice):
    _post(api_client, _event_body("invoice.voided", open_invoice))
    _post(api_client, _event_body("invoice.paid", open_invoice))

    open_invoice.refresh_from_db()
    assert (open_invoice.status, open_invoice.paid_at) == (Invoice.Status.VOID, None)
    assert open_invoice.voided_at is not None


def test_an_event_about_something_else_is_acknowledged_and_ignored(api_client, open_invoice):
    body = json.dumps(build_event(event_type="customer.created", obj={"id": "cus_1", "object": "customer"}))

    response = _post(api_client, body)

    assert response.status_code == 200
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN


def test_without_a_webhook_secret_every_event_is_refused(api_client, open_invoice, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""

    response = _post(api_client, _event_body("invoice.paid", open_invoice))

    assert response.status_code == 400
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.OPEN


@pytest.fixture
def production_rates(settings):
    """The throttle rates production starts with (config/settings/base.py), not the test settings' 100000/min."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "anon": "60/min",
            "user": "600/min",
            "auth": "10/min",
            "webhook": "120/min",
            "webhook_unsigned": "30/min",
            "stripe_webhook_unsigned": "30/min",
        },
    }


def test_a_burst_of_200_signed_events_is_all_answered_2xx(api_client, open_invoice, production_rates):
    """The 1st of a month: Stripe delivers the news of many invoices at once, from one address."""
    bodies = [_event_body("invoice.paid", open_invoice)] + [
        json.dumps(build_event(event_type="invoice.payment_succeeded", obj={"id": f"in_other{index}", "object": "invoice"}))
        for index in range(199)
    ]

    statuses = [_post(api_client, body).status_code for body in bodies]

    assert statuses == [200] * 200
    assert StripeEvent.objects.count() == 200
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID


def test_requests_failing_the_signature_have_their_own_bounded_budget_and_never_block_signed_events(
    api_client, open_invoice, production_rates
):
    body = _event_body("invoice.paid", open_invoice)

    refused = []
    while len(refused) < 300 and 429 not in refused:
        refused.append(_post(api_client, body, secret="whsec_guess").status_code)

    # 30 a minute per client: the bucket holds 30 (a token comes back every 2 s), then 429.
    assert refused[-1] == 429
    assert refused.count(400) >= 30 and set(refused) == {400, 429}
    assert _post(api_client, body).status_code == 200
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID
