"""Bybit accounts are connected as Binance's are: the key is checked with the exchange (the
simulator's Bybit v5 side) before anything is saved, through the API and the settings page."""

import pytest

from exchanges.models import ConnectableExchange, ExchangeAccount
from tests.web.support import make_member

pytestmark = pytest.mark.django_db

URL = "/api/exchange-accounts/"
PAGE = "/settings/exchange-accounts/"


@pytest.fixture
def bybit_credentials(simulated_bybit):
    created = simulated_bybit.create_account(balances={"USDT": "5000"})
    return {"api_key": created["api_key"], "api_secret": created["api_secret"]}


@pytest.fixture
def signed_in(client):
    client.force_login(make_member("bea", "Bea"))
    return client


def test_the_api_connects_a_bybit_account_once_bybit_accepted_the_key(client_for, follower, bybit_credentials):
    payload = {"exchange_id": "bybit", "label": "Bybit main", **bybit_credentials}

    response = client_for(follower).post(URL, payload, format="json")

    assert response.status_code == 201, response.json()
    account = ExchangeAccount.objects.get(id=response.json()["id"])
    assert (account.exchange_id, account.api_key) == ("bybit", bybit_credentials["api_key"])
    assert account.last_verified_at is not None


def test_the_api_refuses_a_key_bybit_refuses_in_words_and_stores_nothing(client_for, follower, simulated_bybit):
    payload = {"exchange_id": "bybit", "label": "Wrong", "api_key": "not-a-bybit-key", "api_secret": "nope-nope"}

    response = client_for(follower).post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["reason"] == "invalid_credentials"
    assert response.json()["message"] == "The exchange refused this API key: check key, secret and trading permission."
    assert "10003" not in response.content.decode() and "nope-nope" not in response.content.decode()
    assert not ExchangeAccount.objects.exists()


def test_the_api_answers_503_and_stores_nothing_while_bybit_does_not_answer(client_for, follower, bybit_credentials, simulated_bybit):
    simulated_bybit.set_faults(rates={"5xx": 1.0}, match=["GET /v5/account/wallet-balance"])

    response = client_for(follower).post(URL, {"exchange_id": "bybit", "label": "Later", **bybit_credentials}, format="json")

    assert response.status_code == 503
    assert not ExchangeAccount.objects.exists()


def test_the_settings_page_offers_bybit_and_connects_it_after_checking_the_key(signed_in, bybit_credentials):
    assert ("bybit", "Bybit") in ConnectableExchange.choices
    assert '<option value="bybit">Bybit</option>' in signed_in.get(PAGE).content.decode()

    response = signed_in.post(PAGE, {"kind": "exchange", "label": "Bybit", "exchange_id": "bybit", **bybit_credentials}, follow=True)

    assert "“Bybit” connected: the exchange accepted the key." in response.content.decode()
    assert ExchangeAccount.objects.get(label="Bybit").exchange_id == "bybit"


def test_the_settings_page_says_in_words_when_bybit_refuses_the_key(signed_in, simulated_bybit):
    response = signed_in.post(
        PAGE, {"kind": "exchange", "label": "Wrong", "exchange_id": "bybit", "api_key": "not-a-key", "api_secret": "wrong-secret-123"}
    )

    assert response.status_code == 400
    assert "The exchange refused this API key: check key, secret and trading permission." in response.content.decode()
    assert not ExchangeAccount.objects.exists()
