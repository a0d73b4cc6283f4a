"""Every endpoint of the URL conf × every kind of caller.

The routes are read from `django.urls.get_resolver()` (walked recursively), so an endpoint
added without a row in RULES fails `test_the_rules_cover_exactly_the_routes_of_the_url_conf`.
Skipped, on purpose:
- `admin/` and `admin-login` (its login view, throttled): Django admin has its own login
  (tests/security/test_access.py checks a non-staff user is sent to it);
- `schema`, `swagger-ui` and `redoc`: public API documentation, generated from the views (the
  fuzzing suite reads the schema); nothing in it is private;
- the web pages (namespace `web`) and django-allauth's account pages (`accounts/`): HTML,
  not the API; tests/web checks who may see and change what there.

Allowed answers are 200/201/202/204; anonymous callers get 401; a role that may not do
the operation gets 403; someone else's object is 404, the same answer as an id that does
not exist, so a 404 tells nothing. The signature-authenticated webhooks refuse an
unsigned request whatever the role (being logged in grants nothing there).
"""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from billing.services import billing_period_run
from copytrade.models import Copy, Strategy
from marketplace.models import CopyFeeTerms, SignalProvider
from tests.billing.factories import add_trade
from tests.security.conftest import ROLES

SKIPPED_NAMESPACES = {"admin", "web"}
SKIPPED_PREFIXES = ("accounts/",)
SKIPPED_ROUTES = {"schema", "swagger-ui", "redoc", "admin-login"}
# Plain Django function views cannot be asked which methods they take; each one is listed
# here with the one method it serves, so a new function view fails the coverage test too.
FUNCTION_VIEWS = {"healthz": ("get",), "metrics": ("get",)}
METHODS = ("get", "post", "put", "patch", "delete")
MISSING_ID = 2_000_000_000


def _expect(anonymous, follower, other_follower, leader, curator, billing, staff) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, follower, other_follower, leader, curator, billing, staff), strict=True))


def everyone(status: int) -> dict[str, int]:
    return _expect(status, status, status, status, status, status, status)


def signed_in(status: int) -> dict[str, int]:
    return _expect(401, status, status, status, status, status, status)


def only_follower(status: int) -> dict[str, int]:
    """The follower's own object: anyone else is told it does not exist."""
    return _expect(401, status, 404, 404, 404, 404, 404)


def only_leader(status: int) -> dict[str, int]:
    return _expect(401, 404, 404, status, 404, 404, 404)


SIGNAL = {"external_id": "rest-1", "symbol": "BTC/USDT", "action": "buy", "amount": "0.01", "price": "65000"}
WEBHOOK = {"strategy_id": "{strategy}", "external_id": "hook-1", "symbol": "BTC/USDT", "action": "buy", "amount": "0.01", "price": "65000"}

# (route name, method) -> (path, body or query, expected status per role). Path and body name
# the world's objects (tests/security/conftest.py) in braces.
RULES = {
    ("healthz", "get"): ("/healthz", None, everyone(200)),
    # Prometheus only (a bearer token or an allowed network, neither set here): no user role opens it.
    ("metrics", "get"): ("/metrics", None, everyone(404)),
    ("auth-token", "post"): ("/api/auth/token/", {"username": "owner", "password": "owner-pass-123"}, everyone(200)),
    ("auth-me", "get"): ("/api/auth/me/", None, signed_in(200)),
    ("auth-token-revoke", "post"): ("/api/auth/token/revoke/", None, signed_in(204)),
    ("auth-token-revoke-all", "post"): ("/api/auth/token/revoke-all/", None, signed_in(200)),
    ("audit-entries", "get"): ("/api/audit/", None, _expect(401, 403, 403, 403, 403, 200, 403)),
    ("exchange-accounts", "get"): ("/api/exchange-accounts/", None, signed_in(200)),
    ("exchange-accounts", "post"): ("/api/exchange-accounts/", {"exchange_id": "paper", "label": "Matrix"}, signed_in(201)),
    ("exchange-account-detail", "get"): ("/api/exchange-accounts/{account}/", None, only_follower(200)),
    ("exchange-account-detail", "delete"): ("/api/exchange-accounts/{spare_account}/", None, only_follower(204)),
    ("webhook", "post"): ("/webhook", WEBHOOK, everyone(401)),
    ("strategies", "get"): ("/api/strategies/", None, signed_in(200)),
    ("strategies", "post"): ("/api/strategies/", {"name": "New", "declared_capital": "1000"}, signed_in(201)),
    ("strategy-detail", "get"): ("/api/strategies/{strategy}/", None, only_leader(200)),
    ("strategy-detail", "patch"): ("/api/strategies/{strategy}/", {"name": "Renamed"}, only_leader(200)),
    ("strategy-rotate-secret", "post"): ("/api/strategies/{strategy}/rotate-secret/", None, only_leader(200)),
    ("strategy-trades", "get"): ("/api/strategies/{strategy}/trades/", None, only_leader(200)),
    ("strategy-trades", "post"): ("/api/strategies/{strategy}/trades/", SIGNAL, only_leader(201)),
    ("copy-top", "get"): ("/api/copy-trading/top", None, everyone(200)),  # public like the leaderboard page
    # The leader may not copy their own strategy (400); the account is the follower's, so
    # anyone else is told it does not exist.
    ("copy-start", "post"): (
        "/api/copy-trading/start",
        {"strategy_id": "{other}", "exchange_account_id": "{account}", "allocation_percent": "10"},
        _expect(401, 201, 404, 400, 404, 404, 404),
    ),
    ("copy-stop", "post"): ("/api/copy-trading/stop", {"copy_id": "{copy}"}, only_follower(200)),
    ("copy-pause", "post"): ("/api/copy-trading/pause", {"copy_id": "{copy}"}, only_follower(200)),
    ("copy-resume", "post"): ("/api/copy-trading/resume", {"copy_id": "{paused}"}, only_follower(200)),
    ("copy-update", "get"): ("/api/copy-trading/copies/{copy}", None, only_follower(200)),
    ("copy-update", "patch"): ("/api/copy-trading/copies/{copy}", {"max_slippage_percent": "2"}, only_follower(200)),
    ("my-copies", "get"): ("/api/copy-trading/my-copies", None, signed_in(200)),
    ("copy-leader", "get"): ("/api/copy-trading/leader/{strategy}", None, signed_in(200)),
    ("copy-update-check", "post"): ("/api/copy-trading/copies/{copy}/check", {"max_slippage_percent": "2"}, only_follower(200)),
    ("marketplace-strategy-capacity", "put"): (
        "/api/marketplace/strategies/{strategy}/capacity",
        {"min_copy_capital": None, "follower_slots": 50},
        only_leader(200),
    ),
    ("marketplace-strategy-recommended-settings", "put"): (
        "/api/marketplace/strategies/{strategy}/recommended-settings",
        {"max_slippage_percent": "0.5"},
        only_leader(200),
    ),
    ("marketplace-strategy-invitations", "post"): ("/api/marketplace/strategies/{strategy}/invitations", None, only_leader(201)),
    ("marketplace-invitation-revoke", "post"): ("/api/marketplace/invitations/{invitation}/revoke", None, only_leader(200)),
    ("copied-trades", "get"): ("/api/copy-trading/copied-trades", {"copy": "{copy}"}, only_follower(200)),
    # The provider itself, or the billing role (not curators, not staff as such).
    ("payouts-calculate", "get"): (
        "/api/marketplace/payouts/calculate",
        {"signal_provider_id": "{provider}"},
        _expect(401, 404, 404, 200, 404, 200, 404),
    ),
    ("payouts-create", "post"): (
        "/api/marketplace/payouts/create",
        {"signal_provider_id": "{provider}", "period": "{billed_period}"},
        _expect(401, 403, 403, 403, 403, 200, 403),  # 200: the monthly run already prepared it
    ),
    # The leader already has a provider profile (409); anyone else may apply.
    ("marketplace-apply", "post"): ("/api/marketplace/apply", {"display_name": "Signals"}, _expect(401, 201, 201, 409, 201, 201, 201)),
    ("marketplace-traders", "get"): ("/api/marketplace/traders", None, everyone(200)),
    ("marketplace-trader", "get"): ("/api/marketplace/traders/{provider}", None, everyone(200)),
    # Only users who copied the provider, never the provider itself.
    ("marketplace-trader-rate", "post"): (
        "/api/marketplace/traders/{provider}/rate",
        {"rating": 4},
        _expect(401, 200, 200, 403, 403, 403, 403),
    ),
    ("marketplace-trader-update-metrics", "post"): (
        "/api/marketplace/traders/{provider}/update-metrics",
        None,
        _expect(401, 403, 403, 403, 202, 403, 403),
    ),
    ("notifications", "get"): ("/api/notifications/", None, signed_in(200)),
    ("notifications-read-all", "post"): ("/api/notifications/read-all", None, signed_in(200)),
    ("notification-read", "post"): ("/api/notifications/{notification}/read", None, only_follower(200)),
    ("billing-stripe-webhook", "post"): ("/api/billing/stripe/webhook", {"type": "invoice.paid"}, everyone(400)),
    ("billing-invoices", "get"): ("/api/billing/invoices/", None, signed_in(200)),
    ("billing-earnings", "get"): ("/api/billing/earnings", None, signed_in(200)),
}


def _walk(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in SKIPPED_NAMESPACES:
                continue
            yield from _walk(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def routes_of_the_url_conf() -> set[tuple[str, str]]:
    """(route name, method) for every endpoint the URL conf serves, bar the skipped ones."""
    found = set()
    for route, pattern in _walk(get_resolver()):
        assert pattern.name, f"{route} has no name: the matrix keys routes by name"
        if pattern.name in SKIPPED_ROUTES or route.startswith(SKIPPED_PREFIXES):
            continue
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is None:
            methods = FUNCTION_VIEWS.get(pattern.name, ("<unknown: add it to FUNCTION_VIEWS>",))
        else:
            methods = [method for method in METHODS if method in view_class.http_method_names and hasattr(view_class, method)]
        found.update((pattern.name, method) for method in methods)
    return found


def test_the_rules_cover_exactly_the_routes_of_the_url_conf():
    found = routes_of_the_url_conf()

    assert not found - set(RULES), f"endpoints without an authorisation rule: {sorted(found - set(RULES))}"
    assert not set(RULES) - found, f"rules for endpoints that no longer exist: {sorted(set(RULES) - found)}"


def test_a_new_endpoint_without_a_rule_is_found(settings):
    settings.ROOT_URLCONF = "tests.security.urls_extra"

    assert routes_of_the_url_conf() - set(RULES) == {("unruled", "get"), ("unruled", "delete")}


def test_the_walk_finds_endpoints_of_every_app():
    found = {name for name, _ in routes_of_the_url_conf()}

    assert {"healthz", "auth-me", "exchange-accounts", "webhook", "copy-start", "marketplace-apply", "billing-invoices"} <= found


def _fill(value, ids):
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if filled != value and filled.isdigit() else filled
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


def _counts() -> dict:
    """Row counts of every table the API can write, and the copies' and strategies' fields."""
    counts = {
        model._meta.label: model.objects.count()
        for app in ("auth", "core", "exchanges", "copytrade", "marketplace", "billing")
        for model in apps.get_app_config(app).get_models()
    }
    counts["strategies"] = list(Strategy.objects.order_by("id").values())
    counts["copies"] = list(Copy.objects.order_by("id").values())
    return counts


def _send(client, method: str, path: str, body):
    if method == "get":
        return client.get(path, body)
    return getattr(client, method)(path, body, format="json")


@pytest.fixture
def settings_for_the_matrix(settings):
    # A configured Stripe webhook, so the refusal is the signature check, not "not configured".
    settings.STRIPE_WEBHOOK_SECRET = "whsec_matrix_test_secret"
    settings.STRIPE_API_KEY = ""
    # The world's copies started a moment ago: followers may rate at once (who may rate is
    # the question here; how long they must have copied is tests/marketplace/test_ratings.py's).
    settings.RATING_MIN_COPY_DAYS = 0


@pytest.mark.slow  # every endpoint × every role, each against a freshly seeded world: `make test` only
@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("route", "method"), sorted(RULES), ids=[f"{method.upper()} {name}" for name, method in sorted(RULES)])
def test_every_endpoint_answers_each_role_as_the_rules_say(request, client_for, world, settings_for_the_matrix, role, route, method):
    path, body, expected = RULES[(route, method)]
    ids = dict(world.ids)
    if route == "payouts-create":
        ids["billed_period"] = request.getfixturevalue("billed_month")
    client = client_for(world.users[role])
    before = _counts()

    response = _send(client, method, _fill(path, ids), _fill(body, ids))

    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert set(response.json()) == {"message", "extra"}
        assert _counts() == before, "a refused request changed something"
    if response.status_code == 404 and _placeholders(path, body):
        # Someone else's object gets exactly the answer of an object that does not exist.
        answers = [
            (absent.status_code, absent.json().get("message"))
            for name in _placeholders(path, body)
            for absent in [_send(client, method, _fill(path, ids | {name: MISSING_ID}), _fill(body, ids | {name: MISSING_ID}))]
        ]
        assert (404, response.json()["message"]) in answers, answers


def _placeholders(path: str, body) -> set[str]:
    texts = [path, *((body or {}).values())]
    return {part.split("}")[0] for text in texts if isinstance(text, str) for part in text.split("{")[1:]}


@pytest.fixture
def billed_month(world):
    """Last month billed to the follower for the leader's (marketplace) strategy: something to pay out."""
    period = (timezone.now().date().replace(day=1) - timedelta(days=1)).replace(day=1)
    SignalProvider.objects.filter(pk=world.ids["provider"]).update(
        subscription_fee_monthly=Decimal("49"), performance_fee_percent=Decimal("20")
    )
    copy = Copy.objects.get(pk=world.ids["copy"])
    started = datetime.combine(period - timedelta(days=20), time(12), tzinfo=UTC)
    Copy.objects.filter(pk=copy.pk).update(started_at=started)
    # The copy is billed the terms recorded when it started: as if it had started on these.
    CopyFeeTerms.objects.filter(copy=copy).update(
        effective_from=started.date().replace(day=1), rate_percent=Decimal("20"), subscription_fee_monthly=Decimal("49")
    )
    add_trade(copy, pnl="500", finished_at=datetime.combine(period + timedelta(days=10), time(12), tzinfo=UTC))
    billing_period_run(period=period)
    return f"{period:%Y-%m}"
