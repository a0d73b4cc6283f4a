"""Two-factor sign-in (allauth.mfa): the API's token login asks for the code, the admin's
password-only login sends such an account to the site's sign-in, staff without a second factor
are kept out of the admin where STAFF_REQUIRE_MFA says so, and sensitive actions ask again."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import ApiToken
from tests.factories import password_of
from tests.second_factor import totp_code, totp_turn_on

pytestmark = pytest.mark.django_db


def _token_login(**extra):
    return APIClient().post("/api/auth/token/", {"username": "follower", "password": password_of("follower"), **extra}, format="json")


def test_the_api_login_of_an_account_with_two_factor_sign_in_asks_for_the_code(follower):
    totp_turn_on(follower)

    response = _token_login()

    assert response.status_code == 400
    assert "two-factor sign-in" in response.json()["message"]
    assert response.json()["extra"] == {"code": ["required"]}
    assert not ApiToken.objects.filter(user=follower).exists()


def test_the_api_login_refuses_a_wrong_code_and_accepts_the_current_one(follower):
    secret, _ = totp_turn_on(follower)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"

    assert _token_login(code=wrong).status_code == 400
    response = _token_login(code=totp_code(secret))

    assert response.status_code == 200
    assert response.json()["token"].startswith("ct_")


def test_a_totp_code_counts_once_at_the_api_login(follower):
    secret, _ = totp_turn_on(follower)
    code = totp_code(secret)

    assert _token_login(code=code).status_code == 200
    assert _token_login(code=code).status_code == 400


def test_a_recovery_code_signs_in_once(follower):
    _, recovery = totp_turn_on(follower)

    assert _token_login(code=recovery[0]).status_code == 200
    assert _token_login(code=recovery[0]).status_code == 400


def test_an_account_without_two_factor_signs_in_with_its_password_alone(follower):
    assert _token_login().status_code == 200


def test_the_admin_login_sends_a_staff_member_with_two_factor_to_the_sign_in_that_asks_for_it(staff):
    totp_turn_on(staff)
    client = Client()

    response = client.post("/admin/login/?next=/admin/", {"username": "staff", "password": password_of("staff")})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=%2Fadmin%2F")
    assert client.get("/admin/").status_code == 302  # signed out again: the password alone opened nothing


def test_with_staff_require_mfa_the_admin_sends_staff_without_an_authenticator_to_set_one_up(staff, settings):
    settings.STAFF_REQUIRE_MFA = True
    client = Client()
    client.force_login(staff)

    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[0] == ("/accounts/2fa/totp/activate/", 302)
    assert "staff must sign in with a second factor" in response.content.decode()


def test_with_staff_require_mfa_staff_with_an_authenticator_open_the_admin(staff, settings):
    settings.STAFF_REQUIRE_MFA = True
    totp_turn_on(staff)
    client = Client()
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200


def test_without_staff_require_mfa_the_admin_opens_as_before(staff, settings):
    settings.STAFF_REQUIRE_MFA = False
    client = Client()
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200


def test_creating_a_token_on_the_page_asks_for_the_code_again(follower):
    totp_turn_on(follower)
    client = Client()
    client.force_login(follower)

    page = client.get("/settings/tokens/")
    created = client.post("/settings/tokens/", {"name": "bot"})

    assert "Confirm with your authenticator" in page.content.decode()
    assert created.status_code == 302
    assert created["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fsettings%2Ftokens%2F"
    assert not ApiToken.objects.filter(user=follower).exists()


def test_after_confirming_with_a_code_the_token_is_created(follower):
    secret, _ = totp_turn_on(follower)
    client = Client()
    client.force_login(follower)

    confirmed = client.post("/accounts/2fa/reauthenticate/?next=/settings/tokens/", {"code": totp_code(secret)})
    created = client.post("/settings/tokens/", {"name": "bot"})

    assert confirmed.status_code == 302 and confirmed["Location"] == "/settings/tokens/"
    assert created.status_code == 200
    assert ApiToken.objects.filter(user=follower, name="bot").exists()


def test_connecting_an_exchange_key_asks_for_the_code_again(follower):
    totp_turn_on(follower)
    client = Client()
    client.force_login(follower)

    response = client.post("/settings/exchange-accounts/", {"kind": "exchange", "label": "main", "exchange_id": "binance"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/")


def test_the_api_asks_for_the_code_to_connect_an_exchange_key(follower, client_for):
    totp_turn_on(follower)

    response = client_for(follower).post(
        "/api/exchange-accounts/", {"exchange_id": "binance", "label": "main", "api_key": "k", "api_secret": "s"}, format="json"
    )

    assert response.status_code == 400
    assert "connect an exchange key" in response.json()["message"]


def test_a_paper_account_needs_no_code(follower, client_for):
    totp_turn_on(follower)

    response = client_for(follower).post("/api/exchange-accounts/", {"exchange_id": "paper", "label": "practice"}, format="json")

    assert response.status_code == 201
