"""Every copy setting on the copy form with its default and what it does, and the Edit page
of a running copy: a change is checked by the service (as the API's), what it does to the
positions already open is said, and only a second submit saves it."""

from decimal import Decimal

import pytest

from copytrade.copy_settings import SETTINGS
from copytrade.models import Copy, FollowerPosition
from tests.marketplace.support import make_copy
from tests.web.support import make_leader, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    return make_member("mia", "Mia")


@pytest.fixture
def leader(db):
    return make_leader(make_member("alice", "Alice Trades"), name="Steady Breakouts", copiers=1)


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def running(member, leader):
    copy = make_copy(member, leader)
    Copy.objects.filter(pk=copy.pk).update(allocation_percent=Decimal("20"), copy_equity=Decimal("1000"))
    FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"))
    copy.refresh_from_db()
    return copy


def _settings(copy, **changes) -> dict:
    data = {
        "allocation_percent": str(copy.allocation_percent),
        "max_drawdown_stop": str(copy.max_drawdown_stop),
        "max_slippage_percent": str(copy.max_slippage_percent),
        "max_order_notional": "",
        "leverage_policy": copy.leverage_policy,
        "margin_mode": copy.margin_mode,
    }
    return {**data, **changes}


def test_the_copy_form_shows_every_setting_with_its_default_and_what_it_does(signed_in, leader, member, simulated_binance):
    from exchanges.services import exchange_account_create

    exchange_account_create(owner=member, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("2000")})

    html = signed_in.get(f"/leaders/{leader.pk}/copy/").content.decode()

    for name in ("max_drawdown_stop", "max_slippage_percent", "max_order_notional", "round_up_to_minimum"):
        assert f'name="{name}"' in html
    assert "Slippage limit (%)" in html and 'name="max_slippage_percent" value="1"' in html
    for setting in SETTINGS.values():
        assert f"Default: {setting.default}." in html.replace("&#x27;", "'")


def test_a_slippage_limit_chosen_on_the_copy_form_is_the_copys(signed_in, leader, member, simulated_binance):
    from exchanges.services import exchange_account_create

    practice = exchange_account_create(owner=member, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("2000")})
    form = {
        "exchange_account": practice.pk,
        "sizing_mode": "proportional",
        "allocation_percent": "25",
        "max_drawdown_stop": "30",
        "max_slippage_percent": "0.3",
        "round_up_to_minimum": "on",
        "terms_rate_percent": "0",
        "terms_subscription_fee_monthly": "0",
        "consent": "on",
    }

    assert signed_in.post(f"/leaders/{leader.pk}/copy/", form).status_code == 302

    copy = Copy.objects.get(follower=member)
    assert (copy.max_slippage_percent, copy.round_up_to_minimum) == (Decimal("0.3"), True)


def test_a_running_copy_offers_an_edit_of_its_settings(signed_in, running):
    html = signed_in.get("/copies/").content.decode()
    assert f'href="/copies/{running.pk}/settings/"' in html

    page = signed_in.get(f"/copies/{running.pk}/settings/").content.decode()
    assert 'name="allocation_percent" value="20.00"' in page
    assert 'name="multiplier"' not in page and 'name="fixed_notional"' not in page
    assert "Slippage limit (%)" in page


def test_a_change_says_what_it_does_to_the_open_positions_before_it_is_saved(signed_in, running):
    response = signed_in.post(f"/copies/{running.pk}/settings/", _settings(running, allocation_percent="10", max_slippage_percent="0.5"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "A smaller share (20 % → 10 %) applies from the next trade" in html
    assert "your open BTC/USDT position is not resized" in html
    assert "The slippage limit 1 % → 0.5 % applies to the next new position or increase" in html
    assert "Save these changes" in html
    running.refresh_from_db()
    assert (running.allocation_percent, running.max_slippage_percent) == (Decimal("20"), Decimal("1"))


def test_saving_applies_the_change_and_says_so(signed_in, running):
    response = signed_in.post(
        f"/copies/{running.pk}/settings/",
        {**_settings(running, allocation_percent="10", max_order_notional="250"), "confirm": "1"},
        follow=True,
    )

    html = response.content.decode()
    assert "Saved the settings of your copy of Steady Breakouts." in html
    running.refresh_from_db()
    assert (running.allocation_percent, running.max_order_notional, running.copy_capital) == (Decimal("10"), Decimal("250"), Decimal("500"))


def test_a_change_the_service_refuses_is_shown_beside_its_field_and_changes_nothing(signed_in, running):
    before = Copy.objects.filter(pk=running.pk).values().get()

    response = signed_in.post(f"/copies/{running.pk}/settings/", {**_settings(running, max_slippage_percent="60"), "confirm": "1"})

    html = response.content.decode()
    assert response.status_code == 400
    assert "max_slippage_percent must be between 0 and 50." in html
    assert "Save these changes" not in html
    assert Copy.objects.filter(pk=running.pk).values().get() == before


def test_a_stop_loss_already_reached_says_the_positions_close(signed_in, running):
    Copy.objects.filter(pk=running.pk).update(current_drawdown_percent=Decimal("12"))

    html = signed_in.post(f"/copies/{running.pk}/settings/", _settings(running, max_drawdown_stop="10")).content.decode()

    assert "its open positions are closed at market at the next price check and the copy pauses" in html


def test_nothing_changed_says_so(signed_in, running):
    html = signed_in.post(f"/copies/{running.pk}/settings/", _settings(running)).content.decode()

    assert "Nothing to save: every setting is as it was." in html


def test_someone_elses_copy_has_no_settings_page(signed_in, leader):
    theirs = make_copy(make_member("oscar", "Oscar"), leader)

    assert signed_in.get(f"/copies/{theirs.pk}/settings/").status_code == 404
    assert signed_in.post(f"/copies/{theirs.pk}/settings/", {"max_slippage_percent": "2", "confirm": "1"}).status_code == 404


def test_a_list_of_markets_is_checked_with_the_exchange_and_said_before_saving(signed_in, running, simulated_binance):
    refused = signed_in.post(f"/copies/{running.pk}/settings/", _settings(running, symbol_list_mode="allow", symbol_list="NOPE/USDT"))
    reviewed = signed_in.post(
        f"/copies/{running.pk}/settings/", _settings(running, symbol_list_mode="deny", symbol_list="btcusdt, ETH/USDT")
    )

    assert refused.status_code == 400 and "NOPE/USDT" in refused.content.decode()
    html = reviewed.content.decode()
    assert "From the next trade BTC/USDT, ETH/USDT are no longer copied" in html
    assert "the open positions follow the leader&#x27;s exits, whatever the list says" in html
    running.refresh_from_db()
    assert (running.symbol_list_mode, running.symbol_list) == ("", [])


def test_a_take_profit_says_where_the_open_position_would_close(signed_in, running):
    html = signed_in.post(
        f"/copies/{running.pk}/settings/", _settings(running, take_profit_percent="5", max_open_positions="2")
    ).content.decode()

    assert "your open ones too: BTC/USDT closes at 63,000" in html
    assert "At most 2 open positions from the next new position" in html


def test_a_perpetual_leverage_and_margin_change_says_when_it_applies_and_then_saves(signed_in, running):
    # given: a copy that follows the leader's leverage on cross margin (the defaults)
    change = _settings(running, leverage_policy="cap", leverage="5", margin_mode="isolated")

    # when: the follower checks the change
    html = signed_in.post(f"/copies/{running.pk}/settings/", change).content.decode()

    # then: what it does is said before anything is saved
    assert "Perpetual entries follow the leader&#x27;s leverage, at most 5×" in html
    assert "set on the exchange before that order; open positions keep theirs" in html
    assert "Isolated margin from the copy&#x27;s next entry on each perpetual market" in html
    running.refresh_from_db()
    assert (running.leverage_policy, running.leverage, running.margin_mode) == ("follow", None, "cross")

    # and when it is saved, the copy holds it
    signed_in.post(f"/copies/{running.pk}/settings/", {**change, "confirm": "1"})
    running.refresh_from_db()
    assert (running.leverage_policy, running.leverage, running.margin_mode) == ("cap", 5, "isolated")


def test_a_fixed_leverage_without_its_number_is_refused_beside_the_field(signed_in, running):
    response = signed_in.post(f"/copies/{running.pk}/settings/", {**_settings(running, leverage_policy="fixed"), "confirm": "1"})

    assert response.status_code == 400
    assert "A fixed leverage policy needs a leverage from 1 to 125." in response.content.decode()
    running.refresh_from_db()
    assert running.leverage_policy == "follow"
