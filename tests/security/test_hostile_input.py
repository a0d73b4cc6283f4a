"""Hostile input against every API operation: nothing may answer 5xx (issue 18).

The operations come from the OpenAPI schema (drf-spectacular, from the URL conf), so a new
endpoint is fuzzed without a line here. Each is sent, as the caller who owns the objects
in its path: bodies nested thousands deep, non-object bodies, every declared field set to
huge and tiny numbers (as JSON numbers and as strings), long strings, control characters,
lone surrogates, wrong types and ids in other scripts' digits or past bigint; query
parameters with the same; path ids beyond 64 bits or not in ASCII digits (a 400 each).
The signal webhook gets the same bodies correctly signed, and the Stripe webhook signed
events of random shape (hypothesis).

`make test` runs a fixed set (derandomized, the same each run, well under a minute);
`make fuzz` (FUZZ_EXAMPLES set) adds that many random combinations per operation.
"""

import json
import os
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from copytrade.services.copies import copy_start
from core.models import Notification
from devtools.stripe_standin import build_event, sign_webhook_payload
from marketplace.models import SignalProvider
from marketplace.services import strategy_invitation_create
from tests.copytrade import paper_account, record_fan_outs, sign, signal_only_strategy
from tests.marketplace.support import make_provider

DEEP = "FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))
STRIPE_SECRET = "whsec_hostile_fuzz"

NUMBERS = [10**40, -(10**40), 2**63, -(2**63) - 1, 1e308, 1e-320, 0, -1, 0.1]
NUMBER_TEXTS = ["1e400", "-1e400", "1e-400", "1e16", "99999999999999999999999999999999.99999999", "NaN", "Infinity", "-0", "0x1F", "1_000"]
TEXTS = ["x" * 20_000, "\u0000", "\ud800", "é" * 300, "'; SELECT 1; --", "../../etc/passwd", "{{7*7}}", " ", ""]
WRONG_TYPES = [[], {}, [[[[1]]]], {"a": {"b": [1]}}, True, False, None]
# Ids no lookup may see (issue 32): digits int() reads from other scripts ("٣" is 3) or
# refuses after str.isdigit() said yes ("²"), and digit strings past bigint and past 4,300 digits.
ODD_IDS = ["²", "٣", "１２", "9" * 5000, str(2**63), "-1"]
VALUES = NUMBERS + NUMBER_TEXTS + TEXTS + WRONG_TYPES + ODD_IDS
RAW_BODIES = ["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, "[]", '"text"', "12", "null", "{", "\xff\xfe"]
HUGE_IDS = [2**63, 10**30, *ODD_IDS]

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body_fields: tuple[str, ...]
    query_fields: tuple[str, ...]
    path_fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref")
    return SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _operations() -> list[Operation]:
    found = []
    for path, methods in SCHEMA["paths"].items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            body = _resolve(content.get("schema", {})) if content else {}
            parameters = operation.get("parameters", [])
            found.append(
                Operation(
                    method=method,
                    path=path,
                    body_fields=tuple(body.get("properties", {})),
                    query_fields=tuple(p["name"] for p in parameters if p["in"] == "query"),
                    path_fields=tuple(p["name"] for p in parameters if p["in"] == "path"),
                )
            )
    return found


OPERATIONS = _operations()


@dataclass
class World:
    users: dict
    ids: dict
    strategy: object


@pytest.fixture
def world(db, owner, follower, billing_operator, simulated_binance, monkeypatch, settings) -> World:
    record_fan_outs(monkeypatch)
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    # A throttled request says nothing about what is behind the throttle.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth": "100000/min"}}
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.STRIPE_API_KEY = ""
    provider = make_provider(owner, status=SignalProvider.Status.APPROVED)
    strategy = signal_only_strategy(owner)
    account = paper_account(follower)
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("10"))
    notification = Notification.objects.create(user=follower, kind=Notification.Kind.INVOICE, title="Hello")
    ids = {
        "strategy_id": strategy.pk,
        "copy_id": copy.pk,
        "account_id": account.pk,
        "provider_id": provider.pk,
        "notification_id": notification.pk,
        "invitation_id": strategy_invitation_create(owner=owner, strategy_id=strategy.pk).pk,
    }
    return World(users={"leader": owner, "follower": follower, "billing": billing_operator}, ids=ids, strategy=strategy)


def _caller(operation: Operation) -> str:
    """Whoever owns what the path names, so the request gets past the ownership lookup."""
    if "strateg" in operation.path or "invitation" in operation.path:
        return "leader"
    if "payouts" in operation.path:
        return "billing"
    return "follower"


class Sender:
    def __init__(self, world: World, operation: Operation):
        self.world = world
        self.operation = operation
        self.client = APIClient()
        self.client.raise_request_exception = False  # a 500 is an answer to check, not an exception here
        self.client.force_authenticate(user=world.users[_caller(operation)])
        self.sent = 0

    def path(self, ids: dict | None = None) -> str:
        return self.operation.path.format(**(ids or self.world.ids))

    def send(self, *, body: bytes | str | None = None, query: dict | None = None, ids: dict | None = None, headers: dict | None = None):
        method = self.operation.method
        path = self.path(ids)
        if method == "get":
            response = self.client.get(path, query or {}, **(headers or {}))
        else:
            data = body if body is not None else b""
            response = self.client.generic(method.upper(), path, data, content_type="application/json", **(headers or {}))
        self.sent += 1
        shown = body if body is None or len(body) < 300 else f"{body[:300]!r}... ({len(body)} chars)"
        assert response.status_code < 500, f"{self.operation} answered {response.status_code} to body={shown} query={query} ids={ids}"
        return response

    def send_json(self, payload):
        if self.operation.path == "/webhook":
            return self._send_signed_signal(payload)
        return self.send(body=json.dumps(payload))

    def _send_signed_signal(self, payload):
        if isinstance(payload, dict):
            payload = {"strategy_id": self.world.strategy.pk, "timestamp": int(time.time()), **payload}
        body = json.dumps(payload)
        return self.send(body=body, headers={"HTTP_X_SIGNATURE": sign(body.encode(), self.world.strategy.webhook_secret)})


def _bodies(operation: Operation):
    """The fixed hostile bodies: every value in every declared field at once, then each field alone."""
    fields = operation.body_fields or ("x",)
    for value in VALUES:
        yield {field: value for field in fields}
    for index, field in enumerate(fields):
        for value in VALUES[index % 3 :: 3]:
            yield {field: value}


def _queries(operation: Operation):
    for value in VALUES:
        text = value if isinstance(value, str) else json.dumps(value)
        if _encodable(text):  # a URL carries bytes: a lone surrogate cannot be sent there
            yield {field: text for field in operation.query_fields}


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fuzzing(max_examples: int):
    return settings(max_examples=max_examples, derandomize=not DEEP, database=None, deadline=None, suppress_health_check=list(HealthCheck))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | st.sampled_from(VALUES),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.slow  # every operation, each against a freshly seeded world: `make test` only
@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_no_operation_answers_hostile_input_with_a_5xx(operation, world):
    sender = Sender(world, operation)

    sender.send()
    if operation.method != "get":
        for raw in RAW_BODIES:
            sender.send(body=raw)
        for body in _bodies(operation):
            sender.send_json(body)
    if operation.query_fields:
        for query in _queries(operation):
            sender.send(query=query)
    for huge in HUGE_IDS:
        if operation.path_fields:
            response = sender.send(ids={**world.ids, **dict.fromkeys(operation.path_fields, huge)})
            assert response.status_code == 400, f"{operation} answered {response.status_code} to the path id {str(huge)[:30]}"

    if EXAMPLES:
        fields = st.sampled_from(operation.body_fields or operation.query_fields or ("x",))

        @_fuzzing(EXAMPLES)
        @given(payload=st.dictionaries(fields, JSON_VALUES, max_size=8))
        def fuzz(payload):
            if operation.method == "get":
                sender.send(query={key: text for key, value in payload.items() if _encodable(text := json.dumps(value))})
            else:
                sender.send_json(payload)

        fuzz()
    assert sender.sent > 0


STRIPE_TYPES = st.sampled_from(
    ["invoice.paid", "invoice.payment_failed", "invoice.voided", "invoice.marked_uncollectible", "customer.created"]
)


@st.composite
def stripe_events(draw):
    """Events near Stripe's shape with any part replaced by something else."""
    transitions = draw(st.dictionaries(st.sampled_from(["paid_at", "finalized_at", "voided_at"]), JSON_VALUES, max_size=3) | JSON_VALUES)
    obj = {
        "id": draw(st.text(max_size=300) | JSON_VALUES),
        "object": draw(st.just("invoice") | JSON_VALUES),
        "metadata": draw(st.dictionaries(st.just("invoice_id"), JSON_VALUES | st.integers().map(str), max_size=1) | JSON_VALUES),
        "status_transitions": transitions,
    }
    event = build_event(event_type=draw(STRIPE_TYPES | st.text(max_size=200)), obj=obj)
    for part in draw(st.lists(st.sampled_from(["id", "data", "type", "object"]), max_size=2)):
        event[part] = draw(JSON_VALUES | st.text(min_size=200, max_size=400))
    return event


@pytest.mark.django_db
def test_no_signed_stripe_event_of_any_shape_answers_a_5xx(world):
    client = APIClient()
    client.raise_request_exception = False

    @_fuzzing(max(EXAMPLES * 5, 80))
    @given(event=stripe_events())
    def fuzz(event):
        body = json.dumps(event)
        header = sign_webhook_payload(payload=body, secret=STRIPE_SECRET, timestamp=int(time.time()))
        response = client.post("/api/billing/stripe/webhook", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code < 500, f"{response.status_code} for {body[:500]}"

    fuzz()


def test_every_api_route_of_the_url_conf_is_an_operation_here():
    from tests.security.test_authorization_matrix import RULES

    schema_paths = {operation.path.split("{")[0] for operation in OPERATIONS}
    api_paths = {path.split("{")[0] for path, _, _ in RULES.values() if path.startswith(("/api/", "/webhook"))}

    assert api_paths <= schema_paths, sorted(api_paths - schema_paths)
