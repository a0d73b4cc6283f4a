"""Issue 18, items 9 and 12 (the token answer): API tokens expire, each login gets its own,
all can be revoked at once (by the API and on the tokens page), and no cache keeps one."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from core.models import ApiToken
from core.tokens import api_token_create

pytestmark = pytest.mark.django_db

PASSWORD = "follower-pass-123"


def _login():
    return APIClient().post("/api/auth/token/", {"username": "follower", "password": PASSWORD}, format="json")


def _me(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/auth/me/").status_code


def test_a_token_works_until_its_lifetime_ends_then_is_refused(follower, settings):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    response = _login()
    key = response.json()["token"]
    token = ApiToken.objects.get(user=follower)

    works = _me(key)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = _me(key)

    assert works == 200
    assert expired == 401
    assert abs(token.expires_at - (token.created_at + timedelta(days=30))) < timedelta(seconds=5)
    assert parse_datetime(response.json()["expires_at"]) == token.expires_at


def test_every_login_gets_a_new_token_and_the_old_ones_keep_working(follower):
    first, second = _login().json()["token"], _login().json()["token"]

    assert first != second
    assert (_me(first), _me(second)) == (200, 200)
    assert ApiToken.objects.filter(user=follower).count() == 2


def test_revoke_all_ends_every_token_of_the_caller_only(follower, stranger):
    keys = [_login().json()["token"] for _ in range(3)]
    _, strangers_key = api_token_create(user=stranger, name="theirs")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {keys[0]}")

    response = client.post("/api/auth/token/revoke-all/")

    assert response.status_code == 200
    assert response.json() == {"revoked": 3}
    assert [_me(key) for key in keys] == [401, 401, 401]
    assert _me(strangers_key) == 200


def test_the_token_answer_is_never_cached(follower):
    granted = _login()
    refused = APIClient().post("/api/auth/token/", {"username": "follower", "password": "wrong"}, format="json")

    assert (granted.status_code, refused.status_code) == (200, 400)
    assert granted["Cache-Control"] == "no-store"
    assert refused["Cache-Control"] == "no-store"


def test_the_tokens_page_shows_expiry_and_revokes_all(follower):
    token, key = api_token_create(user=follower, name="bot one")
    api_token_create(user=follower, name="bot two")
    expired, _ = api_token_create(user=follower, name="bot old")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    browser = Client()
    browser.force_login(follower)

    page = browser.get("/settings/tokens/").content.decode()
    revoked = browser.post("/settings/tokens/revoke-all/", follow=True)

    assert f"{token.expires_at:%-d %b %Y}" in page
    assert "Expired" in page
    assert "Revoke all tokens" in page
    assert revoked.status_code == 200
    assert "Revoked 2 tokens" in revoked.content.decode()
    assert _me(key) == 401
    assert ApiToken.objects.get(pk=expired.pk).revoked_at is None  # it had ended already
