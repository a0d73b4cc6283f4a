"""Caps held where the order is sized (issue 32, 3): USER_MAX_MULTIPLIER_NOTIONAL bounds each
copied order of a multiplier copy, not only the copy's start; a strategy's declared capital
(what the start check measured) cannot change once it has been copied."""

from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade
from copytrade.services.copies import copy_start
from copytrade.services.strategies import strategy_update
from tests.copytrade import record_fan_outs, signal_only_strategy, simulator_account, submit
from tests.copytrade.test_execution import run_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    settings.USER_MAX_MULTIPLIER_NOTIONAL = Decimal("1000000")
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


@pytest.fixture
def copied_strategy(sim, owner, follower):
    """A leader declaring 250,000 USDT, copied ×4: 1,000,000 at full capital, the cap exactly."""
    strategy = signal_only_strategy(owner, name="Big", capital="250000")
    account = simulator_account(sim, follower, usdt="5000000")
    copy = copy_start(
        follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, sizing_mode="multiplier", multiplier=Decimal("4")
    )
    return strategy, copy


def test_a_copied_strategy_cannot_change_its_declared_capital(copied_strategy, owner, client_for):
    strategy, _ = copied_strategy

    response = client_for(owner).patch(f"/api/strategies/{strategy.pk}/", {"declared_capital": "1000000"}, format="json")

    assert response.status_code == 400
    assert "declared_capital" in response.json()["extra"]["fields"]
    assert "has been copied" in response.json()["extra"]["fields"]["declared_capital"][0]
    strategy.refresh_from_db()
    assert strategy.declared_capital == Decimal("250000")


def test_a_strategy_never_copied_may_change_its_declared_capital(sim, owner):
    strategy = signal_only_strategy(owner, name="Fresh", capital="250000")

    strategy_update(owner=owner, strategy_id=strategy.pk, data={"declared_capital": Decimal("300000")})

    strategy.refresh_from_db()
    assert strategy.declared_capital == Decimal("300000")


def test_a_million_dollar_signal_on_a_x4_copy_is_cut_to_the_cap(copied_strategy, sim, monkeypatch):
    strategy, copy = copied_strategy
    record_fan_outs(monkeypatch)

    submit(strategy, "huge", "buy", amount="15.38")  # 999,700 USDT at 65,000: four times the leader's capital
    run_engine()

    trade = CopiedTrade.objects.get(copy=copy)
    assert trade.status == CopiedTrade.Status.FILLED
    assert trade.reason == "clamped_to_multiplier_cap"
    assert trade.filled_amount * trade.average_price <= Decimal("1000000")
    assert trade.filled_amount * trade.average_price > Decimal("999000")
    [order] = sim.orders(api_key=copy.exchange_account.api_key)
    assert Decimal(order["amount"]) * Decimal("65000") <= Decimal("1000000")
