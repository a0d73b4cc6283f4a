"""Issue 18, item 1: per-client limits count by the address the trusted proxies saw.

`NUM_PROXIES` proxies append to X-Forwarded-For; the client is that many entries from the
right. Anything the client wrote itself (the entries further left, or the whole header
when nothing is trusted) must not give it a fresh budget.
"""

import pytest
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from core.throttling import client_ip
from web.adapters import AccountAdapter

pytestmark = pytest.mark.django_db

PASSWORD = "follower-pass-123"


def auth_rate(settings, rate: str) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth": rate}}


def _api_login(password: str, forwarded_for: str):
    return APIClient().post(
        "/api/auth/token/", {"username": "follower", "password": password}, format="json", HTTP_X_FORWARDED_FOR=forwarded_for
    )


@pytest.mark.parametrize(
    ("num_proxies", "forwarded_for", "expected"),
    [
        (0, "198.51.100.1", "127.0.0.1"),
        (0, None, "127.0.0.1"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (1, "203.0.113.7", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),
        (1, None, "127.0.0.1"),
    ],
)
def test_the_client_is_the_entry_the_trusted_proxies_wrote(settings, num_proxies, forwarded_for, expected):
    settings.NUM_PROXIES = num_proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", **extra)

    assert client_ip(request) == expected
    assert AccountAdapter().get_client_ip(request) == expected


def test_a_new_x_forwarded_for_per_guess_does_not_escape_the_login_throttle(follower, settings):
    auth_rate(settings, "10/min")

    answers = [_api_login(f"guess-{n}", f"198.51.100.{n}").status_code for n in range(30)]
    right_password = _api_login(PASSWORD, "192.0.2.1")

    assert answers == [400] * 10 + [429] * 20
    assert right_password.status_code == 429
    assert "token" not in right_password.json()


def test_the_admin_login_shares_the_budget_and_ignores_the_header(follower, settings):
    auth_rate(settings, "3/min")
    client = Client()

    api = [_api_login(f"guess-{n}", f"198.51.100.{n}").status_code for n in range(2)]
    admin = [
        client.post("/admin/login/", {"username": "follower", "password": f"guess-{n}"}, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(2)
    ]

    assert api == [400, 400]
    assert admin == [200, 429]  # the third attempt from this address, whichever door


def test_behind_one_proxy_the_client_part_of_the_header_is_ignored_and_clients_are_told_apart(follower, settings):
    settings.NUM_PROXIES = 1
    auth_rate(settings, "3/min")

    spoofing = [_api_login(f"guess-{n}", f"6.6.6.{n}, 203.0.113.7").status_code for n in range(5)]
    someone_else = _api_login(PASSWORD, "203.0.113.8")

    assert spoofing == [400, 400, 400, 429, 429]
    assert someone_else.status_code == 200


def test_allauth_counts_its_login_limit_per_client_behind_the_proxy(settings):
    settings.NUM_PROXIES = 1
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip"}
    client = Client()

    def login(n: int, address: str) -> int:
        data = {"login": f"nobody{n}@example.com", "password": "wrong-password"}
        return client.post("/accounts/login/", data, HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, {address}").status_code

    first_client = [login(n, "203.0.113.7") for n in range(3)]
    second_client = login(9, "203.0.113.8")

    assert first_client[2] == 429
    assert 429 not in first_client[:2]
    assert second_client != 429
