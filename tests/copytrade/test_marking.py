"""Copies are marked to market between fills: the copy stop-loss trips when prices move."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, Copy, FollowerPosition
from copytrade.services.marking import copies_mark_to_market
from core.models import Notification
from tests.copytrade import submit
from tests.copytrade.test_execution import run_engine, sim, start_copy, strategy  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def holding_copy(sim, strategy, follower):
    copy = start_copy(sim, follower, strategy, allocation_percent=Decimal("50"), max_drawdown_stop=Decimal("10"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()
    return copy


def test_a_price_fall_between_fills_trips_the_copy_stop_loss(sim, holding_copy, follower, django_capture_on_commit_callbacks):
    # when BTC falls 30 % and the leader does nothing
    sim.set_price(symbol="BTC/USDT", price="45500")
    with django_capture_on_commit_callbacks(execute=True):
        outcome = copies_mark_to_market()
    run_engine()

    # then the copy is marked down past its 10 % stop, closed at market and paused
    holding_copy.refresh_from_db()
    assert outcome.stop_losses == [holding_copy.pk]
    assert holding_copy.status == Copy.Status.PAUSED
    assert holding_copy.pause_reason == Copy.PauseReason.STOP_LOSS
    assert list(CopiedTrade.objects.filter(copy=holding_copy).values_list("kind", "status")) == [
        ("mirror", "filled"),
        ("stop_loss", "filled"),
    ]
    assert FollowerPosition.objects.get(copy=holding_copy).quantity == 0
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_STOP_LOSS).count() == 1


def test_a_rise_lifts_the_peak_and_a_small_dip_only_moves_the_drawdown(sim, holding_copy):
    sim.set_price(symbol="BTC/USDT", price="70000")
    copies_mark_to_market()
    holding_copy.refresh_from_db()
    peak = holding_copy.peak_equity
    assert holding_copy.copy_equity == peak and peak > holding_copy.copy_capital

    sim.set_price(symbol="BTC/USDT", price="68000")
    outcome = copies_mark_to_market()

    holding_copy.refresh_from_db()
    assert outcome.stop_losses == [] and outcome.copies_marked == 1
    assert holding_copy.status == Copy.Status.ACTIVE
    assert holding_copy.peak_equity == peak
    assert Decimal("0") < holding_copy.current_drawdown_percent < Decimal("10")


def test_paused_copies_and_copies_holding_nothing_are_left_alone(sim, strategy, holding_copy, follower):
    Copy.objects.filter(pk=holding_copy.pk).update(status=Copy.Status.PAUSED, pause_reason="follower")
    sim.set_price(symbol="BTC/USDT", price="30000")

    outcome = copies_mark_to_market()

    assert outcome.copies_marked == 0 and outcome.stop_losses == []
    assert CopiedTrade.objects.filter(copy=holding_copy).count() == 1
