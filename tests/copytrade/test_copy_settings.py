"""A follower's copy settings through the API: the change's check says what it does to the
positions already open before anything is saved, with the PATCH's own refusals."""

from decimal import Decimal

import pytest

from copytrade.models import Copy, FollowerPosition
from copytrade.services.copies import copy_start
from tests.copytrade import paper_account, signal_only_strategy

BASE = "/api/copy-trading"

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(owner, simulated_binance):
    return signal_only_strategy(owner)


@pytest.fixture
def copy(follower, strategy, simulated_binance):
    account = paper_account(follower, usdt="10000")
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    FollowerPosition.objects.create(copy=copy, symbol="ETH/USDT", quantity=Decimal("-1"), average_entry=Decimal("3000"))
    FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"))
    return copy


def test_the_check_says_what_a_change_does_to_the_open_positions_and_saves_nothing(client_for, follower, copy):
    before = Copy.objects.filter(pk=copy.pk).values().get()

    response = client_for(follower).post(
        f"{BASE}/copies/{copy.pk}/check",
        {"allocation_percent": "10", "max_slippage_percent": "0.3", "max_order_notional_usd": "100", "round_up_to_minimum": True},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["changes"] == [
        "A smaller share (20 % → 10 %) applies from the next trade, and the copy's capital becomes 1,000.00 USDT; "
        "your open BTC/USDT, ETH/USDT positions are not resized",
        "The slippage limit 1 % → 0.3 % applies to the next new position or increase; exits are never held back by it",
        "The largest order becomes 100.00 USDT from the next order; your open BTC/USDT, ETH/USDT positions are not resized",
        "From the next trade, an order below the exchange's minimum is placed at the exchange's minimum",
    ]
    assert Copy.objects.filter(pk=copy.pk).values().get() == before


def test_the_check_refuses_what_the_patch_refuses_with_the_same_answer(client_for, follower, copy):
    client = client_for(follower)

    checked = client.post(f"{BASE}/copies/{copy.pk}/check", {"max_slippage_percent": "60"}, format="json")
    patched = client.patch(f"{BASE}/copies/{copy.pk}", {"max_slippage_percent": "60"}, format="json")

    assert checked.status_code == patched.status_code == 400
    assert checked.json() == patched.json()
    assert "max_slippage_percent must be between 0 and 50." in str(checked.json())


def test_the_check_of_a_stopped_or_someone_elses_copy_is_refused(client_for, follower, stranger, copy):
    assert client_for(stranger).post(f"{BASE}/copies/{copy.pk}/check", {"max_slippage_percent": "2"}, format="json").status_code == 404
    Copy.objects.filter(pk=copy.pk).update(status=Copy.Status.STOPPED)
    assert client_for(follower).post(f"{BASE}/copies/{copy.pk}/check", {"max_slippage_percent": "2"}, format="json").status_code == 409


def test_a_patch_changes_every_setting_from_the_next_trade(client_for, follower, copy):
    response = client_for(follower).patch(
        f"{BASE}/copies/{copy.pk}",
        {"max_drawdown_stop": "12", "max_slippage_percent": "0.5", "max_order_notional_usd": None, "round_up_to_minimum": True},
        format="json",
    )

    assert response.status_code == 200, response.json()
    copy.refresh_from_db()
    assert (copy.max_drawdown_stop, copy.max_slippage_percent, copy.max_order_notional, copy.round_up_to_minimum) == (
        Decimal("12"),
        Decimal("0.5"),
        None,
        True,
    )
    # open positions are left as they are
    assert FollowerPosition.objects.get(copy=copy, symbol="BTC/USDT").quantity == Decimal("0.01")
