import threading
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection
from django.utils import timezone

from copytrade.models import CopiedTrade, Copy, LeaderTrade
from core.models import Profile
from core.selectors import display_name
from marketplace.models import Rating, SignalProvider
from marketplace.services import rating_upsert
from tests.marketplace.support import make_copy, make_provider, make_strategy, make_trade, make_user


@pytest.fixture
def provider(owner):
    provider = make_provider(owner)
    make_strategy(owner)
    return provider


def _rate(client, provider, payload):
    return client.post(f"/api/marketplace/traders/{provider.pk}/rate", payload, format="json")


def test_a_follower_who_copied_rates_and_the_average_follows(provider, follower, stranger, client_for):
    strategy = provider.user.strategies.get()
    make_copy(follower, strategy)
    make_copy(stranger, strategy, status=Copy.Status.STOPPED)  # a past copy counts too

    first = _rate(client_for(follower), provider, {"rating": 5, "comment": "Steady."})
    second = _rate(client_for(stranger), provider, {"rating": 2})

    assert first.status_code == 200, first.data
    assert second.status_code == 200, second.data
    assert second.data["average_rating"] == "3.50"
    provider.refresh_from_db()
    assert (provider.average_rating, provider.ratings_count) == (Decimal("3.50"), 2)


def test_rating_again_updates_the_one_rating(provider, follower, client_for):
    make_copy(follower, provider.user.strategies.get())

    _rate(client_for(follower), provider, {"rating": 1, "comment": "Bad start."})
    response = _rate(client_for(follower), provider, {"rating": 4, "comment": "Recovered."})

    assert response.status_code == 200
    rating = Rating.objects.get()
    assert (rating.stars, rating.comment) == (4, "Recovered.")
    provider.refresh_from_db()
    assert (provider.average_rating, provider.ratings_count) == (Decimal("4.00"), 1)


def test_it_refuses_a_user_who_never_copied_the_provider(provider, stranger, client_for):
    response = _rate(client_for(stranger), provider, {"rating": 5})

    assert response.status_code == 403
    assert "copied" in response.data["message"]
    assert not Rating.objects.exists()


def test_it_refuses_self_rating(provider, owner, client_for):
    response = _rate(client_for(owner), provider, {"rating": 5})

    assert response.status_code == 403
    assert response.data["message"] == "You cannot rate yourself."
    assert not Rating.objects.exists()


@pytest.mark.parametrize(
    "payload", [{"rating": 0}, {"rating": 6}, {"rating": -1}, {"rating": "five"}, {"rating": 4.5}, {}, {"rating": 3, "stars": 3}]
)
def test_it_refuses_a_rating_outside_one_to_five(provider, follower, client_for, payload):
    make_copy(follower, provider.user.strategies.get())

    response = _rate(client_for(follower), provider, payload)

    assert response.status_code == 400
    assert set(response.data) == {"message", "extra"}
    assert not Rating.objects.exists()
    provider.refresh_from_db()
    assert provider.ratings_count == 0


def test_the_database_refuses_stars_outside_one_to_five(provider, follower):
    with pytest.raises(Exception, match="rating_stars_1_5"):
        Rating.objects.create(provider=provider, user=follower, stars=6)


def test_a_pending_provider_cannot_be_rated(stranger, follower, client_for):
    pending = make_provider(stranger, status=SignalProvider.Status.PENDING)
    make_copy(follower, make_strategy(stranger))

    assert _rate(client_for(follower), pending, {"rating": 5}).status_code == 404


def test_anonymous_users_cannot_rate(provider, api_client):
    assert _rate(api_client, provider, {"rating": 5}).status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_concurrent_ratings_keep_the_average_exact(owner):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    raters = [make_user(f"rater{n}") for n in range(8)]
    for rater in raters:
        make_copy(rater, strategy)
    barrier = threading.Barrier(len(raters))
    errors = []

    def rate(user, stars):
        try:
            barrier.wait(timeout=10)
            rating_upsert(user=user, provider_id=provider.pk, stars=stars)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=rate, args=(user, 1 + n % 5)) for n, user in enumerate(raters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    provider.refresh_from_db()
    stars = [1 + n % 5 for n in range(len(raters))]
    assert provider.ratings_count == len(raters)
    # PostgreSQL rounds the average into numeric(3,2) half away from zero: 21 / 8 = 2.625 -> 2.63.
    assert provider.average_rating == (Decimal(sum(stars)) / len(stars)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _copied_close(copy, *, status=CopiedTrade.Status.FILLED, effect=LeaderTrade.Effect.CLOSE) -> CopiedTrade:
    strategy = copy.strategy
    sequence = strategy.trades.count() + 1
    leader_trade = make_trade(strategy, sequence=sequence, side="sell", amount="1", price="100", traded_at=timezone.now(), effect=effect)
    return CopiedTrade.objects.create(
        copy=copy,
        leader_trade=leader_trade,
        sequence=sequence,
        follower=copy.follower,
        leader_user=strategy.owner,
        strategy=strategy,
        symbol="BTC/USDT",
        side="sell",
        effect=effect,
        status=status,
        client_order_id=f"c-{copy.pk}-{sequence}",
    )


def test_a_follower_rates_only_once_a_copied_trade_has_closed(provider, follower, client_for):
    # given a copy started a minute ago, whose only copied trades are an entry and a skipped close
    copy = make_copy(follower, provider.user.strategies.get())
    Copy.objects.filter(pk=copy.pk).update(started_at=timezone.now() - timedelta(minutes=1))
    _copied_close(copy, effect=LeaderTrade.Effect.OPEN)
    _copied_close(copy, status=CopiedTrade.Status.SKIPPED)

    # when / then: refused, with the reason
    refused = _rate(client_for(follower), provider, {"rating": 5})
    assert refused.status_code == 403
    assert refused.data["message"] == (
        "You can rate this provider once one of your copied trades of its strategies has closed, or after 30 days of copying."
    )
    assert not Rating.objects.exists()

    # and once a copied close is filled, accepted
    _copied_close(copy)
    assert _rate(client_for(follower), provider, {"rating": 5}).status_code == 200


def test_a_follower_may_rate_after_the_configured_days_of_copying(provider, follower, client_for, settings):
    settings.RATING_MIN_COPY_DAYS = 7
    copy = make_copy(follower, provider.user.strategies.get())
    Copy.objects.filter(pk=copy.pk).update(started_at=timezone.now() - timedelta(days=6))

    assert _rate(client_for(follower), provider, {"rating": 4}).status_code == 403

    Copy.objects.filter(pk=copy.pk).update(started_at=timezone.now() - timedelta(days=7, minutes=1))
    assert _rate(client_for(follower), provider, {"rating": 4}).status_code == 200


def test_ratings_show_display_names_never_usernames(provider, follower, stranger, client_for, api_client):
    Profile.objects.create(user=follower, display_name="Careful Fan")
    make_copy(follower, provider.user.strategies.get())
    make_copy(stranger, provider.user.strategies.get())

    rated = _rate(client_for(follower), provider, {"rating": 5, "comment": "Steady."})
    _rate(client_for(stranger), provider, {"rating": 3, "comment": "Fine."})
    profile = api_client.get(f"/api/marketplace/traders/{provider.pk}")  # anonymous

    assert rated.data["user"] == "Careful Fan"
    comments = profile.json()["rating"]["recent_comments"]
    assert sorted(comment["user"] for comment in comments) == sorted(["Careful Fan", display_name(stranger)])
    assert '"follower"' not in profile.content.decode() and '"stranger"' not in profile.content.decode()
