"""Listed once approved: a signal provider's strategies reach the leaderboard and can be
copied only after curators approve it; under review, refused or suspended they are not
(copy start refuses in words). So does an AI strategy that charges a fee: its owner applies
as a provider and is approved first. Leaders who charge nothing are listed as they are."""

from decimal import Decimal

import pytest

from copytrade.models import Strategy
from copytrade.services.copies import copy_start
from core.errors import ConflictError
from exchanges.services import exchange_account_create
from marketplace.models import SignalProvider
from marketplace.services import provider_transition
from tests.marketplace.support import make_curator, make_provider, make_strategy, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_client(client_for, stranger):
    return client_for(stranger)


def _listed(api_client) -> set[str]:
    response = api_client.get("/api/copy-trading/top")
    assert response.status_code == 200
    body = response.json()
    return {row["name"] for row in (body["results"] if isinstance(body, dict) else body)}


@pytest.fixture
def follower_account(simulated_binance):
    follower = make_user("fiona")
    return follower, exchange_account_create(
        owner=follower, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("5000")}
    )


def _copy(follower_account, strategy):
    follower, account = follower_account
    return copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("10"))


def test_a_pending_provider_is_not_listed_nor_copied_until_curators_approve_it(api_client, client, follower_account):
    paula = make_user("paula")
    provider = make_provider(paula, status=SignalProvider.Status.PENDING)
    breakouts = make_strategy(paula, name="Breakouts")
    free = make_strategy(make_user("fred"), name="Free Signals")  # no provider profile: charges nothing
    ai = make_strategy(make_user("lab"), name="Momentum AI", kind=Strategy.Kind.AI, copy_override_percent=Decimal("0"))

    assert _listed(api_client) == {"Free Signals", "Momentum AI"}
    assert "Breakouts" not in client.get("/").content.decode()
    assert client.get(f"/leaders/{breakouts.pk}/").status_code == 404
    assert client.get(f"/leaders/{free.pk}/").status_code == 200  # a new record: no figures yet, "—"
    client.force_login(paula)
    assert client.get(f"/leaders/{breakouts.pk}/").status_code == 200  # its owner sees it
    with pytest.raises(ConflictError, match="awaiting the curators' approval"):
        _copy(follower_account, breakouts)
    assert _copy(follower_account, free).strategy_id == free.pk and ai.pk

    provider_transition(provider_id=provider.pk, action="approve", actor=make_curator(), reason="record checked")

    assert "Breakouts" in _listed(api_client)
    assert _copy(follower_account, breakouts).strategy_id == breakouts.pk


@pytest.mark.parametrize("status", [SignalProvider.Status.REJECTED, SignalProvider.Status.SUSPENDED])
def test_a_refused_or_suspended_provider_is_not_listed_nor_copied(api_client, follower_account, status):
    rita = make_user("rita")
    make_provider(rita, status=status)
    strategy = make_strategy(rita, name="Refused")

    assert "Refused" not in _listed(api_client)
    with pytest.raises(ConflictError, match="not approved by curators|suspended by curators"):
        _copy(follower_account, strategy)


def test_an_ai_strategy_that_charges_a_fee_is_not_listed_nor_copied_until_curators_approve_its_owner(
    api_client, client, client_for, follower_account
):
    # given: any user creates a public AI strategy taking 30 % of its copiers' profit
    lab = make_user("lab")
    created = client_for(lab).post(
        "/api/strategies/",
        {"name": "Greedy AI", "kind": "ai", "declared_capital": "10000", "is_public_leader": True, "copy_override_percent": "30"},
        format="json",
    )
    assert created.status_code == 201
    greedy = Strategy.objects.get(pk=created.json()["id"])

    # then: no curator has looked at it, so it is neither listed, shown nor copied
    assert "Greedy AI" not in _listed(api_client)
    assert client.get(f"/leaders/{greedy.pk}/").status_code == 404
    with pytest.raises(ConflictError, match="charges a fee: it can be copied once curators approve"):
        _copy(follower_account, greedy)
    follower, account = follower_account
    refused = client_for(follower).post(
        "/api/copy-trading/start", {"strategy_id": greedy.pk, "exchange_account_id": account.pk, "allocation_percent": "10"}, format="json"
    )
    assert refused.status_code == 409
    assert "curators" in refused.json()["message"]

    # when: its owner applies as a provider and a curator approves
    provider = make_provider(lab, status=SignalProvider.Status.PENDING)
    assert "Greedy AI" not in _listed(api_client)
    provider_transition(provider_id=provider.pk, action="approve", actor=make_curator(), reason="models and record checked")

    # then: listed and copyable, at the fee it states
    assert "Greedy AI" in _listed(api_client)
    assert _copy(follower_account, greedy).strategy_id == greedy.pk
