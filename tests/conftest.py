import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytest_plugins = ["tests.fixtures.stripe", "tests.fixtures.simulator", "tests.fixtures.worker"]


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty test Redis database (rate buckets, caches, broker)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


def _user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=f"{username}-pass-123", email=f"{username}@example.com", **extra)


@pytest.fixture
def owner(db):
    return _user("owner")


@pytest.fixture
def follower(db):
    return _user("follower")


@pytest.fixture
def stranger(db):
    return _user("stranger")


@pytest.fixture
def staff(db):
    return _user("staff", is_staff=True)


@pytest.fixture
def billing_operator(db):
    """Staff in the billing role (billing/migrations/0006_billing_role.py)."""
    from billing.roles import billing_group

    user = _user("billing", is_staff=True)
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
