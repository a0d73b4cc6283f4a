"""No copy loops (issue 32, 1): an exchange account leads a strategy or is a copy target,
never both, refused at either end in words; exchange sync never records the platform's
own copy orders as a leader's trades, so even two exchange-sync strategies that copy each
other (old data, made before the refusals) trade nothing without new input."""

from decimal import Decimal

import pytest
from django.utils import timezone

from copytrade.models import CopiedTrade, Copy, LeaderTrade, Strategy
from copytrade.services.copies import copy_start
from copytrade.services.exchange_sync import strategies_exchange_sync
from copytrade.services.strategies import strategy_create
from core.errors import ConflictError
from exchanges.gateways import gateway_for_account
from tests.copytrade import record_fan_outs, signal_only_strategy, simulator_account
from tests.copytrade.test_execution import run_engine
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


def _synced_leader(sim, name: str):
    user = UserFactory(username=name.lower())
    account = simulator_account(sim, user, label=f"{name}'s Binance", usdt="100000")
    strategy = strategy_create(
        owner=user, name=f"{name} synced", leader_account_id=account.pk, source=Strategy.Source.EXCHANGE_SYNC, is_public_leader=True
    )
    return user, account, strategy


def _old_copy(*, follower, strategy, account) -> Copy:
    """A copy as it could be made before the refusals: straight into the table."""
    return Copy.objects.create(
        follower=follower,
        strategy=strategy,
        exchange_account=account,
        sizing_mode=Copy.SizingMode.MULTIPLIER,
        multiplier=Decimal("1"),
        copy_capital=Decimal("100000"),
        copy_equity=Decimal("100000"),
        peak_equity=Decimal("100000"),
        started_at=timezone.now(),
    )


def test_two_synced_strategies_copying_each_other_trade_nothing_without_new_input(sim, monkeypatch):
    # given: Alice's strategy is copied onto Bob's leader account, Bob's onto Alice's
    record_fan_outs(monkeypatch)  # the engine is run here, in order, by run_engine
    alice, alice_account, alice_strategy = _synced_leader(sim, "Alice")
    bob, bob_account, bob_strategy = _synced_leader(sim, "Bob")
    alice_copies_bob = _old_copy(follower=alice, strategy=bob_strategy, account=alice_account)
    bob_copies_alice = _old_copy(follower=bob, strategy=alice_strategy, account=bob_account)

    # when: Alice trades once by hand, then sync and the copy engine run round after round
    gateway_for_account(alice_account).create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.01"), client_order_id="by-hand-1")
    for _ in range(4):
        strategies_exchange_sync()
        run_engine()

    # then: Alice's one trade is recorded and copied once onto Bob's account; Bob's
    # strategy recorded nothing (that fill was the platform's copy order), so nothing
    # came back to Alice
    assert list(LeaderTrade.objects.values_list("strategy_id", "amount")) == [(alice_strategy.pk, Decimal("0.01000000"))]
    assert list(CopiedTrade.objects.values_list("copy_id", "status")) == [(bob_copies_alice.pk, CopiedTrade.Status.FILLED)]
    assert not CopiedTrade.objects.filter(copy=alice_copies_bob).exists()
    assert len(sim.orders(api_key=alice_account.api_key)) == 1


def test_an_account_that_is_a_copy_target_cannot_lead_a_strategy(sim, owner, follower, client_for):
    account = simulator_account(sim, follower, label="Main")
    leader = signal_only_strategy(owner, name="Followed")
    copy_start(follower=follower, strategy_id=leader.pk, exchange_account_id=account.pk, allocation_percent=Decimal("10"))

    with pytest.raises(ConflictError, match="'Main' copies 'Followed'"):
        strategy_create(owner=follower, name="Mine", leader_account_id=account.pk)
    response = client_for(follower).post("/api/strategies/", {"name": "Mine", "leader_account_id": account.pk}, format="json")

    assert response.status_code == 409
    assert "copies 'Followed'" in response.json()["message"]
    assert not Strategy.objects.filter(owner=follower).exists()


def test_a_copy_cannot_start_on_an_account_that_leads_a_strategy(sim, owner, follower, client_for):
    account = simulator_account(sim, follower, label="Leading")
    strategy_create(owner=follower, name="My lead", leader_account_id=account.pk)
    leader = signal_only_strategy(owner, name="Followed")

    with pytest.raises(ConflictError, match="'Leading' leads your strategy 'My lead'"):
        copy_start(follower=follower, strategy_id=leader.pk, exchange_account_id=account.pk, allocation_percent=Decimal("10"))
    response = client_for(follower).post(
        "/api/copy-trading/start", {"strategy_id": leader.pk, "exchange_account_id": account.pk, "allocation_percent": "10"}, format="json"
    )

    assert response.status_code == 409
    assert "leads your strategy 'My lead'" in response.json()["message"]
    assert not Copy.objects.exists()
