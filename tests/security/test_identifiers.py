"""Issue 32, item 6: an id from outside (a path, a body, a query, a Stripe event's metadata)
is a whole number from 1 to the largest bigint in ASCII digits, or a 400 before any lookup.
An unauthenticated webhook refused for its id counts against the client's unsigned budget."""

import json
import logging
import time

import pytest
from rest_framework.test import APIClient

from core.ids import MAX_ID, id_parse
from devtools.stripe_standin import build_event, sign_webhook_payload
from tests.copytrade import paper_account, signal_only_strategy

pytestmark = pytest.mark.django_db

# Digits of other scripts that Python's int() reads ("٣" is 3) or refuses after str.isdigit()
# said yes ("²"), a number past 4,300 digits, and numbers outside the bigint ids.
NOT_IDS = ["²", "٣", "１２", "9" * 5000, "-1", "0", str(MAX_ID + 1), "1e3", " 7", "7\n", ""]
STRIPE_SECRET = "whsec_identifier_test"


@pytest.mark.parametrize("value", [*NOT_IDS, MAX_ID + 1, -1, 0, True, 1.0, None, [], {}])
def test_only_ascii_digits_within_bigint_are_an_id(value):
    assert id_parse(value) is None


@pytest.mark.parametrize("value,expected", [("1", 1), ("0042", 42), (str(MAX_ID), MAX_ID), (7, 7)])
def test_ascii_digits_within_bigint_are_the_id_they_say(value, expected):
    assert id_parse(value) == expected


@pytest.mark.parametrize("strategy_id", ["²", "٣", "9" * 5000, "-1", str(2**63), 2**63, -1, 10**30])
def test_an_unsigned_webhook_with_an_odd_strategy_id_is_a_400_without_a_traceback(api_client, strategy_id, caplog):
    body = json.dumps({"strategy_id": strategy_id, "timestamp": int(time.time())})

    with caplog.at_level(logging.INFO):
        response = api_client.post("/webhook", data=body, content_type="application/json", HTTP_X_SIGNATURE="sha256=00")

    assert response.status_code == 400
    assert "strategy_id: An id is required: a whole number from 1 to" in response.json()["message"]
    assert not [record for record in caplog.records if record.exc_info]


def test_odd_webhook_ids_use_up_the_unsigned_budget(api_client, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "webhook_unsigned": "3/min"}}

    def post(body: str):
        return api_client.post("/webhook", data=body, content_type="application/json", HTTP_X_SIGNATURE="sha256=00").status_code

    answers = [post(json.dumps({"strategy_id": odd})) for odd in ("²", "٣", "9" * 5000)]
    after = post(json.dumps({"strategy_id": "²"}))

    assert answers == [400, 400, 400]
    assert after == 429


def test_a_signed_stripe_event_with_an_odd_invoice_id_is_a_400(api_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    for odd in ["²", "٣", "9" * 5000, "-1", str(2**63)]:
        event = build_event(event_type="invoice.paid", obj={"id": "in_unknown", "object": "invoice", "metadata": {"invoice_id": odd}})
        body = json.dumps(event)
        header = sign_webhook_payload(payload=body, secret=STRIPE_SECRET, timestamp=int(time.time()))

        response = api_client.post("/api/billing/stripe/webhook", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)

        assert response.status_code == 400, odd[:20]
        assert "metadata.invoice_id must be a whole number" in response.json()["message"]


@pytest.mark.parametrize("odd", ["²", "٣", "9" * 5000, "-1", str(2**63)])
def test_an_odd_id_in_a_body_or_a_query_is_a_400_naming_the_field(client_for, follower, owner, odd):
    strategy = signal_only_strategy(owner)
    account = paper_account(follower)
    api = client_for(follower)

    body = api.post("/api/copy-trading/start", {"strategy_id": odd, "exchange_account_id": account.pk}, format="json")
    other = api.post("/api/copy-trading/start", {"strategy_id": strategy.pk, "exchange_account_id": odd}, format="json")
    query = api.get("/api/copy-trading/copied-trades", {"copy": odd})

    assert [body.status_code, other.status_code, query.status_code] == [400, 400, 400]
    assert body.json()["message"].startswith("Invalid input. strategy_id: An id is required")
    assert other.json()["message"].startswith("Invalid input. exchange_account_id: An id is required")
    assert query.json()["message"].startswith("Invalid input. copy: An id is required")


@pytest.mark.parametrize("odd", ["²", "٣", "9" * 5000, "-1", str(2**63)])
def test_an_odd_id_in_a_path_is_a_400_before_any_query(odd, django_assert_num_queries, client):
    api = APIClient()

    with django_assert_num_queries(0):
        response = api.get(f"/api/copy-trading/leader/{odd}")
        page = client.get(f"/leaders/{odd}/")

    assert response.status_code == 400
    assert response.json() == {
        "message": f"The id in this address must be a whole number from 1 to {MAX_ID}, in ASCII digits.",
        "extra": {},
    }
    assert page.status_code == 400
    assert "The id in this address must be a whole number" in page.content.decode()


def test_the_largest_id_is_looked_up_and_not_found(client, client_for, follower):
    assert client_for(follower).get(f"/api/copy-trading/leader/{MAX_ID}").status_code == 404
    assert client.get(f"/leaders/{MAX_ID}/").status_code == 404
