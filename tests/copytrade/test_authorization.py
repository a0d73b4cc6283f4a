"""Who may do what on every copy-trading endpoint: the strategy's owner, the follower who
copies it, a stranger, a curator (staff) and an anonymous caller. What belongs to someone
else is "not found" (404), never a hint that it exists; staff get no API privileges."""

from decimal import Decimal

import pytest

from copytrade.models import Copy, LeaderTrade, Strategy
from copytrade.services.copies import copy_start
from tests.copytrade import paper_account, record_fan_outs, signal_only_strategy

ROLES = ("owner", "follower", "stranger", "staff", "anonymous")


def _expect(owner, follower, stranger, staff, anonymous=401) -> dict[str, int]:
    return dict(zip(ROLES, (owner, follower, stranger, staff, anonymous), strict=True))


SIGNAL = {"external_id": "rest-1", "symbol": "BTC/USDT", "action": "buy", "amount": "0.01", "price": "65000"}

# (method, path, body, expected status per role). Paths name the owner's public strategy,
# the follower's copy of it and the follower's paper account; `other` is a second public
# strategy of the owner that nobody copies yet.
MATRIX = [
    ("get", "/api/strategies/", None, _expect(200, 200, 200, 200)),
    ("post", "/api/strategies/", {"name": "New", "declared_capital": "1000"}, _expect(201, 201, 201, 201)),
    ("get", "/api/strategies/{strategy}/", None, _expect(200, 404, 404, 404)),
    ("patch", "/api/strategies/{strategy}/", {"name": "Renamed"}, _expect(200, 404, 404, 404)),
    ("post", "/api/strategies/{strategy}/rotate-secret/", None, _expect(200, 404, 404, 404)),
    ("get", "/api/strategies/{strategy}/trades/", None, _expect(200, 404, 404, 404)),
    ("post", "/api/strategies/{strategy}/trades/", SIGNAL, _expect(201, 404, 404, 404)),
    ("get", "/api/copy-trading/top", None, _expect(200, 200, 200, 200, anonymous=200)),
    ("get", "/api/copy-trading/leader/{strategy}", None, _expect(200, 200, 200, 200)),
    ("get", "/api/copy-trading/leader/{private}", None, _expect(200, 404, 404, 404)),
    # The owner may not copy their own strategy (400); the account is the follower's, so
    # anyone else is told it does not exist.
    (
        "post",
        "/api/copy-trading/start",
        {"strategy_id": "{other}", "exchange_account_id": "{account}", "allocation_percent": "10"},
        _expect(400, 201, 404, 404),
    ),
    ("post", "/api/copy-trading/stop", {"copy_id": "{copy}"}, _expect(404, 200, 404, 404)),
    ("post", "/api/copy-trading/pause", {"copy_id": "{copy}"}, _expect(404, 200, 404, 404)),
    ("post", "/api/copy-trading/resume", {"copy_id": "{paused}"}, _expect(404, 200, 404, 404)),
    ("patch", "/api/copy-trading/copies/{copy}", {"max_slippage_percent": "2"}, _expect(404, 200, 404, 404)),
    ("get", "/api/copy-trading/my-copies", None, _expect(200, 200, 200, 200)),
    ("get", "/api/copy-trading/copied-trades", None, _expect(200, 200, 200, 200)),
    ("get", "/api/copy-trading/copied-trades?copy={copy}", None, _expect(404, 200, 404, 404)),
]


@pytest.fixture
def world(owner, follower, stranger, staff, simulated_binance, monkeypatch):
    record_fan_outs(monkeypatch)
    strategy = signal_only_strategy(owner, name="Public")
    other = signal_only_strategy(owner, name="Other")
    private = signal_only_strategy(owner, name="Private", public=False)
    account = paper_account(follower)
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    third = signal_only_strategy(owner, name="Third")
    paused = copy_start(follower=follower, strategy_id=third.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    Copy.objects.filter(pk=paused.pk).update(status="paused", pause_reason="follower")
    ids = {
        "strategy": strategy.pk,
        "other": other.pk,
        "private": private.pk,
        "account": account.pk,
        "copy": copy.pk,
        "paused": paused.pk,
    }
    users = {"owner": owner, "follower": follower, "stranger": stranger, "staff": staff, "anonymous": None}
    return ids, users


def _fill(value, ids):
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if filled != value and filled.isdigit() else filled
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


@pytest.mark.slow  # every endpoint × every role, each against a freshly seeded world: `make test` only
@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m.upper()} {p}" for m, p, _, _ in MATRIX])
def test_every_endpoint_answers_each_role_as_the_matrix_says(client_for, world, role, method, path, body, expected):
    ids, users = world
    before = _snapshot()

    response = getattr(client_for(users[role]), method)(_fill(path, ids), _fill(body, ids), format="json")

    assert response.status_code == expected[role], response.content
    assert isinstance(response.json(), dict | list)
    if response.status_code >= 400:
        assert set(response.json()) == {"message", "extra"}
        assert _snapshot() == before  # a refused request changes nothing


def _snapshot():
    return (
        list(Strategy.objects.order_by("id").values()),
        list(Copy.objects.order_by("id").values()),
        LeaderTrade.objects.count(),
    )


@pytest.mark.django_db
def test_each_user_sees_only_their_own_copies_and_strategies(client_for, world):
    ids, users = world

    copies = {role: client_for(user).get("/api/copy-trading/my-copies").json()["count"] for role, user in users.items() if user}
    strategies = {role: client_for(user).get("/api/strategies/").json()["count"] for role, user in users.items() if user}

    assert copies == {"owner": 0, "follower": 2, "stranger": 0, "staff": 0}
    assert strategies == {"owner": 4, "follower": 0, "stranger": 0, "staff": 0}


@pytest.mark.django_db
def test_ids_beyond_the_database_range_are_not_found_rather_than_errors(client_for, world):
    ids, users = world
    client = client_for(users["follower"])
    huge = 2**70

    answers = [
        client.get(f"/api/strategies/{huge}/").status_code,
        client.get(f"/api/copy-trading/leader/{huge}").status_code,
        client.patch(f"/api/copy-trading/copies/{huge}", {}, format="json").status_code,
        client.post("/api/copy-trading/stop", {"copy_id": huge}, format="json").status_code,
        client.get("/api/copy-trading/copied-trades", {"copy": huge}).status_code,
        client.post(
            "/api/copy-trading/start",
            {"strategy_id": huge, "exchange_account_id": ids["account"], "allocation_percent": "1"},
            format="json",
        ).status_code,
        client.post(
            "/api/copy-trading/start", {"strategy_id": ids["other"], "exchange_account_id": huge, "allocation_percent": "1"}, format="json"
        ).status_code,
    ]

    assert all(answer in (400, 404) for answer in answers), answers


GARBAGE = [
    [],
    "text",
    {"": ""},
    {"strategy_id": {"$gt": 0}},
    {"copy_id": [1, 2]},
    {"copy_id": 1.5, "close_positions": "perhaps"},
    {"allocation_percent": "1e999999", "strategy_id": "1"},
    {"name": "\x00", "declared_capital": "1"},
    {"external_id": "\x00", "symbol": "\x00", "action": "buy", "amount": "1", "price": "1"},
    {"max_order_notional_usd": "99999999999999999999999"},
]


@pytest.mark.slow  # every endpoint, each against a freshly seeded world: `make test` only
@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "_body", "expected"), MATRIX, ids=[f"{m.upper()} {p}" for m, p, _, _ in MATRIX])
def test_garbage_input_gets_a_4xx_never_a_500(client_for, world, method, path, _body, expected):
    ids, users = world
    role = next(role for role in ("follower", "owner") if expected[role] < 400)
    client = client_for(users[role])

    # A GET sends its garbage as query parameters.
    bodies = GARBAGE if method != "get" else [{"limit": "9" * 30, "offset": "-0", "copy": "1e3", "sort": "\x00", "include_stopped": ""}]
    for body in bodies:
        response = getattr(client, method)(_fill(path, ids), body, format="json")
        assert response.status_code < 500, (body, response.content)
        if response.status_code >= 400:
            assert set(response.json()) == {"message", "extra"}
