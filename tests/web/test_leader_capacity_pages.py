"""A leader's "Who can copy" card on the strategies page: minimum copy capital and follower
slots, listed or private, invitation links (created, copied, revoked) and recommended copy
settings. Each form calls the service the API calls; a refusal is shown inline with the
service's words; someone else's strategy is not found."""

import re
from html import unescape

import pytest

from copytrade.models import Strategy
from marketplace.models import InvitedCopy, StrategyCapacity, StrategyInvitation, StrategyRecommendation
from marketplace.services import strategy_invitation_create
from tests.copytrade import paper_account, signal_only_strategy
from tests.web.support import make_leader, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    return make_member("lena", "Lena")


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def strategy(member):
    return make_leader(member, name="Slow Burn", copiers=3)


@pytest.fixture
def theirs(db):
    return make_leader(make_member("oscar", "Oscar"), name="Theirs")


def _text(response) -> str:
    return unescape(response.content.decode())


def _words(html: str) -> str:
    """The page as read: no tags, one space between words."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_strategies_page_shows_who_can_copy_each_strategy(signed_in, strategy):
    StrategyCapacity.objects.create(strategy=strategy, follower_slots=5)

    page = _text(signed_in.get("/leader/strategies/"))

    assert "Who can copy Slow Burn" in page
    assert "3 live copies of 5 slots · 2 left" in _words(page)
    assert "Create an invitation link" in page and "the follower's own choice wins" in page


def test_setting_slots_below_the_copiers_says_it_is_full_and_running_copies_carry_on(signed_in, strategy):
    response = signed_in.post(
        f"/leader/strategies/{strategy.pk}/capacity/", {"min_copy_capital": "250", "follower_slots": "2"}, follow=True
    )

    capacity = StrategyCapacity.objects.get(strategy=strategy)
    assert (capacity.follower_slots, capacity.min_copy_capital) == (2, 250)
    page = _text(response)
    assert "it takes 2 followers and has 3, so it is full: new copies are refused until followers leave" in page
    assert "The 3 copies already running carry on as they are" in page
    assert "new copies need at least 250.00" in page
    assert "3 live copies of 2 slots · full: new copies are refused" in _words(page)


def test_empty_capacity_fields_lift_the_limits(signed_in, strategy):
    StrategyCapacity.objects.create(strategy=strategy, follower_slots=5)

    response = signed_in.post(f"/leader/strategies/{strategy.pk}/capacity/", {"min_copy_capital": "", "follower_slots": ""}, follow=True)

    assert StrategyCapacity.objects.get(strategy=strategy).follower_slots is None
    assert "new copies need no minimum capital, and it takes any number of followers" in _text(response)


def test_slots_the_service_refuses_are_shown_inline_with_its_message(signed_in, strategy):
    response = signed_in.post(f"/leader/strategies/{strategy.pk}/capacity/", {"min_copy_capital": "", "follower_slots": "0"})

    assert response.status_code == 400
    assert "follower_slots must be from 1 to 100000, or null for no limit." in _text(response)
    assert not StrategyCapacity.objects.filter(strategy=strategy).exists()


def test_a_minimum_capital_the_service_refuses_is_shown_inline(signed_in, strategy):
    response = signed_in.post(f"/leader/strategies/{strategy.pk}/capacity/", {"min_copy_capital": "-5", "follower_slots": ""})

    assert response.status_code == 400 and "min_copy_capital must be greater than 0" in _text(response)


def test_going_private_takes_it_off_the_leaderboard_and_says_copies_carry_on(signed_in, strategy):
    response = signed_in.post(f"/leader/strategies/{strategy.pk}/listing/", {"is_public_leader": ""}, follow=True)

    assert not Strategy.objects.get(pk=strategy.pk).is_public_leader
    page = _text(response)
    assert "“Slow Burn” is private: the leaderboard no longer lists it" in page and "The copies already running carry on." in page
    assert "private, by invitation" in page


def test_going_public_again_lists_it(signed_in, strategy):
    Strategy.objects.filter(pk=strategy.pk).update(is_public_leader=False)

    response = signed_in.post(f"/leader/strategies/{strategy.pk}/listing/", {"is_public_leader": "on"}, follow=True)

    assert Strategy.objects.get(pk=strategy.pk).is_public_leader and "“Slow Burn” is public" in _text(response)


def test_an_invitation_link_is_created_listed_with_its_link_and_revoked(signed_in, strategy):
    created = _text(signed_in.post(f"/leader/strategies/{strategy.pk}/invitations/", follow=True))

    invitation = StrategyInvitation.objects.get(strategy=strategy)
    assert "New invitation link to “Slow Burn”" in created
    assert f'value="http://testserver/leaders/{strategy.pk}/?invitation={invitation.token}"' in created

    revoked = _text(signed_in.post(f"/leader/invitations/{invitation.pk}/revoke/", follow=True))

    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert "Invitation link revoked" in revoked and "Copies already started with it carry on." in revoked
    assert "Revoked" in revoked and invitation.token not in revoked


def test_the_revoke_button_asks_for_confirmation(signed_in, member, strategy):
    strategy_invitation_create(owner=member, strategy_id=strategy.pk)

    page = _text(signed_in.get("/leader/strategies/"))

    assert 'data-confirm="Revoke this invitation link to “Slow Burn”?' in page


def test_recommended_settings_are_saved_with_the_copy_forms_words(signed_in, strategy):
    page = _text(signed_in.get("/leader/strategies/"))
    assert "Share of your account (%)" in page and "Slippage limit (%)" in page and "Most open positions (optional)" in page

    response = signed_in.post(
        f"/leader/strategies/{strategy.pk}/recommended-settings/",
        {"allocation_percent": "15", "max_slippage_percent": "0.5", "max_open_positions": "3"},
        follow=True,
    )

    settings = StrategyRecommendation.objects.get(strategy=strategy).settings
    assert settings == {"allocation_percent": "15", "max_slippage_percent": "0.5", "max_open_positions": 3}
    assert "what a follower submits is what their copy gets" in _text(response)


def test_recommended_settings_the_service_refuses_are_shown_inline(signed_in, strategy):
    response = signed_in.post(f"/leader/strategies/{strategy.pk}/recommended-settings/", {"allocation_percent": "150"})

    assert response.status_code == 400
    assert (
        "allocation_percent must be at most 100." in _text(response)
        and not StrategyRecommendation.objects.filter(strategy=strategy).exists()
    )


def test_all_empty_withdraws_the_recommendation(signed_in, strategy):
    StrategyRecommendation.objects.create(strategy=strategy, settings={"allocation_percent": "15"})

    response = signed_in.post(f"/leader/strategies/{strategy.pk}/recommended-settings/", {}, follow=True)

    assert StrategyRecommendation.objects.get(strategy=strategy).settings == {}
    assert "recommends no settings now" in _text(response)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("capacity/", {"follower_slots": "2"}),
        ("listing/", {"is_public_leader": ""}),
        ("recommended-settings/", {"allocation_percent": "10"}),
        ("invitations/", {}),
    ],
)
def test_someone_elses_strategy_is_not_found(signed_in, theirs, path, data):
    response = signed_in.post(f"/leader/strategies/{theirs.pk}/{path}", data)

    assert response.status_code == 404
    assert not StrategyCapacity.objects.filter(strategy=theirs).exists()
    assert Strategy.objects.get(pk=theirs.pk).is_public_leader and not StrategyInvitation.objects.filter(strategy=theirs).exists()


def test_someone_elses_invitation_cannot_be_revoked(signed_in, theirs):
    invitation = strategy_invitation_create(owner=theirs.owner, strategy_id=theirs.pk)

    response = signed_in.post(f"/leader/invitations/{invitation.pk}/revoke/")

    invitation.refresh_from_db()
    assert response.status_code == 404 and invitation.revoked_at is None


def test_a_private_strategy_opens_by_a_live_link_and_not_by_a_revoked_one(client, signed_in, member, strategy):
    signed_in.post(f"/leader/strategies/{strategy.pk}/listing/", {"is_public_leader": ""})
    live = strategy_invitation_create(owner=member, strategy_id=strategy.pk)
    revoked = strategy_invitation_create(owner=member, strategy_id=strategy.pk)
    signed_in.post(f"/leader/invitations/{revoked.pk}/revoke/")
    client.force_login(make_member("mia", "Mia"))

    assert client.get(f"/leaders/{strategy.pk}/?invitation={live.token}").status_code == 200
    assert client.get(f"/leaders/{strategy.pk}/?invitation={revoked.token}").status_code == 404
    assert client.get(f"/leaders/{strategy.pk}/").status_code == 404


def test_each_invitation_link_says_how_many_copies_it_started(client, client_for, owner, follower, simulated_binance):
    private = signal_only_strategy(owner, name="Inner Circle", public=False)
    used = strategy_invitation_create(owner=owner, strategy_id=private.pk)
    unused = strategy_invitation_create(owner=owner, strategy_id=private.pk)
    account = paper_account(follower, usdt="10000")
    body = {"strategy_id": private.pk, "exchange_account_id": account.pk, "allocation_percent": "20", "invitation": used.token}
    assert client_for(follower).post("/api/copy-trading/start", body, format="json").status_code == 201

    client.force_login(owner)
    page = _words(_text(client.get("/leader/strategies/")))

    assert InvitedCopy.objects.get().invitation == used
    assert page.count("started 1 copy") == 1 and page.count("started 0 copies") == 1
    assert used.copies_started.count() == 1 and unused.copies_started.count() == 0
