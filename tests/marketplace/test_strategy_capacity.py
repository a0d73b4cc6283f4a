"""A leader's capacity and recommendation: follower slots (a full strategy says so on the leaderboard and
refuses new copies with 409), a minimum copy capital (400 below it), and recommended copy
settings the copy form starts from (the follower's choice wins)."""

from decimal import Decimal

import pytest

from copytrade.models import Copy
from tests.copytrade import paper_account, signal_only_strategy
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(owner, simulated_binance):
    return signal_only_strategy(owner, name="Capped")


def _capacity(client, strategy, **fields):
    body = {"min_copy_capital": None, "follower_slots": None, **fields}
    return client.put(f"/api/marketplace/strategies/{strategy.pk}/capacity", body, format="json")


def _start(client, user, strategy, *, percent: str = "20"):
    account = user.exchange_accounts.first() or paper_account(user, usdt="10000")
    body = {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": percent}
    return client.post("/api/copy-trading/start", body, format="json")


def _top_row(client, strategy) -> dict:
    return next(row for row in client.get("/api/copy-trading/top").json()["results"] if row["id"] == strategy.pk)


def test_a_full_strategy_says_so_and_refuses_new_copies_with_409_until_a_follower_leaves(client_for, owner, follower, strategy):
    second = make_user("second")
    assert _capacity(client_for(owner), strategy, follower_slots=1).json()["follower_slots"] == 1

    first = _start(client_for(follower), follower, strategy)
    refused = _start(client_for(second), second, strategy)

    assert first.status_code == 201, first.json()
    assert refused.status_code == 409
    assert "'Capped' is full: its leader takes 1 followers and every slot is taken." in refused.json()["message"]
    assert not Copy.objects.filter(follower=second).exists()
    row = _top_row(client_for(second), strategy)
    assert (row["follower_slots"], row["slots_left"]) == (1, 0)
    html = client_for(second).get("/").content.decode()
    assert "Full: 1 of 1 slots taken" in html

    client_for(follower).post("/api/copy-trading/stop", {"copy_id": first.json()["id"]}, format="json")
    assert _start(client_for(second), second, strategy).status_code == 201


def test_a_copy_under_the_leaders_minimum_capital_is_refused_with_400(client_for, owner, follower, strategy):
    _capacity(client_for(owner), strategy, min_copy_capital="3000")

    small = _start(client_for(follower), follower, strategy, percent="20")  # 2,000 of 10,000

    assert small.status_code == 400
    assert "takes copies of at least 3,000.00 USDT of capital; this copy would have 2,000.00 USDT" in small.json()["message"]
    assert not Copy.objects.filter(follower=follower).exists()
    assert _top_row(client_for(follower), strategy)["min_copy_capital"] == "3000.00000000"


def test_only_the_leader_sets_the_capacity_and_bad_values_are_refused(client_for, owner, stranger, strategy):
    assert _capacity(client_for(stranger), strategy, follower_slots=5).status_code == 404
    assert _capacity(client_for(owner), strategy, follower_slots=0).status_code == 400
    assert _capacity(client_for(owner), strategy, min_copy_capital="-1").status_code == 400
    assert _capacity(client_for(owner), strategy, follower_slots=500, min_copy_capital="100").status_code == 200


def test_the_copy_form_states_the_leaders_capacity(client, owner, follower, strategy):
    from marketplace.services import strategy_capacity_set

    strategy_capacity_set(owner=owner, strategy_id=strategy.pk, min_copy_capital=Decimal("500"), follower_slots=3)
    client.force_login(follower)

    html = client.get(f"/leaders/{strategy.pk}/copy/").content.decode()

    assert "The leader takes copies of at least 500.00" in html and "3 follower slots, 0 taken." in html


def test_a_leaders_recommended_settings_start_the_copy_form_and_the_followers_choice_wins(
    client, client_for, owner, follower, strategy, simulated_binance
):
    answer = client_for(owner).put(
        f"/api/marketplace/strategies/{strategy.pk}/recommended-settings",
        {"allocation_percent": "15", "max_slippage_percent": "0.5", "stop_loss_percent": "8"},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    account = paper_account(follower, usdt="10000")
    client.force_login(follower)

    html = client.get(f"/leaders/{strategy.pk}/copy/").content.decode()

    assert "start from the settings" in html
    assert 'name="allocation_percent" value="15.00"' in html and 'name="max_slippage_percent" value="0.50"' in html
    assert 'name="stop_loss_percent" value="8.00"' in html
    form = {
        "exchange_account": account.pk,
        "sizing_mode": "proportional",
        "allocation_percent": "20",
        "max_drawdown_stop": "30",
        "max_slippage_percent": "1",
        "stop_loss_percent": "",
        "terms_rate_percent": "0",
        "terms_subscription_fee_monthly": "0",
        "consent": "on",
    }
    assert client.post(f"/leaders/{strategy.pk}/copy/", form).status_code == 302
    copy = Copy.objects.get(follower=follower)
    assert (copy.allocation_percent, copy.max_slippage_percent, copy.stop_loss_percent) == (Decimal("20"), Decimal("1"), None)


def test_a_recommendation_out_of_bounds_or_of_someone_elses_strategy_is_refused(client_for, owner, stranger, strategy):
    url = f"/api/marketplace/strategies/{strategy.pk}/recommended-settings"

    assert client_for(owner).put(url, {"max_slippage_percent": "70"}, format="json").status_code == 400
    assert client_for(owner).put(url, {"sizing_mode": "fixed"}, format="json").status_code == 400
    assert client_for(stranger).put(url, {"max_slippage_percent": "1"}, format="json").status_code == 404
