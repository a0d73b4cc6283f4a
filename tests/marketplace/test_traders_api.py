from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from marketplace.models import ProviderMetrics, Rating, SignalProvider, StrategyMetrics
from tests.marketplace.support import make_copy, make_provider, make_strategy, make_user

PROVIDERS = 1000
RISK_LEVELS = ["low", "medium", "high"]


def _values(i: int, window: str) -> dict:
    """Deterministic, varied metrics; the "all" window differs from "30d"."""
    shift = 0 if window == "30d" else 500
    j = i + shift
    return {
        "total_return": ((j * 37) % 1000) / 1000 - 0.3,
        "sharpe_ratio": None if j % 50 == 0 else ((j * 13) % 200) / 50 - 1,
        "win_rate": (j % 101) / 100,
        "max_drawdown": float((j * 7) % 60),
        "profit_factor": None if j % 10 == 0 else 1 + (j % 9) / 4,
        "profit_factor_infinite": j % 10 == 0,
    }


@pytest.fixture
def marketplace(db):
    """1,000 approved public providers with 30d and all-time metrics, plus some that must never show."""
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"trader{i:04d}", email=f"trader{i}@example.com") for i in range(PROVIDERS + 30)])
    now = timezone.now()
    providers = SignalProvider.objects.bulk_create(
        [
            SignalProvider(
                user=user,
                display_name=f"Trader {i:04d}",
                display_name_key=f"trader {i:04d}",
                status="approved" if i < PROVIDERS else ["pending", "rejected", "suspended"][i % 3],
                is_public=i < PROVIDERS or i % 2 == 0,
                risk_level=RISK_LEVELS[i % 3],
                average_rating=Decimal(i % 41) / 10 + Decimal(i % 2) / 100,
                ratings_count=i % 41,
                verification_status="verified" if i % 3 == 0 else "unverified",
            )
            for i, user in enumerate(users)
        ]
    )
    hidden = SignalProvider.objects.create(
        user=make_user("hidden"), display_name="Hidden", display_name_key="hidden", status="approved", is_public=False
    )
    providers.append(hidden)
    ProviderMetrics.objects.bulk_create(
        [
            ProviderMetrics(provider=provider, window=window, as_of=date(2026, 3, 9), computed_at=now, **_values(i, window))
            for i, provider in enumerate(providers)
            for window in ("30d", "all")
        ]
    )
    listed = [(i, provider) for i, provider in enumerate(providers) if provider.status == "approved" and provider.is_public]
    assert len(listed) == PROVIDERS
    return listed


def _expected(listed, *, window="30d", key="total_return", descending=True, keep=lambda i, p, m: True):
    rows = [(i, p, _values(i, window)) for i, p in listed]
    rows = [row for row in rows if keep(*row)]

    def sort_key(row):
        i, provider, metrics = row
        value = float(provider.average_rating) if key == "average_rating" else metrics[key]
        missing = value is None
        return (missing, -value if (descending and not missing) else (value if not missing else 0), provider.pk)

    return [provider.pk for _, provider, _ in sorted(rows, key=sort_key)]


def _all_pages(client, params: dict, page_size: int) -> list[int]:
    ids, offset = [], 0
    while True:
        response = client.get("/api/marketplace/traders", {**params, "limit": page_size, "offset": offset})
        assert response.status_code == 200, response.data
        ids += [row["id"] for row in response.data["results"]]
        if not response.data["next"]:
            return ids
        offset += page_size


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {}),
        ({"sort_by": "sharpe_ratio"}, {"key": "sharpe_ratio"}),
        ({"sort_by": "win_rate", "window": "all"}, {"key": "win_rate", "window": "all"}),
        ({"sort_by": "max_drawdown"}, {"key": "max_drawdown", "descending": False}),
        ({"sort_by": "average_rating"}, {"key": "average_rating"}),
        ({"min_win_rate": "0.6", "risk_level": "high"}, {"keep": lambda i, p, m: m["win_rate"] >= 0.6 and p.risk_level == "high"}),
        (
            {"min_sharpe": "-0.5", "max_drawdown": "20", "window": "all"},
            {
                "window": "all",
                "keep": lambda i, p, m: m["sharpe_ratio"] is not None and m["sharpe_ratio"] >= -0.5 and m["max_drawdown"] <= 20,
            },
        ),
        (
            {"min_rating": "3.5", "verified": "true"},
            {"keep": lambda i, p, m: p.average_rating >= Decimal("3.5") and p.verification_status == "verified"},
        ),
        ({"verified": "false", "sort_by": "win_rate"}, {"key": "win_rate", "keep": lambda i, p, m: p.verification_status != "verified"}),
    ],
)
def test_the_traders_list_filters_sorts_and_pages_through_a_thousand_providers(marketplace, api_client, params, expected):
    ids = _all_pages(api_client, params, page_size=97)

    assert ids == _expected(marketplace, **expected)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("page_size", [1, 10, 50, 200])
def test_a_page_costs_the_same_number_of_queries_whatever_its_size(marketplace, api_client, django_assert_num_queries, page_size):
    # One COUNT for the paginator, one SELECT for the page (metrics joined, followers a subquery).
    with django_assert_num_queries(2):
        response = api_client.get(
            "/api/marketplace/traders", {"sort_by": "sharpe_ratio", "min_win_rate": "0.1", "limit": page_size, "offset": 20}
        )

    assert response.status_code == 200
    assert len(response.data["results"]) == page_size


def test_a_listed_trader_shows_the_requested_windows_metrics(marketplace, api_client):
    shown = {}
    for offset in range(0, PROVIDERS, 200):
        response = api_client.get("/api/marketplace/traders", {"window": "all", "limit": 200, "offset": offset})
        shown.update((row["id"], row) for row in response.data["results"])

    for i, provider in marketplace[:50]:
        stored = _values(i, "all")
        # the API gives returns in percent, like drawdowns
        expected = {**stored, "total_return": pytest.approx(stored["total_return"] * 100)}
        metrics = shown[provider.pk]["metrics"]
        assert metrics["window"] == "all"
        assert {key: metrics[key] for key in expected} == expected


def test_the_follower_count_sorts_the_list(db, api_client):
    leaders = [make_user(f"leader{n}") for n in range(3)]
    providers = [make_provider(leader) for leader in leaders]
    strategies = [make_strategy(leader) for leader in leaders]
    followers = [make_user(f"fan{n}") for n in range(3)]
    for strategy, count in zip(strategies, [1, 3, 2]):
        for fan in followers[:count]:
            make_copy(fan, strategy)

    response = api_client.get("/api/marketplace/traders", {"sort_by": "follower_count"})

    assert [(row["id"], row["follower_count"]) for row in response.data["results"]] == [
        (providers[1].pk, 3),
        (providers[2].pk, 2),
        (providers[0].pk, 1),
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"sort_by": "popularity"},
        {"window": "1y"},
        {"window": ""},
        {"min_rating": "-1"},
        {"min_rating": "6"},
        {"min_win_rate": "-0.1"},
        {"min_win_rate": "1.5"},
        {"max_drawdown": "-5"},
        {"min_sharpe": "NaN"},
        {"min_sharpe": "abc"},
        {"risk_level": "extreme"},
        {"verified": "maybe"},
        {"limit": "0"},
        {"offset": "-1"},
        {"colour": "blue"},
    ],
)
def test_bad_list_input_is_a_400_in_the_one_error_shape(db, api_client, params):
    response = api_client.get("/api/marketplace/traders", params)

    assert response.status_code == 400
    assert set(response.data) == {"message", "extra"}
    assert response.data["message"].startswith("Invalid input.")


def test_the_trader_profile_has_metrics_per_window_equity_series_ratings_and_strategies(db, owner, follower, api_client):
    provider = make_provider(owner, description="Swing trader", trading_strategy="Breakouts")
    strategy = make_strategy(owner, name="Breakout BTC")
    make_strategy(owner, name="Private", is_public_leader=False)
    make_copy(follower, strategy)
    now = timezone.now()
    ProviderMetrics.objects.create(
        provider=provider,
        window="all",
        as_of=date(2026, 3, 9),
        computed_at=now,
        total_return=0.002,
        win_rate=1.0,
        closed_trades=1,
        profit_factor=None,
        profit_factor_infinite=True,
        equity_series=[["2026-03-08", "10000.00"], ["2026-03-09", "10020.00"]],
    )
    StrategyMetrics.objects.create(strategy=strategy, window="all", as_of=date(2026, 3, 9), computed_at=now, total_return=0.5)
    Rating.objects.create(provider=provider, user=follower, stars=4, comment="Calm and clear.")

    response = api_client.get(f"/api/marketplace/traders/{provider.pk}")

    assert response.status_code == 200
    body = response.data
    assert (body["display_name"], body["trading_strategy"], body["follower_count"]) == (provider.display_name, "Breakouts", 1)
    assert set(body["metrics"]) == {"7d", "30d", "90d", "all"}
    assert body["metrics"]["7d"] is None
    assert body["metrics"]["all"]["profit_factor"] is None
    assert body["metrics"]["all"]["profit_factor_infinite"] is True
    assert body["equity_series"] == [{"date": "2026-03-08", "equity": "10000.00"}, {"date": "2026-03-09", "equity": "10020.00"}]
    assert body["rating"]["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}
    assert [comment["comment"] for comment in body["rating"]["recent_comments"]] == ["Calm and clear."]
    assert [s["name"] for s in body["strategies"]] == ["Breakout BTC"]
    assert body["strategies"][0]["metrics_all"]["total_return"] == 50.0  # percent, like max_drawdown


@pytest.mark.parametrize("status", ["pending", "rejected", "suspended"])
def test_a_trader_that_is_not_approved_is_not_found(db, owner, api_client, status):
    provider = make_provider(owner, status=status)

    response = api_client.get(f"/api/marketplace/traders/{provider.pk}")

    assert response.status_code == 404
    assert set(response.data) == {"message", "extra"}


def test_only_curators_can_ask_for_a_metrics_update(
    db, owner, curator, stranger, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    enqueued = []
    monkeypatch.setattr("marketplace.tasks.recalculate_strategy_metrics.delay", lambda strategy_id: enqueued.append(strategy_id))

    refused = client_for(stranger).post(f"/api/marketplace/traders/{provider.pk}/update-metrics")
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client_for(curator).post(f"/api/marketplace/traders/{provider.pk}/update-metrics")

    assert refused.status_code == 403
    assert accepted.status_code == 202
    assert accepted.data == {"provider_id": provider.pk, "strategies_enqueued": 1}
    assert enqueued == [strategy.pk]


@pytest.mark.django_db
def test_zero_amounts_on_the_trader_pages_read_as_plain_decimals_not_exponents(client_for, follower):
    # Found by the API fuzz test: str() of a stored 0.00000000 gave "0E-8".
    provider = make_provider(make_user("zero"), subscription_fee_monthly=Decimal("0"))
    strategy = make_strategy(provider.user)
    now = timezone.now()
    ProviderMetrics.objects.create(provider=provider, window="30d", as_of=date(2026, 3, 9), computed_at=now, copied_aum=Decimal("0"))
    ProviderMetrics.objects.create(provider=provider, window="all", as_of=date(2026, 3, 9), computed_at=now, copied_aum=Decimal("0"))
    StrategyMetrics.objects.create(strategy=strategy, window="all", as_of=date(2026, 3, 9), computed_at=now, copied_aum=Decimal("0"))

    listed = client_for(follower).get("/api/marketplace/traders").json()["results"][0]
    detail = client_for(follower).get(f"/api/marketplace/traders/{provider.pk}").json()

    # Amounts a person reads: 2 places.
    assert listed["metrics"]["copied_aum"] == "0.00"
    assert listed["subscription_fee_monthly"] == "0.00"
    assert detail["subscription_fee_monthly"] == "0.00"
    assert detail["metrics"]["all"]["copied_aum"] == "0.00"
    assert detail["strategies"][0]["metrics_all"]["copied_aum"] == "0.00"
    assert detail["strategies"][0]["fee_terms"]["subscription_fee_monthly"] == "0.00"


def test_a_short_record_is_not_ranked_first_and_the_list_sorts_on_every_ratio(db, api_client, settings):
    # given a provider with one winning trade and two seasoned ones
    settings.LEADERBOARD_MIN_DAYS, settings.LEADERBOARD_MIN_CLOSED_TRADES = 30, 10
    now = timezone.now()
    figures = {
        "Lucky": ({"returns_count": 1, "closed_trades": 1}, {"win_rate": 1.0, "profit_factor_infinite": True}),
        "Steady": (
            {"returns_count": 200, "closed_trades": 80},
            {"win_rate": 0.6, "sortino_ratio": 2.0, "calmar_ratio": 0.8, "profit_factor": 1.9},
        ),
        "Bold": (
            {"returns_count": 200, "closed_trades": 80},
            {"win_rate": 0.5, "sortino_ratio": 1.0, "calmar_ratio": 2.5, "profit_factor": 2.6},
        ),
    }
    for name, (record, window) in figures.items():
        provider = make_provider(make_user(name.lower()), display_name=name)
        ProviderMetrics.objects.create(provider=provider, window="all", as_of=date(2026, 3, 9), computed_at=now, **record, **window)
        ProviderMetrics.objects.create(
            provider=provider,
            window="30d",
            as_of=date(2026, 3, 9),
            computed_at=now,
            returns_count=min(30, record["returns_count"]),
            closed_trades=min(12, record["closed_trades"]),
            first_day=date(2026, 3, 9),
            last_day=date(2026, 3, 9),
            **window,
        )

    def names(sort_by):
        response = api_client.get("/api/marketplace/traders", {"sort_by": sort_by})
        assert response.status_code == 200, response.data
        return [(row["display_name"], row["ranked"]) for row in response.data["results"]]

    # when / then
    assert names("win_rate") == [("Steady", True), ("Bold", True), ("Lucky", False)]
    assert [name for name, _ in names("sortino_ratio")] == ["Steady", "Bold", "Lucky"]
    assert [name for name, _ in names("calmar_ratio")] == ["Bold", "Steady", "Lucky"]
    assert [name for name, _ in names("profit_factor")] == ["Bold", "Steady", "Lucky"]
    lucky = api_client.get("/api/marketplace/traders", {"sort_by": "win_rate"}).data["results"][2]
    assert lucky["metrics"]["coverage"] == {"days": 1, "closed_trades": 1, "first_day": "2026-03-09", "last_day": "2026-03-09"}
