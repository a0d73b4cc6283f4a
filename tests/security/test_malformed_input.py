"""Issue 18, items 4 to 6: hostile bodies get a 400, never a 500.

Deeply nested JSON, numbers too large to quantize or store, and correctly signed Stripe
events of odd shapes (or dated in the future).
"""

import json
import time
from datetime import date, timedelta

import pytest
from django.utils import timezone

from billing.models import Invoice, StripeEvent
from billing.services import billing_period_run
from copytrade.models import LeaderTrade
from devtools.stripe_standin import build_event, sign_webhook_payload
from tests.billing.factories import add_trade, make_copy, make_strategy
from tests.copytrade import post_webhook, record_fan_outs, signal_only_strategy, webhook_body

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
STRIPE_URL = "/api/billing/stripe/webhook"
STRIPE_SECRET = "whsec_hostile_input"


@pytest.fixture
def strategy(owner, simulated_binance, monkeypatch):
    record_fan_outs(monkeypatch)
    return signal_only_strategy(owner)


# --- Nesting ---------------------------------------------------------------------------


def _nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("body", [DEEP, _nested_object(2000), _nested_object(40)], ids=["arrays", "objects", "a-little-too-deep"])
@pytest.mark.parametrize("path", ["/api/auth/token/", "/api/copy-trading/start", "/api/strategies/{strategy}/trades/", "/webhook"])
def test_deeply_nested_json_is_a_400(client_for, owner, strategy, path, body):
    response = client_for(owner).generic("POST", path.format(strategy=strategy.pk), body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"message", "extra"}


def test_json_a_few_levels_deep_still_reaches_validation(client_for, owner, strategy):
    response = client_for(owner).post(f"/api/strategies/{strategy.pk}/trades/", {"external_id": "x", "symbol": {"a": [[1]]}}, format="json")

    assert response.status_code == 400
    assert "symbol" in json.dumps(response.json())


# --- Numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "numbers",
    [
        {"amount": "1e16", "price": "65000"},
        {"amount": "99999999999999999", "price": "65000"},
        {"amount": "1e15", "price": "1e11"},  # each allowed, the notional not
        {"position_size_usd": "1e11", "price": "0.00000001"},  # an amount beyond a quantity column
    ],
    ids=["amount-1e16", "amount-17-digits", "notional", "usd-at-a-tiny-price"],
)
def test_numbers_too_large_to_record_are_a_400_on_both_paths(client_for, api_client, owner, strategy, numbers):
    signal = {"external_id": "huge", "symbol": "BTC/USDT", "action": "buy", **numbers}

    rest = client_for(owner).post(f"/api/strategies/{strategy.pk}/trades/", signal, format="json")
    webhook = post_webhook(api_client, webhook_body(strategy, **signal), secret=strategy.webhook_secret)

    assert (rest.status_code, webhook.status_code) == (400, 400), (rest.content, webhook.content)
    assert not LeaderTrade.objects.exists()


def test_the_largest_declared_amount_is_one_the_columns_can_hold(client_for, owner, strategy, simulated_binance):
    from core.money import MAX_QUANTITY
    from exchanges.gateways.ccxt_gateway import clear_caches

    # A coin whose market price is the smallest recordable one: the notional still fits.
    simulated_binance.add_market(
        base="DUST",
        quote="USDT",
        step_size="0.00000001",
        tick_size="0.00000001",
        min_qty="0.00000001",
        max_qty=str(MAX_QUANTITY),
        min_notional="0",
        price="0.00000001",
    )
    clear_caches()
    signal = {"external_id": "max", "symbol": "DUST/USDT", "action": "buy", "amount": str(MAX_QUANTITY)}

    response = client_for(owner).post(f"/api/strategies/{strategy.pk}/trades/", signal, format="json")

    assert response.status_code == 201, response.content
    assert LeaderTrade.objects.get().amount == MAX_QUANTITY


# --- Stripe events ---------------------------------------------------------------------


@pytest.fixture
def stripe_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.STRIPE_API_KEY = ""  # the ledger only: invoices are not sent anywhere


@pytest.fixture
def invoice(stripe_secret, owner, follower) -> Invoice:
    period = (timezone.now().date().replace(day=1) - timedelta(days=1)).replace(day=1)
    started = timezone.now() - timedelta(days=90)
    copy = make_copy(follower, make_strategy(owner), started_at=started)
    add_trade(copy, pnl="250", finished_at=timezone.now().replace(year=period.year, month=period.month, day=10))
    billing_period_run(period=date(period.year, period.month, 1))
    return Invoice.objects.get(follower=follower)


def _post_stripe(api_client, event, *, timestamp: int | None = None):
    body = event if isinstance(event, str) else json.dumps(event)
    header = sign_webhook_payload(payload=body, secret=STRIPE_SECRET, timestamp=timestamp or int(time.time()))
    return api_client.post(STRIPE_URL, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def _invoice_event(invoice: Invoice, **fields) -> dict:
    obj = {"id": "in_hostile", "object": "invoice", "metadata": {"invoice_id": str(invoice.id)}, **fields}
    return build_event(event_type="invoice.paid", obj=obj)


ODD_SHAPES = {
    "paid-at-1e20": lambda invoice: _invoice_event(invoice, status_transitions={"paid_at": 10**20}),
    "paid-at-negative": lambda invoice: _invoice_event(invoice, status_transitions={"paid_at": -(10**20)}),
    "transitions-a-list": lambda invoice: _invoice_event(invoice, status_transitions=[1, 2]),
    "metadata-a-string": lambda invoice: {**_invoice_event(invoice), "data": {"object": {"id": "", "object": "invoice", "metadata": "x"}}},
    "data-a-list": lambda invoice: {**_invoice_event(invoice), "data": [1]},
    "object-a-string": lambda invoice: {**_invoice_event(invoice), "data": {"object": "invoice"}},
    "event-id-300-chars": lambda invoice: {**_invoice_event(invoice), "id": "evt_" + "x" * 300},
    "event-id-with-nul": lambda invoice: {**_invoice_event(invoice), "id": "evt_\u0000"},
    "type-a-number": lambda invoice: {**_invoice_event(invoice), "type": 7},
    "invoice-id-300-chars": lambda invoice: _invoice_event(invoice, id="in_" + "x" * 300),
    "deeply-nested": lambda invoice: '{"object": "event", "id": "evt_1", "type": "invoice.paid", "data": ' + DEEP + "}",
}


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_a_signed_stripe_event_of_an_odd_shape_is_a_400_that_changes_nothing(api_client, invoice, shape, caplog):
    before = (invoice.status, invoice.paid_at)

    response = _post_stripe(api_client, ODD_SHAPES[shape](invoice))

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"message", "extra"}
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == before
    assert not StripeEvent.objects.exists()
    assert any(record.levelname == "WARNING" for record in caplog.records)


def test_a_stripe_event_of_the_documented_shape_is_still_applied(api_client, invoice):
    paid_at = int(time.time()) - 60

    response = _post_stripe(api_client, _invoice_event(invoice, status_transitions={"paid_at": paid_at, "voided_at": None}))

    assert response.status_code == 200, response.content
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert int(invoice.paid_at.timestamp()) == paid_at


@pytest.mark.parametrize(("offset", "status"), [(86_400, 400), (301 + 5, 400), (200, 200), (-200, 200), (-400, 400)])
def test_stripe_signatures_dated_beyond_the_tolerance_either_way_are_refused(api_client, stripe_secret, offset, status):
    event = build_event(event_type="customer.created", obj={"id": "cus_1", "object": "customer"})

    response = _post_stripe(api_client, event, timestamp=int(time.time()) + offset)

    assert response.status_code == status, response.content
    assert StripeEvent.objects.exists() == (status == 200)
