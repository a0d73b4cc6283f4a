"""Locks taken in one order (copytrade/locks.py): a follower stopping a copy, a stop-loss
and a curator suspending the provider, all at once on the same strategy, never deadlock.

Before, copy_stop and the stop-loss locked the copy and then the strategy (to reserve
close sequence numbers) while suspension locked the strategy and then the copies:
PostgreSQL broke the cycle by failing one of them ("deadlock detected", a 500)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from copytrade.models import CopiedTrade, Copy, FollowerPosition, Strategy
from copytrade.services.copies import copy_pause, copy_stop
from copytrade.services.platform_closes import copy_stop_loss_check
from core.locks import held_lock
from marketplace.models import SignalProvider
from marketplace.services import provider_transition
from tests.factories import CopyFactory, ExchangeAccountFactory, StrategyFactory, make_user
from tests.marketplace.support import make_curator, make_provider

ROUNDS = 12


def _holding_copy(follower, strategy, **fields) -> Copy:
    copy = CopyFactory(follower=follower, strategy=strategy, exchange_account=ExchangeAccountFactory(owner=follower), **fields)
    for symbol in ("BTC/USDT", "ETH/USDT"):
        FollowerPosition.objects.create(copy=copy, symbol=symbol, quantity=Decimal("0.1"), average_entry=Decimal("100"))
    return copy


def _race(*calls) -> list[BaseException]:
    """Run the calls at once (a barrier releases them together), each in its own thread with
    its own database connection; the exceptions they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as exc:  # noqa: BLE001 - every failure is the finding
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing call never returned"
    return errors


@pytest.mark.django_db(transaction=True)
def test_stop_stop_loss_pause_and_suspension_racing_on_one_strategy_never_deadlock():
    curator = make_curator()
    for round_number in range(ROUNDS):
        leader = make_user(f"leader{round_number}")
        provider = make_provider(leader)
        strategy = StrategyFactory(owner=leader, copiers_count=3)  # the three copies below
        stopper, tripped, pauser = (make_user(f"{name}{round_number}") for name in ("stopper", "tripped", "pauser"))
        stopped_copy = _holding_copy(stopper, strategy)
        tripped_copy = _holding_copy(tripped, strategy, current_drawdown_percent=Decimal("35"), max_drawdown_stop=Decimal("30"))
        paused_copy = _holding_copy(pauser, strategy)

        errors = _race(
            lambda: copy_stop(follower=stopper, copy_id=stopped_copy.pk, close_positions=True),
            lambda: copy_stop_loss_check(copy_id=tripped_copy.pk),
            lambda: copy_pause(follower=pauser, copy_id=paused_copy.pk),
            lambda: provider_transition(provider_id=provider.pk, action="suspend", actor=curator, reason="race test"),
        )
        # A pause that lost to the suspension is refused in words (the copy is paused already).
        refusals = [e for e in errors if "Only an active copy can be paused" in str(e)]
        assert [e for e in errors if e not in refusals] == [], f"round {round_number}"

        provider.refresh_from_db()
        assert provider.status == SignalProvider.Status.SUSPENDED
        assert not Strategy.objects.get(pk=strategy.pk).accepting_copies
        statuses = dict(Copy.objects.filter(strategy=strategy).values_list("id", "status"))
        assert statuses == {
            stopped_copy.pk: Copy.Status.STOPPED,
            tripped_copy.pk: Copy.Status.PAUSED,
            paused_copy.pk: Copy.Status.PAUSED,
        }
        closes = CopiedTrade.objects.filter(strategy=strategy).values_list("copy_id", "kind", "symbol")
        on_stop = sorted(symbol for copy_id, kind, symbol in closes if copy_id == stopped_copy.pk)
        assert on_stop == ["BTC/USDT", "ETH/USDT"]
        assert {kind for copy_id, kind, _ in closes if copy_id == stopped_copy.pk} == {CopiedTrade.Kind.CLOSE_ON_STOP}
        # The stop-loss trips once (both symbols closed), unless the suspension paused the copy first.
        stop_loss = sorted(symbol for copy_id, kind, symbol in closes if copy_id == tripped_copy.pk)
        assert stop_loss in ([], ["BTC/USDT", "ETH/USDT"])
        sequences = list(CopiedTrade.objects.filter(strategy=strategy).values_list("copy_id", "sequence"))
        assert len(sequences) == len(set(sequences))


@pytest.mark.django_db
def test_a_holder_whose_lock_ran_out_cannot_release_the_next_holders_lock():
    from django.core.cache import cache

    first = held_lock("exchange-sync:7", timeout=30)
    assert first.__enter__()
    # The first holder outlives its timeout: its key expires (here: is removed) ...
    cache._cache.get_client(write=True).delete(cache.make_key("lock:exchange-sync:7"))
    second = held_lock("exchange-sync:7", timeout=30)
    assert second.__enter__(), "an expired lock is free"
    # ... and it finishes late: its release must leave the second holder's lock alone.
    first.__exit__(None, None, None)
    with held_lock("exchange-sync:7", timeout=30) as third:
        assert not third, "the second holder's lock was released by the first"
    second.__exit__(None, None, None)
    with held_lock("exchange-sync:7", timeout=30) as fourth:
        assert fourth


@pytest.mark.django_db(transaction=True)
def test_a_strategy_created_as_its_provider_is_suspended_is_refused_or_closed_never_open():
    from copytrade.services.strategies import strategy_create

    curator = make_curator()
    for round_number in range(ROUNDS):
        leader = make_user(f"maker{round_number}")
        provider = make_provider(leader)
        StrategyFactory(owner=leader)
        created = []
        errors = _race(
            lambda: created.append(strategy_create(owner=leader, name="Fresh", declared_capital=Decimal("1000"), is_public_leader=True)),
            lambda: provider_transition(provider_id=provider.pk, action="suspend", actor=curator, reason="race test"),
        )
        refused = [e for e in errors if "suspended by curators" in str(e)]
        assert [e for e in errors if e not in refused] == [], f"round {round_number}"
        assert len(created) + len(refused) == 1
        assert not Strategy.objects.filter(owner=leader, accepting_copies=True).exists(), (
            f"round {round_number}: a strategy of a suspended provider is open"
        )
