"""/api/strategies/: leaders create and manage their strategies; the webhook secret is shown
on create and on rotation only."""

from decimal import Decimal

import pytest

from copytrade.models import Strategy
from tests.copytrade import paper_account, signal_only_strategy, simulator_account

pytestmark = pytest.mark.django_db

URL = "/api/strategies/"


def _create(client, **fields):
    return client.post(URL, {"name": "Momentum", **fields}, format="json")


def test_it_creates_a_signal_only_strategy_and_shows_its_secret_once(client_for, owner):
    client = client_for(owner)

    response = _create(client, declared_capital="25000", kind="ai", is_public_leader=True, copy_override_percent="20")

    assert response.status_code == 201, response.json()
    body = response.json()
    strategy = Strategy.objects.get(pk=body["id"])
    assert body["webhook_secret"] == strategy.webhook_secret
    assert len(strategy.webhook_secret) >= 32
    assert (strategy.owner, strategy.kind, strategy.declared_capital, strategy.copy_override_percent) == (
        owner,
        "ai",
        Decimal("25000"),
        Decimal("20"),
    )
    assert (strategy.source, strategy.status, strategy.copiers_count) == ("webhook", "running", 0)
    listed = client.get(URL).json()
    detail = client.get(f"{URL}{strategy.pk}/").json()
    assert "webhook_secret" not in listed["results"][0]
    assert "webhook_secret" not in detail
    assert strategy.webhook_secret not in str(listed) + str(detail)


def test_it_creates_a_strategy_led_by_the_owners_account(client_for, owner):
    account = paper_account(owner)

    response = _create(client_for(owner), leader_account_id=account.pk)

    assert response.status_code == 201, response.json()
    assert Strategy.objects.get().leader_account == account
    assert response.json()["leader_account_id"] == account.pk


def test_it_starts_an_exchange_sync_strategy_syncing_from_now(client_for, owner, simulated_binance):
    account = simulator_account(simulated_binance, owner)

    response = _create(client_for(owner), leader_account_id=account.pk, source="exchange_sync")

    assert response.status_code == 201, response.json()
    assert Strategy.objects.get().sync_cursor_ms is not None


def test_it_lists_only_the_callers_own_strategies(client_for, owner, stranger):
    mine = signal_only_strategy(owner, name="Mine")
    signal_only_strategy(stranger, name="Theirs")

    body = client_for(owner).get(URL).json()

    assert [row["id"] for row in body["results"]] == [mine.pk]
    assert body["count"] == 1


def test_it_rotates_the_secret_and_shows_the_new_one_once(client_for, owner):
    strategy = signal_only_strategy(owner)
    old = strategy.webhook_secret

    response = client_for(owner).post(f"{URL}{strategy.pk}/rotate-secret/")

    assert response.status_code == 200
    strategy.refresh_from_db()
    assert response.json() == {"id": strategy.pk, "webhook_secret": strategy.webhook_secret}
    assert strategy.webhook_secret != old
    assert "webhook_secret" not in client_for(owner).get(f"{URL}{strategy.pk}/").json()


def test_it_updates_a_strategy_for_its_owner(client_for, owner):
    strategy = signal_only_strategy(owner, public=False)

    response = client_for(owner).patch(
        f"{URL}{strategy.pk}/",
        {"name": "Renamed", "status": "paused", "is_public_leader": True, "copy_override_percent": "0", "declared_capital": "5000"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert "webhook_secret" not in response.json()
    strategy.refresh_from_db()
    assert (strategy.name, strategy.status, strategy.is_public_leader) == ("Renamed", "paused", True)
    assert (strategy.copy_override_percent, strategy.declared_capital) == (Decimal("0"), Decimal("5000"))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "Both", "declared_capital": "1000", "leader_account_id": 1},
        {"name": "Neither"},
        {"name": "Neg", "declared_capital": "-1"},
        {"name": "Zero", "declared_capital": "0"},
        {"name": "NaN", "declared_capital": "NaN"},
        {"name": "Huge", "declared_capital": "1e30"},
        {"name": "Kind", "declared_capital": "1000", "kind": "robot"},
        {"name": "Source", "declared_capital": "1000", "source": "telepathy"},
        {"name": "Override", "declared_capital": "1000", "copy_override_percent": "30.01"},
        {"name": "Override", "declared_capital": "1000", "copy_override_percent": "-1"},
        {"name": "Secret", "declared_capital": "1000", "webhook_secret": "mine"},
        {"name": "Owner", "declared_capital": "1000", "owner": 1},
        {"name": "Sync", "declared_capital": "1000", "source": "exchange_sync"},
        {"name": "Account", "leader_account_id": "abc"},
        {"name": "x", "description": "d" * 5001, "declared_capital": "1000"},
    ],
)
def test_it_refuses_an_invalid_strategy_with_400_and_creates_nothing(client_for, owner, fields):
    response = client_for(owner).post(URL, fields, format="json")

    assert response.status_code == 400, response.json()
    assert set(response.json()) == {"message", "extra"}
    assert Strategy.objects.count() == 0


def test_it_refuses_exchange_sync_on_a_paper_account_with_400(client_for, owner):
    account = paper_account(owner)

    response = _create(client_for(owner), leader_account_id=account.pk, source="exchange_sync")

    assert response.status_code == 400
    assert "exchange_sync" in response.json()["message"]
    assert Strategy.objects.count() == 0


def test_it_does_not_lead_with_someone_elses_account(client_for, owner, stranger):
    account = paper_account(stranger)

    response = _create(client_for(owner), leader_account_id=account.pk)

    assert response.status_code == 404
    assert Strategy.objects.count() == 0


def test_it_refuses_a_second_strategy_on_the_same_leader_account_with_409(client_for, owner):
    account = paper_account(owner)
    assert _create(client_for(owner), leader_account_id=account.pk).status_code == 201

    response = _create(client_for(owner), name="Second", leader_account_id=account.pk)

    assert response.status_code == 409
    assert Strategy.objects.count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"webhook_secret": "mine"},
        {"copiers_count": 1000},
        {"verified_badge": True},
        {"leader_account_id": 1},
        {"owner": 1},
        {"last_sequence": 0},
        {"copy_override_percent": "31"},
        {"status": "deleted"},
        {"declared_capital": "0"},
        {"declared_capital": None},
        {"name": ""},
        {"source": "exchange_sync"},
    ],
)
def test_it_refuses_an_invalid_update_with_400_and_changes_nothing(client_for, owner, fields):
    strategy = signal_only_strategy(owner)
    before = Strategy.objects.filter(pk=strategy.pk).values().get()

    response = client_for(owner).patch(f"{URL}{strategy.pk}/", fields, format="json")

    assert response.status_code == 400, response.json()
    assert Strategy.objects.filter(pk=strategy.pk).values().get() == before


def test_it_refuses_a_declared_capital_for_a_strategy_led_by_an_account(client_for, owner):
    account = paper_account(owner)
    strategy_id = _create(client_for(owner), leader_account_id=account.pk).json()["id"]

    response = client_for(owner).patch(f"{URL}{strategy_id}/", {"declared_capital": "100"}, format="json")

    assert response.status_code == 400
    assert Strategy.objects.get().declared_capital is None
