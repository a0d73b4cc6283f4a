import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import make_user

pytest_plugins = ["tests.fixtures.stripe", "tests.fixtures.simulator", "tests.fixtures.worker", "tests.fixtures.rabbitmq"]


# Tests that start a Celery worker or drive Chromium carry those marks (and `slow`) whether or
# not their module says so: `make check` leaves them out by mark.
MARKS_BY_FIXTURE = {
    "celery_worker": ("worker", "slow"),
    "rabbitmq_url": ("worker", "slow"),
    "browser": ("browser", "slow"),
    "browsing": ("browser", "slow"),
}
# A test that reaches any of these can leave rate buckets, caches or broker messages in Redis.
REDIS_FIXTURES = {"db", "transactional_db", "live_server", "simulator", "simulated_binance", "stripe_standin", "celery_worker"}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marks in MARKS_BY_FIXTURE.items():
            if fixture in fixtures:
                for mark in marks:
                    item.add_marker(mark)


def uses_redis(item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & REDIS_FIXTURES) or any(item.iter_markers("django_db")) or any(item.iter_markers("redis"))


@pytest.fixture(autouse=True)
def _clean_redis(request):
    """A test that uses Redis (see `uses_redis`) starts and ends with an empty test Redis
    database (rate buckets, caches, broker); pure unit tests skip the two round trips."""
    if not uses_redis(request.node):
        yield
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture
def owner(db):
    return make_user("owner")


@pytest.fixture
def follower(db):
    return make_user("follower")


@pytest.fixture
def stranger(db):
    return make_user("stranger")


@pytest.fixture
def staff(db):
    return make_user("staff", is_staff=True)


@pytest.fixture
def billing_operator(db):
    """Staff in the billing role (billing/migrations/0006_billing_role.py)."""
    from billing.roles import billing_group

    user = make_user("billing", is_staff=True)
    user.groups.add(billing_group())
    return user


def _client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    return _client_for
