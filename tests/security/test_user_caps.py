"""Issue 18, item 11: what one user may hold is capped, and every list is bounded."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.services import billing_period_run
from copytrade.models import Copy, Strategy
from exchanges.models import ExchangeAccount
from tests.billing.factories import add_trade, make_copy, make_strategy
from tests.copytrade import paper_account, signal_only_strategy
from tests.marketplace.support import make_provider, make_user

pytestmark = pytest.mark.django_db


def test_one_user_holds_at_most_the_exchange_account_cap(client_for, follower, settings):
    settings.USER_MAX_EXCHANGE_ACCOUNTS = 2
    client = client_for(follower)

    answers = [
        client.post("/api/exchange-accounts/", {"exchange_id": "paper", "label": f"Paper {n}"}, format="json").status_code for n in range(3)
    ]

    assert answers == [201, 201, 409]
    assert ExchangeAccount.objects.filter(owner=follower).count() == 2


def test_a_paper_balance_is_bounded_by_what_a_money_column_holds(client_for, follower):
    response = client_for(follower).post(
        "/api/exchange-accounts/", {"exchange_id": "paper", "label": "Rich", "starting_balance": {"USDT": "1e15"}}, format="json"
    )

    assert response.status_code == 400, response.content
    assert not ExchangeAccount.objects.exists()


def test_one_user_holds_at_most_the_strategy_cap(client_for, owner, settings, simulated_binance):
    settings.USER_MAX_STRATEGIES = 2
    client = client_for(owner)

    answers = [
        client.post("/api/strategies/", {"name": f"S{n}", "declared_capital": "1000", "is_public_leader": True}, format="json").status_code
        for n in range(3)
    ]

    assert answers == [201, 201, 409]


def _start(client, strategy, account, **sizing):
    sizing = sizing or {"allocation_percent": "10"}
    return client.post("/api/copy-trading/start", {"strategy_id": strategy.pk, "exchange_account_id": account.pk, **sizing}, format="json")


def test_one_user_holds_at_most_the_live_copies_cap(client_for, owner, follower, settings, simulated_binance):
    settings.USER_MAX_LIVE_COPIES = 2
    strategies = [signal_only_strategy(owner, name=f"S{n}") for n in range(3)]
    account = paper_account(follower)
    client = client_for(follower)

    answers = [_start(client, strategy, account).status_code for strategy in strategies[:2]]
    client.post("/api/copy-trading/stop", {"copy_id": Copy.objects.first().pk}, format="json")
    after_a_stop = _start(client, strategies[2], account).status_code
    over = _start(client, strategies[0], account).status_code

    assert answers == [201, 201]
    assert after_a_stop == 201  # a stopped copy is history, not a live one
    assert over == 409


def test_multiplier_copies_count_against_the_notional_cap(client_for, owner, follower, settings, simulated_binance):
    settings.USER_MAX_MULTIPLIER_NOTIONAL = Decimal("25000")
    strategies = [signal_only_strategy(owner, name=f"S{n}", capital="10000") for n in range(3)]
    account = paper_account(follower)
    client = client_for(follower)
    multiplier = {"sizing_mode": "multiplier", "multiplier": "1"}

    answers = [_start(client, strategy, account, **multiplier).status_code for strategy in strategies]
    copy = Copy.objects.order_by("id").first()
    raised = client.patch(f"/api/copy-trading/copies/{copy.pk}", {"multiplier": "2"}, format="json")
    lowered = client.patch(f"/api/copy-trading/copies/{copy.pk}", {"multiplier": "1.5"}, format="json")

    assert answers == [201, 201, 400]  # 10,000 + 10,000 + 10,000 > 25,000
    assert raised.status_code == 400  # 20,000 + 10,000
    assert lowered.status_code == 200  # 15,000 + 10,000
    assert Copy.objects.count() == 2


def test_earnings_by_follower_come_in_pages(client_for, owner, stripe_standin, settings):
    settings.STRIPE_API_KEY = ""
    strategy = make_strategy(owner)
    period = (timezone.now().date().replace(day=1) - timedelta(days=1)).replace(day=1)
    for n in range(3):
        copy = make_copy(
            make_user(f"f{n}"), strategy, started_at=datetime.combine(period, datetime.min.time(), tzinfo=UTC) - timedelta(days=30)
        )
        add_trade(copy, pnl=str(100 * (n + 1)), finished_at=datetime.combine(period + timedelta(days=5), datetime.min.time(), tzinfo=UTC))
    billing_period_run(period=date(period.year, period.month, 1))
    client = client_for(owner)

    first = client.get("/api/billing/earnings", {"limit": 2}).json()
    rest = client.get("/api/billing/earnings", {"limit": 2, "offset": 2}).json()
    too_many = client.get("/api/billing/earnings", {"limit": 100_000})

    assert first["by_follower_count"] == rest["by_follower_count"] == 3
    assert len(first["by_follower"]) == 2 and len(rest["by_follower"]) == 1
    assert {row["follower_id"] for row in first["by_follower"] + rest["by_follower"]} == set(
        Copy.objects.values_list("follower_id", flat=True)
    )
    assert too_many.status_code == 400


def test_a_trader_profile_lists_a_bounded_number_of_strategies(api_client, owner, settings):
    settings.USER_MAX_STRATEGIES = 3
    provider = make_provider(owner)
    for n in range(5):  # made before the cap existed
        Strategy.objects.create(owner=owner, name=f"S{n}", declared_capital=Decimal("1000"), is_public_leader=True)

    response = api_client.get(f"/api/marketplace/traders/{provider.pk}")

    assert response.status_code == 200
    assert len(response.json()["strategies"]) == 3
