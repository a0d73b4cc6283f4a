"""Issue 32, items 7 and 12: signing up and signing in do the same work for an address that
has an account as for one that has none (the time is the password hashes; this counts
them: `manage.py bench_auth_timing` measures the time itself), and password attempts on
one account share one budget whichever door they use."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import MD5PasswordHasher
from rest_framework.test import APIClient

from tests.factories import make_user, password_of

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


@pytest.fixture
def hashes(monkeypatch) -> list[int]:
    """How many password hashes were computed (the test settings' hasher)."""
    computed = []
    real_encode = MD5PasswordHasher.encode

    def encode(self, password, salt):
        computed.append(1)
        return real_encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", encode)
    return computed


def _hashes_for(hashes: list[int], action) -> int:
    before = len(hashes)
    action()
    return len(hashes) - before


@pytest.fixture
def member(db):
    user = make_user("member", email="member@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_a_sign_up_with_a_taken_address_hashes_the_password_as_a_new_one_does(client, member, hashes):
    def sign_up(email):
        def post():
            response = client.post(
                "/accounts/signup/", {"email": email, "display_name": f"Name {email[:4]}", "password1": PASSWORD, "password2": PASSWORD}
            )
            assert response.status_code == 302

        return post

    new = _hashes_for(hashes, sign_up("newcomer@example.com"))
    client.logout()
    taken = _hashes_for(hashes, sign_up("member@example.com"))

    assert new >= 1
    assert taken == new


@pytest.mark.parametrize("login", ["member@example.com", "member"])
def test_a_web_sign_in_hashes_as_often_for_an_account_as_for_no_account(client, member, hashes, login):
    def sign_in(login):
        return lambda: client.post("/accounts/login/", {"login": login, "password": "wrong-password-1"})

    existing = _hashes_for(hashes, sign_in(login))
    unknown = _hashes_for(hashes, sign_in("nobody@example.com" if "@" in login else "nobody"))

    assert existing == unknown == 1


@pytest.mark.parametrize("login", ["member@example.com", "member"])
def test_an_api_sign_in_hashes_as_often_for_an_account_as_for_no_account(member, hashes, login):
    def obtain(login):
        return lambda: APIClient().post("/api/auth/token/", {"username": login, "password": "wrong-password-1"}, format="json")

    existing = _hashes_for(hashes, obtain(login))
    unknown = _hashes_for(hashes, obtain("nobody@example.com" if "@" in login else "nobody"))

    assert existing == unknown == 1


def test_password_attempts_on_one_account_share_one_budget_across_the_api_the_web_and_admin(client, settings, hashes):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "auth": "1000/min", "auth_account": "3/min"}}
    staff = make_user("operator", is_staff=True, email="operator@example.com")
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    bystander = make_user("bystander")

    api = APIClient().post("/api/auth/token/", {"username": "operator", "password": "guess-1"}, format="json")
    web = client.post("/accounts/login/", {"login": "operator@example.com", "password": "guess-2"})
    admin = client.post("/admin/login/", {"username": "operator", "password": "guess-3"})
    hashes_before = len(hashes)
    right_password = client.post("/admin/login/?next=/admin/", {"username": "operator", "password": password_of("operator")})
    refused_hashes = len(hashes) - hashes_before
    someone_else = APIClient().post("/api/auth/token/", {"username": "bystander", "password": password_of("bystander")}, format="json")

    assert api.status_code == 400
    assert web.status_code == 200 and admin.status_code == 200  # the forms again, with the error
    assert right_password.status_code == 200
    assert "_auth_user_id" not in client.session
    assert refused_hashes == 1  # the refusal takes as long as a check
    assert someone_else.status_code == 200
    assert bystander.pk
