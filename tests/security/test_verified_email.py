"""Issue 32, item 2: only a verified address gets a way in. Someone who signs up with
another person's address gets no API token and can connect no exchange account, apply or
copy; a new password (changed or reset) ends every token the account had."""

import re
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from rest_framework.test import APIClient

from copytrade.models import Copy
from core.models import ApiToken
from core.tokens import api_token_create
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider
from tests.copytrade import paper_account, record_fan_outs, signal_only_strategy
from tests.factories import password_of

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"
NEW_PASSWORD = "another-long-unusual-passphrase-43"


def _sign_up(client, email="eve@example.com"):
    response = client.post("/accounts/signup/", {"email": email, "display_name": "Eve", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    return get_user_model().objects.get(email=email)


def _link(pattern: str) -> str:
    return re.search(rf"http://testserver({pattern}[^\s]+/)", mail.outbox[-1].body).group(1)


def _obtain(login: str, password: str = PASSWORD):
    return APIClient().post("/api/auth/token/", {"username": login, "password": password}, format="json")


def _me(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/auth/me/").status_code


def _unverified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    return user


def test_an_unverified_sign_up_gets_no_api_token_until_the_link_is_opened(client):
    user = _sign_up(client)

    refused = _obtain("eve@example.com")
    tokens_before = ApiToken.objects.filter(user=user).count()
    client.post(_link("/accounts/confirm-email/"))
    granted = _obtain("eve@example.com")

    assert refused.status_code == 403
    assert "Verify your email address before you create an API token" in refused.json()["message"]
    assert refused["Cache-Control"] == "no-store"
    assert tokens_before == 0
    assert granted.status_code == 200 and _me(granted.json()["token"]) == 200


def test_the_tokens_page_refuses_an_unverified_account_and_says_what_to_do(client, follower):
    _unverified(follower)
    client.force_login(follower)

    response = client.post("/settings/tokens/", {"name": "laptop"})

    assert response.status_code == 403
    assert "open the link in the mail we sent you" in response.content.decode()
    assert not ApiToken.objects.filter(user=follower).exists()


def test_an_unverified_account_cannot_connect_an_exchange_account_apply_or_copy(client_for, follower, owner):
    strategy = signal_only_strategy(owner)
    account = paper_account(follower)
    _unverified(follower)
    api = client_for(follower)

    connect = api.post("/api/exchange-accounts/", {"exchange_id": "paper", "label": "Mine"}, format="json")
    apply = api.post("/api/marketplace/apply", {"display_name": "Eve's signals"}, format="json")
    copy = api.post(
        "/api/copy-trading/start",
        {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": "10"},
        format="json",
    )

    assert [connect.status_code, apply.status_code, copy.status_code] == [403, 403, 403]
    assert "before you connect an exchange account" in connect.json()["message"]
    assert "before you apply as a signal provider" in apply.json()["message"]
    assert "before you copy a leader" in copy.json()["message"]
    assert ExchangeAccount.objects.filter(owner=follower).count() == 1
    assert not SignalProvider.objects.filter(user=follower).exists()
    assert not Copy.objects.filter(follower=follower).exists()


def test_a_verified_address_among_others_is_enough(client_for, follower, owner, simulated_binance, monkeypatch):
    record_fan_outs(monkeypatch)
    EmailAddress.objects.create(user=follower, email=follower.email, verified=True, primary=True)
    EmailAddress.objects.create(user=follower, email="second@example.com", verified=False)
    strategy = signal_only_strategy(owner)
    account = paper_account(follower)

    response = client_for(follower).post(
        "/api/copy-trading/start",
        {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": Decimal("10")},
        format="json",
    )

    assert response.status_code == 201


def test_changing_the_password_revokes_every_api_token(client, follower):
    keys = [api_token_create(user=follower, name=f"program {n}")[1] for n in range(2)]
    client.force_login(follower)

    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": password_of("follower"), "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert [_me(key) for key in keys] == [401, 401]
    assert not ApiToken.objects.filter(user=follower, revoked_at__isnull=True).exists()


def test_resetting_the_password_revokes_every_api_token_of_that_account_only(client, follower, stranger):
    _, key = api_token_create(user=follower, name="program")
    _, strangers_key = api_token_create(user=stranger, name="theirs")

    client.post("/accounts/password/reset/", {"email": follower.email})
    reset_link = _link("/accounts/password/reset/key/")
    form_page = client.get(reset_link, follow=True)
    response = client.post(form_page.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 302
    assert _me(key) == 401
    assert _me(strangers_key) == 200


def test_the_tokens_page_says_a_new_password_ends_the_tokens(client, follower):
    EmailAddress.objects.create(user=follower, email=follower.email, verified=True, primary=True)
    client.force_login(follower)

    page = client.get("/settings/tokens/").content.decode()

    assert "Changing or resetting your password revokes every token" in page
