import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import make_user

pytest_plugins = ["tests.fixtures.stripe", "tests.fixtures.simulator", "tests.fixtures.worker", "tests.fixtures.rabbitmq"]


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty test Redis database (rate buckets, caches, broker)."""
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
