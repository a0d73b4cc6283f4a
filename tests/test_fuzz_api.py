"""API fuzzing: schemathesis drives every operation of /api/schema/ against the in-process WSGI app.

Each (operation, role) is one test: a follower (paper account, an active copy, an invoice),
a leader (a signal-only strategy with a copier, an approved signal provider) and a curator
(staff in `curators`), each with notifications. Cases are the schema's valid and invalid
inputs, with path ids either generated or those of the seeded rows, so requests reach the
real code paths. Every response must be no 5xx, a documented status, a documented content
type and a body that matches its schema.

`make test` runs 3 derandomized examples per test, the same each run; `make fuzz` runs
FUZZ_EXAMPLES (200) random ones.
"""

import json
import os
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.services import billing_period_run
from copytrade.models import Strategy
from copytrade.services.copies import copy_start
from copytrade.services.strategies import strategy_create
from core.models import Notification
from core.notifications import notification_send
from core.tokens import api_token_create
from exchanges.services import exchange_account_create
from marketplace.models import SignalProvider
from marketplace.services import provider_apply, provider_transition, strategy_invitation_create
from marketplace.track_record import provider_metrics_recalculate, strategy_metrics_recalculate
from tests.billing.factories import add_trade
from tests.billing.factories import make_copy as make_billed_copy
from tests.billing.factories import make_strategy as make_ai_strategy
from tests.copytrade import sign, submit
from tests.marketplace.support import make_curator, make_user

# `make fuzz` sets FUZZ_EXAMPLES and gets fresh random cases each run; `make test` does not,
# and replays the same few cases, so the suite stays fast and deterministic.
DEEP = "FUZZ_EXAMPLES" in os.environ
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
ROLES = ("follower", "leader", "curator")
# Every operation for every role, each against a freshly seeded world: minutes, so `make test` only.
pytestmark = pytest.mark.slow
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]

# What no id may be (issue 32): digits of other scripts (int() reads "٣" as 3 and fails on
# "²"), numbers past bigint up to thousands of digits, signs and zero.
ODD_IDS = ["²", "٣", "１２", "9" * 5000, str(2**63), "-1", "0"]
ODD_ID_DRAWS = (
    st.sampled_from(ODD_IDS)
    | st.text(st.characters(categories=["Nd", "No"], exclude_characters="0123456789"), min_size=1, max_size=25)
    | st.integers(min_value=2**63, max_value=10**30).map(str)
    | st.text(alphabet="0123456789", min_size=20, max_size=6000)
)
ID_OPERATIONS = [
    operation for operation in OPERATIONS if list(operation.path_parameters) or operation.method.upper() in ("POST", "PATCH", "PUT")
]


@dataclass
class World:
    headers: dict[str, dict[str, str]]
    # Real ids by path-parameter name, per role.
    path_ids: dict[str, dict[str, int]]
    strategy: Strategy


@pytest.fixture
def _requests_share_the_test_connection():
    """Django closes the DB connection around each request; in-process requests inside a
    test transaction must keep it (django.test.Client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, simulated_binance, stripe_standin, settings, _requests_share_the_test_connection) -> World:
    settings.STRIPE_API_KEY = ""  # billing stays in the ledger: no invoice is sent while fuzzing
    follower = make_user("follower")
    leader = make_user("leader")
    curator = make_curator()

    strategy = strategy_create(owner=leader, name="Signals", declared_capital=Decimal("10000"), is_public_leader=True)
    provider = provider_apply(user=leader, display_name="Leader signals", subscription_fee_monthly=Decimal("10"))
    provider = provider_transition(provider_id=provider.id, action="approve", actor=curator, reason="track record ok")
    assert provider.status == SignalProvider.Status.APPROVED

    # A traded record with metrics, so the public pages render every section.
    submit(strategy, "fuzz-open", "buy", price="60000", amount="0.1")
    submit(strategy, "fuzz-close", "sell", price="65000", fraction="1")
    tomorrow = timezone.now() + timedelta(days=1)  # metrics cover closed days only
    assert strategy_metrics_recalculate(strategy_id=strategy.id, now=tomorrow, fetch_candles=False)
    assert provider_metrics_recalculate(provider_id=provider.id, now=tomorrow)

    account = exchange_account_create(owner=follower, exchange_id="paper", label="Paper")
    copy = copy_start(follower=follower, strategy_id=strategy.id, exchange_account_id=account.id, allocation_percent=Decimal("20"))

    # Last month's bill: a copy of an AI strategy with a realised profit, invoiced in the ledger.
    last_month = (timezone.now().replace(day=1) - timedelta(days=1)).date().replace(day=1)
    started = datetime(last_month.year, last_month.month, 1, tzinfo=timezone.get_current_timezone())
    billed = make_billed_copy(follower, make_ai_strategy(leader, name="AI"), started_at=started - timedelta(days=30))
    add_trade(billed, pnl="250", finished_at=started + timedelta(days=10))
    billing_period_run(period=date(last_month.year, last_month.month, 1))

    notifications = {
        role: notification_send(user=user, kind=Notification.Kind.INVOICE, title="Hello", email=False).id
        for role, user in (("follower", follower), ("leader", leader), ("curator", curator))
    }

    # Every role is sent the same real ids: its own rows reach the code behind the lookup,
    # someone else's the refusal.
    seeded = {
        "strategy_id": strategy.id,
        "provider_id": provider.id,
        "account_id": account.id,
        "copy_id": copy.id,
        "invitation_id": strategy_invitation_create(owner=strategy.owner, strategy_id=strategy.id).id,
    }
    users = {"follower": follower, "leader": leader, "curator": curator}
    return World(
        strategy=strategy,
        headers={role: {"Authorization": f"Token {api_token_create(user=user, name='fuzz')[1]}"} for role, user in users.items()},
        path_ids={role: {**seeded, "notification_id": notifications[role]} for role in users},
    )


def _cases(operation, path_ids: dict[str, int]):
    """Valid and invalid requests. Invalid ones keep a routable path (the seeded ids): a
    non-numeric id never reaches a view, Django's URL resolver refuses it first."""
    names = {parameter.name for parameter in operation.path_parameters}
    if not names:
        return st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    known = {name: path_ids[name] for name in names}
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known),
    )


def _fuzzing(max_examples: int):
    return settings(
        max_examples=max_examples,
        derandomize=not DEEP,
        database=None,
        deadline=None,  # in-process requests to a shared 2-core machine: timing says nothing
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_it_answers_every_operation_within_its_schema_and_never_with_a_5xx(operation, role, world):
    @_fuzzing(FUZZ_EXAMPLES)
    @given(case=_cases(operation, world.path_ids[role]))
    def fuzz(case):
        case.call_and_validate(headers=world.headers[role], checks=CHECKS)

    fuzz()


def _is_id(name: str) -> bool:
    return name.endswith("_id") or name == "copy"


@pytest.mark.parametrize("operation", ID_OPERATIONS, ids=lambda operation: operation.label)
def test_an_id_that_is_not_ascii_digits_within_bigint_is_refused_in_every_path_and_body(operation, world):
    """Every id parameter of the path (a 400 before any view) and every id field of a body,
    set to an odd id, the rest of the request valid."""
    path_names = [parameter.name for parameter in operation.path_parameters]
    cases = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=world.path_ids["follower"] if path_names else None)

    @_fuzzing(FUZZ_EXAMPLES * 3)
    @given(case=cases, odd=ODD_ID_DRAWS)
    def fuzz(case, odd):
        body_ids = [name for name in case.body if _is_id(name)] if isinstance(case.body, dict) else []
        if not path_names and not body_ids:
            return
        case.path_parameters = {**(case.path_parameters or {}), **dict.fromkeys(path_names, odd)}
        if body_ids:
            case.body = {**case.body, **dict.fromkeys(body_ids, odd)}
        response = case.call_and_validate(headers=world.headers["follower"], checks=CHECKS)
        if path_names:
            assert response.status_code == 400, (operation.label, odd[:30], response.status_code)

    fuzz()


def test_it_answers_signed_webhook_signals_within_its_schema_and_never_with_a_5xx(world):
    """Unsigned webhook bodies stop at the signature check; these are signed with the
    leader's secret and sent now, so any body reaches validation and the ingestion."""
    operation = SCHEMA["/webhook"]["POST"]
    bodies = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @_fuzzing(FUZZ_EXAMPLES * 10)
    @given(case=bodies.filter(lambda case: isinstance(case.body, dict)))
    def fuzz(case):
        body = json.dumps({**case.body, "strategy_id": world.strategy.id, "timestamp": int(time.time())}).encode()
        headers = {"X-Signature": sign(body, world.strategy.webhook_secret), "Content-Type": "application/json"}
        case.call_and_validate(headers=headers, data=body, checks=CHECKS)

    fuzz()
