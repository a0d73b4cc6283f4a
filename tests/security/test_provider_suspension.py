"""Issue 18, item 2: a suspended provider's status gates everything that opens copying."""

from decimal import Decimal

import pytest

from copytrade.models import Copy, Strategy
from marketplace.models import SignalProvider
from marketplace.services import provider_transition
from tests.copytrade import paper_account, signal_only_strategy
from tests.marketplace.support import make_curator, make_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(db):
    return make_curator()


@pytest.fixture
def provider(owner, curator, simulated_binance):
    return make_provider(owner, status=SignalProvider.Status.APPROVED)


def _suspend(provider, curator):
    provider_transition(provider_id=provider.pk, action="suspend", actor=curator, reason="fake record")


def test_a_suspended_provider_cannot_create_a_strategy(client_for, owner, provider, curator):
    _suspend(provider, curator)

    response = client_for(owner).post(
        "/api/strategies/", {"name": "Fresh", "declared_capital": "1000", "is_public_leader": True}, format="json"
    )

    assert response.status_code == 409, response.content
    assert "suspended" in response.json()["message"]
    assert not Strategy.objects.filter(name="Fresh").exists()


def test_nothing_opens_a_suspended_providers_strategy_to_a_new_copy(client_for, owner, follower, provider, curator):
    strategy = signal_only_strategy(owner)
    _suspend(provider, curator)
    # Whatever reopened it (an admin edit, a bug), the provider's status still decides.
    Strategy.objects.filter(pk=strategy.pk).update(accepting_copies=True)
    account = paper_account(follower)

    response = client_for(follower).post(
        "/api/copy-trading/start",
        {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": "10"},
        format="json",
    )

    assert response.status_code == 409, response.content
    assert not Copy.objects.exists()


def test_a_copy_paused_by_the_suspension_resumes_only_after_reinstatement(client_for, owner, follower, provider, curator):
    from copytrade.services.copies import copy_start

    strategy = signal_only_strategy(owner)
    copy = copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=paper_account(follower).pk, allocation_percent=Decimal("10")
    )
    _suspend(provider, curator)
    Strategy.objects.filter(pk=strategy.pk).update(accepting_copies=True)
    client = client_for(follower)

    while_suspended = client.post("/api/copy-trading/resume", {"copy_id": copy.pk}, format="json")
    provider_transition(provider_id=provider.pk, action="reinstate", actor=curator, reason="checked")
    after_reinstatement = client.post("/api/copy-trading/resume", {"copy_id": copy.pk}, format="json")

    assert while_suspended.status_code == 409, while_suspended.content
    assert after_reinstatement.status_code == 200, after_reinstatement.content


def test_an_approved_provider_still_creates_and_is_copied(client_for, owner, follower, provider):
    created = client_for(owner).post(
        "/api/strategies/", {"name": "Fresh", "declared_capital": "1000", "is_public_leader": True}, format="json"
    )
    account = paper_account(follower)

    copied = client_for(follower).post(
        "/api/copy-trading/start",
        {"strategy_id": created.json()["id"], "exchange_account_id": account.pk, "allocation_percent": "10"},
        format="json",
    )

    assert (created.status_code, copied.status_code) == (201, 201)
