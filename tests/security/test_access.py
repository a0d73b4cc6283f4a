"""Tokens, throttled logins, the admin's staff login, security headers and `check --deploy`."""

import os
import re
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from core.models import ApiToken

pytestmark = pytest.mark.django_db

PASSWORD = "follower-pass-123"  # tests/conftest.py: every fixed user's password is "<username>-pass-123"


def _login(client, username: str, password: str):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json")


# --- API tokens ------------------------------------------------------------------------


def test_a_revoked_token_gets_401(follower):
    token = _login(APIClient(), "follower", PASSWORD).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/auth/me/").status_code == 200

    revoked = client.post("/api/auth/token/revoke/")

    assert revoked.status_code == 204
    after = client.get("/api/auth/me/")
    assert after.status_code == 401
    assert set(after.json()) == {"message", "extra"}
    assert ApiToken.objects.get(prefix=token[:8]).revoked_at is not None


def test_logging_in_after_a_revocation_gives_a_new_token(follower):
    first = _login(APIClient(), "follower", PASSWORD).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    client.post("/api/auth/token/revoke/")

    second = _login(APIClient(), "follower", PASSWORD).json()["token"]

    assert second != first
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/auth/me/").status_code == 200


def test_a_wrong_password_gets_no_token_and_a_400(follower):
    response = _login(APIClient(), "follower", "not-the-password")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


# --- Throttled logins --------------------------------------------------------------------


def auth_rate(settings, rate: str) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth": rate}}


def test_the_login_endpoint_answers_429_after_the_auth_rate(follower, settings):
    auth_rate(settings, "3/min")
    client = APIClient()

    answers = [_login(client, "follower", "guess-%d" % attempt).status_code for attempt in range(3)]
    throttled = _login(client, "follower", PASSWORD)

    assert answers == [400, 400, 400]
    assert throttled.status_code == 429
    assert set(throttled.json()) == {"message", "extra"}
    assert "token" not in throttled.json()
    assert int(throttled.headers["Retry-After"]) > 0


def test_the_admin_login_answers_429_after_the_auth_rate(follower, settings):
    auth_rate(settings, "2/min")
    client = Client()

    answers = [client.post("/admin/login/", {"username": "follower", "password": f"guess-{n}"}).status_code for n in range(2)]
    throttled = client.post("/admin/login/", {"username": "follower", "password": PASSWORD})

    assert answers == [200, 200]  # the form again, with its error
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert client.get("/admin/login/").status_code == 200  # showing the form is not an attempt


def test_the_auth_scope_has_a_finite_rate_in_every_environment():
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"] == "10/min"


# --- Admin -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "follower"])
def test_the_admin_sends_anyone_but_staff_to_its_login(who, follower):
    client = Client()
    if who == "follower":
        client.force_login(follower)

    response = client.get("/admin/")
    changelist = client.get("/admin/exchanges/exchangeaccount/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert changelist.status_code == 302
    assert changelist["Location"].startswith("/admin/login/")


def test_a_non_staff_user_cannot_log_in_to_the_admin(follower):
    response = Client().post("/admin/login/?next=/admin/", {"username": "follower", "password": PASSWORD})

    assert response.status_code == 200  # the login form again, with its error
    assert b"staff account" in response.content


def test_staff_reach_the_admin(staff):
    client = Client()
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200


# --- Security headers ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/auth/me/", "/healthz", "/admin/login/"])
def test_responses_carry_the_security_headers(path, follower):
    client = APIClient()
    client.force_authenticate(follower)

    response = client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def _production_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "TEST_", "SECRET_KEY", "FIELD_ENCRYPTION"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="a" * 10 + "-production-like-secret-key-for-the-deploy-check-0123456789",
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="copytrade.example.com,testserver",
    )
    return env


@pytest.mark.slow  # a Django process under production settings
def test_check_deploy_is_clean_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not re.search(r"security\.W\d+", output), output
    assert "no issues" in output


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_settings_refuse_to_start_without_their_secrets(missing):
    env = _production_env()
    del env[missing]

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert f"{missing} must be set in production" in result.stderr


PRODUCTION_REQUEST = """
from django.test import Client
response = Client().get("/api/auth/me/", secure=True)
print(response.status_code)
for name in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
    print(f"{name}: {response.get(name)}")
insecure = Client().get("/api/auth/me/")
print(f"http: {insecure.status_code} {insecure.get('Location')}")
from django.conf import settings
print(f"secure cookies: {settings.SESSION_COOKIE_SECURE} {settings.CSRF_COOKIE_SECURE}")
"""


@pytest.mark.slow  # a web process under production settings
def test_production_answers_https_with_hsts_and_redirects_plain_http():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + PRODUCTION_REQUEST],
        cwd=settings.BASE_DIR,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "401"  # anonymous, over https
    assert "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload" in lines
    assert "X-Content-Type-Options: nosniff" in lines
    assert "X-Frame-Options: DENY" in lines
    assert "Referrer-Policy: same-origin" in lines
    assert "http: 301 https://testserver/api/auth/me/" in lines
    assert "secure cookies: True True" in lines
