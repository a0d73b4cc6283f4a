"""The Stripe gateway through the real stripe SDK, over HTTP, against the loopback stand-in."""

import json
import time
from decimal import Decimal

import pytest
import stripe

from billing.errors import PaymentProviderError, WebhookSignatureError
from billing.stripe_gateway import StripeGateway, stripe_gateway, to_cents, verify_webhook
from devtools.stripe_standin import build_event, sign_webhook_payload
from tests.fixtures.stripe import STANDIN_API_KEY

WEBHOOK_SECRET = "whsec_test_secret"
FEE_LINE = (101, 12_345, "USD", "Performance fee, March")
SUBSCRIPTION_LINE = (102, 2_900, "USD", "Subscription, March")


@pytest.fixture
def gateway(stripe_standin) -> StripeGateway:
    return stripe_gateway()


@pytest.fixture
def customer_id(gateway) -> str:
    return gateway.ensure_customer(user_id=7, email="follower@example.com", name="Follower", existing_customer_id=None)


def _create_march_invoice(gateway, customer_id, lines=(FEE_LINE, SUBSCRIPTION_LINE)) -> str:
    return gateway.create_invoice(invoice_id=42, customer_id=customer_id, lines=list(lines), metadata={"period": "2025-03"})


# --- configuration ---------------------------------------------------------------------


def test_there_is_no_gateway_without_an_api_key(settings):
    settings.STRIPE_API_KEY = ""

    assert stripe_gateway() is None


def test_a_gateway_with_a_rejected_api_key_fails_permanently(stripe_standin, stripe_standin_url):
    gateway = StripeGateway(api_key="sk_live_not_for_a_stand_in", api_base=stripe_standin_url)

    with pytest.raises(PaymentProviderError) as raised:
        gateway.ensure_customer(user_id=7, email="follower@example.com", name="Follower", existing_customer_id=None)

    assert raised.value.transient is False
    assert [entry["status"] for entry in stripe_standin.request_log()] == [401]


# --- customers -------------------------------------------------------------------------


def test_it_creates_one_customer_per_user_however_often_it_is_asked(gateway, stripe_standin):
    first = gateway.ensure_customer(user_id=7, email="follower@example.com", name="Follower", existing_customer_id=None)
    second = gateway.ensure_customer(user_id=7, email="follower@example.com", name="Follower", existing_customer_id=None)

    assert first == second
    assert stripe_standin.counts()["customers"] == 1
    sent = stripe_standin.request_log()
    assert [(entry["method"], entry["path"], entry["idempotency_key"], entry["replayed"]) for entry in sent] == [
        ("POST", "/v1/customers", "customer-7", False),
        ("POST", "/v1/customers", "customer-7", True),
    ]
    assert sent[0]["params"] == {"email": "follower@example.com", "name": "Follower", "metadata": {"user_id": "7"}}


def test_it_keeps_a_customer_stripe_still_has(gateway, stripe_standin, customer_id):
    assert (
        gateway.ensure_customer(user_id=7, email="follower@example.com", name="Follower", existing_customer_id=customer_id) == customer_id
    )

    assert stripe_standin.counts()["customers"] == 1
    assert stripe_standin.request_log()[-1]["method"] == "GET"


def test_it_replaces_a_customer_stripe_no_longer_has(gateway, stripe_standin, customer_id):
    replacement = gateway.ensure_customer(user_id=7, email="follower@example.com", name="Follower", existing_customer_id="cus_gone")

    assert replacement != customer_id
    assert stripe_standin.counts()["customers"] == 2
    assert [(entry["method"], entry["path"], entry["status"], entry["idempotency_key"]) for entry in stripe_standin.request_log()[1:]] == [
        ("GET", "/v1/customers/cus_gone", 404, None),
        ("POST", "/v1/customers", 200, "customer-7-replaces-cus_gone"),
    ]


# --- invoices --------------------------------------------------------------------------


def test_it_creates_a_draft_invoice_then_attaches_each_line_to_it(gateway, stripe_standin, customer_id):
    stripe_invoice_id = _create_march_invoice(gateway, customer_id)

    sent = stripe_standin.request_log()[1:]
    assert [(entry["path"], entry["idempotency_key"], entry["status"]) for entry in sent] == [
        ("/v1/invoices", "invoice-42", 200),
        ("/v1/invoiceitems", "invoiceitem-101", 200),
        ("/v1/invoiceitems", "invoiceitem-102", 200),
    ]
    assert sent[0]["params"] == {
        "customer": customer_id,
        "currency": "usd",
        "collection_method": "charge_automatically",
        "auto_advance": "false",
        "pending_invoice_items_behavior": "exclude",
        "metadata": {"period": "2025-03", "invoice_id": "42"},
    }
    assert sent[1]["params"] == {
        "customer": customer_id,
        "invoice": stripe_invoice_id,
        "amount": "12345",
        "currency": "usd",
        "description": "Performance fee, March",
        "metadata": {"invoice_id": "42", "invoice_line_id": "101"},
    }
    (invoice,) = stripe_standin.objects()["invoices"]
    assert (invoice["id"], invoice["status"], invoice["total"]) == (stripe_invoice_id, "draft", 12_345 + 2_900)


def test_rerunning_an_invoice_creates_nothing_new(gateway, stripe_standin, customer_id):
    first = _create_march_invoice(gateway, customer_id)
    requests_before = len(stripe_standin.request_log())

    second = _create_march_invoice(gateway, customer_id)

    assert second == first
    assert stripe_standin.counts() == {"customers": 1, "invoices": 1, "invoiceitems": 2, "transfers": 0}
    rerun = stripe_standin.request_log()[requests_before:]
    assert len(rerun) == 3
    assert all(entry["replayed"] for entry in rerun)


def test_an_answer_lost_after_stripe_stored_the_item_is_retried_without_a_duplicate(gateway, stripe_standin, customer_id):
    stripe_standin.fail_next(path="/v1/invoiceitems", after_operation=True)

    _create_march_invoice(gateway, customer_id)

    items = [entry for entry in stripe_standin.request_log() if entry["path"] == "/v1/invoiceitems"]
    assert [(entry["idempotency_key"], entry["status"], entry["replayed"]) for entry in items] == [
        ("invoiceitem-101", 500, False),
        ("invoiceitem-101", 200, True),
        ("invoiceitem-102", 200, False),
    ]
    assert stripe_standin.counts()["invoiceitems"] == 2
    (invoice,) = stripe_standin.objects()["invoices"]
    assert invoice["total"] == 12_345 + 2_900


def test_a_failure_before_stripe_acted_is_retried_once_the_sdk_tries_again(gateway, stripe_standin, customer_id):
    stripe_standin.fail_next(path="/v1/invoices", method="POST")

    _create_march_invoice(gateway, customer_id)

    invoices = [entry for entry in stripe_standin.request_log() if entry["path"] == "/v1/invoices"]
    assert [(entry["idempotency_key"], entry["status"], entry["replayed"]) for entry in invoices] == [
        ("invoice-42", 500, False),
        ("invoice-42", 200, False),
    ]
    assert stripe_standin.counts()["invoices"] == 1


def test_stripe_failing_past_the_sdk_retries_is_a_transient_error(gateway, stripe_standin, customer_id):
    stripe_standin.fail_next(count=3, path="/v1/invoices", method="POST")

    with pytest.raises(PaymentProviderError) as raised:
        _create_march_invoice(gateway, customer_id)

    assert raised.value.transient is True
    attempts = [entry for entry in stripe_standin.request_log() if entry["path"] == "/v1/invoices"]
    assert [entry["idempotency_key"] for entry in attempts] == ["invoice-42"] * 3
    assert stripe_standin.counts()["invoices"] == 0


def test_the_sdk_gives_up_at_once_when_stripe_says_not_to_retry(gateway, stripe_standin, customer_id):
    stripe_standin.fail_next(path="/v1/invoices", method="POST", should_retry=False)

    with pytest.raises(PaymentProviderError) as raised:
        _create_march_invoice(gateway, customer_id)

    assert raised.value.transient is True
    assert len([entry for entry in stripe_standin.request_log() if entry["path"] == "/v1/invoices"]) == 1


def test_an_invoice_rerun_with_changed_amounts_is_refused_not_applied(gateway, stripe_standin, customer_id):
    _create_march_invoice(gateway, customer_id)
    changed_fee = (101, 99_999, "USD", "Performance fee, March")

    with pytest.raises(PaymentProviderError) as raised:
        _create_march_invoice(gateway, customer_id, lines=(changed_fee, SUBSCRIPTION_LINE))

    assert raised.value.transient is False
    assert isinstance(raised.value.__cause__, stripe.IdempotencyError)
    (invoice,) = stripe_standin.objects()["invoices"]
    assert invoice["total"] == 12_345 + 2_900


def test_an_invoice_needs_lines_in_one_currency(gateway, stripe_standin, customer_id):
    with pytest.raises(ValueError):
        _create_march_invoice(gateway, customer_id, lines=(FEE_LINE, (102, 2_900, "EUR", "Subscription")))

    assert stripe_standin.counts()["invoices"] == 0


def test_finalizing_opens_the_invoice_for_automatic_collection_once(gateway, stripe_standin, customer_id):
    stripe_invoice_id = _create_march_invoice(gateway, customer_id)

    first = gateway.finalize_invoice(invoice_id=42, stripe_invoice_id=stripe_invoice_id)
    second = gateway.finalize_invoice(invoice_id=42, stripe_invoice_id=stripe_invoice_id)

    assert (first, second) == ("open", "open")
    finalizes = [entry for entry in stripe_standin.request_log() if entry["path"].endswith("/finalize")]
    assert [(entry["idempotency_key"], entry["params"]) for entry in finalizes] == [("finalize-42", {"auto_advance": "true"})]
    (invoice,) = stripe_standin.objects()["invoices"]
    assert invoice["auto_advance"] is True


# --- transfers -------------------------------------------------------------------------


def test_a_payout_is_transferred_once(gateway, stripe_standin):
    first = gateway.create_transfer(payout_id=9, amount_cents=7_406, currency="USD", destination="acct_provider")
    second = gateway.create_transfer(payout_id=9, amount_cents=7_406, currency="USD", destination="acct_provider")

    assert first == second
    (transfer,) = stripe_standin.objects()["transfers"]
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (7_406, "usd", "acct_provider")
    sent = stripe_standin.request_log()
    assert [entry["idempotency_key"] for entry in sent] == ["transfer-9", "transfer-9"]
    assert sent[0]["params"] == {
        "amount": "7406",
        "currency": "usd",
        "destination": "acct_provider",
        "metadata": {"payout_id": "9"},
        "transfer_group": "payout-9",
    }
    assert gateway.find_transfer(payout_id=9)["id"] == first
    assert gateway.find_transfer(payout_id=10) is None


def test_a_transfer_lost_after_stripe_made_it_is_not_made_twice(gateway, stripe_standin):
    stripe_standin.fail_next(path="/v1/transfers", after_operation=True)

    gateway.create_transfer(payout_id=9, amount_cents=7_406, currency="usd", destination="acct_provider")

    assert [entry["status"] for entry in stripe_standin.request_log()] == [500, 200]
    assert stripe_standin.counts()["transfers"] == 1


def test_a_transfer_to_an_unknown_destination_fails_permanently(gateway, stripe_standin):
    with pytest.raises(PaymentProviderError) as raised:
        gateway.create_transfer(payout_id=9, amount_cents=7_406, currency="usd", destination="not-an-account")

    assert (raised.value.transient, raised.value.code) == (False, "resource_missing")
    assert stripe_standin.counts()["transfers"] == 0


# --- amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "cents"),
    [(Decimal("123.45"), 12_345), (Decimal("0.01"), 1), (Decimal("74.06000000"), 7_406), (Decimal("5"), 500)],
)
def test_it_converts_whole_cents_exactly(amount, cents):
    assert to_cents(amount) == cents


@pytest.mark.parametrize("amount", [Decimal("0.005"), Decimal("12.345"), Decimal("NaN"), Decimal("Infinity"), 12.34])
def test_it_refuses_amounts_that_are_not_whole_cents(amount):
    with pytest.raises(ValueError):
        to_cents(amount)


# --- webhooks --------------------------------------------------------------------------


def _signed_invoice_paid(*, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    payload = json.dumps(build_event(event_type="invoice.paid", obj={"id": "in_123", "object": "invoice"}))
    header = sign_webhook_payload(payload=payload, secret=secret, timestamp=timestamp or int(time.time()))
    return payload.encode(), header


def test_a_correctly_signed_webhook_yields_its_event():
    payload, header = _signed_invoice_paid()

    event = verify_webhook(payload=payload, sig_header=header, secret=WEBHOOK_SECRET)

    assert (event["type"], event["data"]["object"]["id"]) == ("invoice.paid", "in_123")


def test_a_tampered_webhook_payload_is_rejected():
    payload, header = _signed_invoice_paid()

    with pytest.raises(WebhookSignatureError):
        verify_webhook(payload=payload.replace(b"in_123", b"in_999"), sig_header=header, secret=WEBHOOK_SECRET)


def test_a_webhook_signed_with_another_secret_is_rejected():
    payload, header = _signed_invoice_paid(secret="whsec_someone_else")

    with pytest.raises(WebhookSignatureError):
        verify_webhook(payload=payload, sig_header=header, secret=WEBHOOK_SECRET)


def test_a_webhook_older_than_five_minutes_is_rejected_as_a_replay():
    payload, header = _signed_invoice_paid(timestamp=int(time.time()) - 301)

    with pytest.raises(WebhookSignatureError):
        verify_webhook(payload=payload, sig_header=header, secret=WEBHOOK_SECRET)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=1,v0=abc"])
def test_a_webhook_without_a_usable_signature_header_is_rejected(header):
    payload, _ = _signed_invoice_paid()

    with pytest.raises(WebhookSignatureError):
        verify_webhook(payload=payload, sig_header=header, secret=WEBHOOK_SECRET)


def test_a_signed_body_that_is_not_an_event_is_rejected():
    payload = json.dumps({"object": "invoice"})
    header = sign_webhook_payload(payload=payload, secret=WEBHOOK_SECRET, timestamp=int(time.time()))

    with pytest.raises(WebhookSignatureError):
        verify_webhook(payload=payload.encode(), sig_header=header, secret=WEBHOOK_SECRET)


# --- the stand-in beyond the gateway ----------------------------------------------------


def test_the_standin_pays_voids_and_lists_invoices_as_stripe_does(stripe_standin, stripe_standin_url, gateway, customer_id):
    client = stripe.StripeClient(STANDIN_API_KEY, base_addresses={"api": stripe_standin_url})
    paid_id = gateway.create_invoice(invoice_id=1, customer_id=customer_id, lines=[FEE_LINE], metadata={})
    voided_id = gateway.create_invoice(invoice_id=2, customer_id=customer_id, lines=[SUBSCRIPTION_LINE], metadata={})
    gateway.finalize_invoice(invoice_id=1, stripe_invoice_id=paid_id)
    gateway.finalize_invoice(invoice_id=2, stripe_invoice_id=voided_id)

    paid = client.v1.invoices.pay(paid_id)
    voided = client.v1.invoices.void_invoice(voided_id)
    listed = client.v1.invoices.list(params={"customer": customer_id})

    assert (paid.status, paid.amount_paid, voided.status) == ("paid", 12_345, "void")
    assert [invoice.id for invoice in listed.data] == [voided_id, paid_id]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(voided_id)


def test_the_standin_rejects_parameters_stripe_does_not_know(stripe_standin, stripe_standin_url):
    client = stripe.StripeClient(STANDIN_API_KEY, base_addresses={"api": stripe_standin_url})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params={"emial": "typo@example.com"})

    assert raised.value.code == "parameter_unknown"
