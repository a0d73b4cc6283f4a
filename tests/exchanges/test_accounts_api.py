import logging
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from copytrade.models import Copy, Strategy
from exchanges.models import ExchangeAccount, PaperBalance

URL = "/api/exchange-accounts/"


def _raw_credentials(account_id: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret FROM exchanges_exchangeaccount WHERE id = %s", [account_id])
        return cursor.fetchone()


@pytest.fixture
def binance_credentials(simulated_binance):
    return simulated_binance.create_account(balances={"USDT": "5000"})


@pytest.fixture
def paper_account(follower):
    return ExchangeAccount.objects.create(owner=follower, exchange_id="paper", label="Paper")


@pytest.mark.django_db
def test_it_opens_a_paper_account_funded_with_10000_usdt_by_default(client_for, follower):
    response = client_for(follower).post(URL, {"exchange_id": "paper", "label": "My paper"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["is_paper"] is True
    assert body["paper_balances"] == [{"currency": "USDT", "free": "10000.000000000000", "locked": "0.000000000000"}]
    assert PaperBalance.objects.get(account_id=body["id"]).free == Decimal("10000")


@pytest.mark.django_db
def test_it_opens_a_paper_account_with_the_starting_balance_asked_for(client_for, follower):
    response = client_for(follower).post(
        URL, {"exchange_id": "paper", "label": "p", "starting_balance": {"usdt": "2500.5", "BTC": 0.1}}, format="json"
    )

    assert response.status_code == 201
    balances = dict(PaperBalance.objects.filter(account_id=response.json()["id"]).values_list("currency", "free"))
    assert balances == {"USDT": Decimal("2500.5"), "BTC": Decimal("0.1")}


@pytest.mark.django_db
def test_it_connects_a_real_account_once_the_exchange_accepted_the_credentials(client_for, follower, binance_credentials, caplog):
    caplog.set_level(logging.DEBUG)
    key, secret = binance_credentials["api_key"], binance_credentials["api_secret"]

    response = client_for(follower).post(
        URL, {"exchange_id": "binance", "label": "Main", "api_key": key, "api_secret": secret}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["api_key_set"] is True and body["api_secret_set"] is True and body["api_passphrase_set"] is False
    assert body["last_verified_at"] is not None
    assert key not in response.content.decode() and secret not in response.content.decode()
    raw_key, raw_secret = _raw_credentials(body["id"])
    assert key not in raw_key and secret not in raw_secret
    assert ExchangeAccount.objects.get(id=body["id"]).api_secret == secret
    assert secret not in caplog.text and key not in caplog.text


@pytest.mark.django_db
def test_it_refuses_credentials_the_exchange_rejects_with_its_reason_and_stores_nothing(client_for, follower, simulated_binance):
    response = client_for(follower).post(
        URL, {"exchange_id": "binance", "label": "Main", "api_key": "not-a-real-key", "api_secret": "nope-nope"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["extra"]["reason"] == "invalid_credentials"
    assert response.json()["message"] == "The exchange refused this API key: check key, secret and trading permission."
    assert "AuthenticationError" not in response.content.decode() and "-2015" not in response.content.decode()
    assert "nope-nope" not in response.content.decode()
    assert not ExchangeAccount.objects.exists()


@pytest.mark.django_db
def test_it_answers_503_and_stores_nothing_when_the_exchange_is_unavailable(client_for, follower, binance_credentials, simulated_binance):
    simulated_binance.set_faults(rates={"5xx": 1.0}, match=["GET /api/v3/account"])

    response = client_for(follower).post(
        URL,
        {
            "exchange_id": "binance",
            "label": "Main",
            "api_key": binance_credentials["api_key"],
            "api_secret": binance_credentials["api_secret"],
        },
        format="json",
    )

    assert response.status_code == 503
    assert "try again" in response.json()["message"].lower()
    assert not ExchangeAccount.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"exchange_id": "not-an-exchange", "label": "x", "api_key": "k", "api_secret": "s"},
        {"exchange_id": "binance", "label": "x", "api_key": "", "api_secret": "s"},
        {"exchange_id": "binance", "label": "x", "api_key": "k"},
        {"exchange_id": "binance", "label": "x", "api_key": "k" * 513, "api_secret": "s"},
        {"exchange_id": "binance", "label": "x", "api_key": "k", "api_secret": "has space"},
        {"exchange_id": "binance", "label": "x", "api_key": "k\n", "api_secret": "s"},
        {"exchange_id": "binance", "label": "x", "api_key": "k\x07", "api_secret": "s"},
        {"exchange_id": "binance", "label": "x", "api_key": "k", "api_secret": "s", "api_passphrase": "p\tq"},
        {"exchange_id": "binance", "label": "x", "api_key": "k", "api_secret": "s", "starting_balance": {"USDT": "1"}},
        {"exchange_id": "binance", "label": "x" * 101, "api_key": "k", "api_secret": "s"},
        {"exchange_id": "b" * 33, "label": "x"},
        {"exchange_id": "paper"},
        {"exchange_id": "paper", "label": ""},
        {"exchange_id": "paper", "label": "x", "api_key": "k"},
        {"exchange_id": "paper", "label": "x", "sandbox": True},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": "NaN"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": "Infinity"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": "-5"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": "0"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": "ten"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": "1e40"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {"US DT": "10"}},
        {"exchange_id": "paper", "label": "x", "starting_balance": {}},
        {"exchange_id": "paper", "label": "x", "starting_balance": ["USDT", 10]},
        {"exchange_id": ["paper"], "label": "x"},
        # No URL of any kind is accepted from users (no SSRF through ccxt).
        {"exchange_id": "binance", "label": "x", "api_key": "k", "api_secret": "s", "urls": {"api": "http://169.254.169.254"}},
        {"exchange_id": "paper", "label": "x", "hostname": "evil.invalid"},
    ],
)
def test_it_refuses_bad_input_with_400_and_stores_nothing(client_for, follower, payload):
    response = client_for(follower).post(URL, payload, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["message"]
    assert not ExchangeAccount.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_json_nan_literal_with_400(client_for, follower):
    response = client_for(follower).post(
        URL, b'{"exchange_id": "paper", "label": "x", "starting_balance": {"USDT": NaN}}', content_type="application/json"
    )

    assert response.status_code == 400
    assert not ExchangeAccount.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_second_account_with_the_same_label(client_for, follower, paper_account):
    response = client_for(follower).post(URL, {"exchange_id": "paper", "label": "Paper"}, format="json")

    assert response.status_code == 400
    assert ExchangeAccount.objects.count() == 1


@pytest.mark.django_db
def test_a_user_lists_and_reads_only_their_own_accounts(client_for, follower, stranger, paper_account):
    theirs = ExchangeAccount.objects.create(owner=stranger, exchange_id="paper", label="Theirs")

    listed = client_for(follower).get(URL).json()

    assert [account["id"] for account in listed["results"]] == [paper_account.id]
    assert client_for(follower).get(f"{URL}{paper_account.id}/").status_code == 200
    assert client_for(follower).get(f"{URL}{theirs.id}/").status_code == 404
    assert client_for(follower).delete(f"{URL}{theirs.id}/").status_code == 404
    assert ExchangeAccount.objects.filter(id=theirs.id).exists()


@pytest.mark.django_db
def test_no_response_ever_carries_a_credential(client_for, follower, binance_credentials):
    account = ExchangeAccount.objects.create(
        owner=follower,
        exchange_id="binance",
        label="Main",
        api_key=binance_credentials["api_key"],
        api_secret=binance_credentials["api_secret"],
    )
    client = client_for(follower)

    for response in (client.get(URL), client.get(f"{URL}{account.id}/")):
        assert response.status_code == 200
        assert binance_credentials["api_key"] not in response.content.decode()
        assert binance_credentials["api_secret"] not in response.content.decode()


@pytest.mark.django_db
def test_the_admin_page_shows_whether_credentials_are_set_but_never_the_credentials(staff, follower):
    staff.is_superuser = True
    staff.save()
    account = ExchangeAccount.objects.create(
        owner=follower, exchange_id="binance", label="Main", api_key="visible-key-123", api_secret="visible-secret-456"
    )
    client = Client()
    client.force_login(staff)

    pages = [client.get("/admin/exchanges/exchangeaccount/"), client.get(f"/admin/exchanges/exchangeaccount/{account.id}/change/")]

    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "visible-key-123" not in html and "visible-secret-456" not in html
    assert "not set" in pages[1].content.decode() and ">set<" in pages[1].content.decode()


@pytest.mark.django_db
def test_an_unused_account_is_deleted(client_for, follower, paper_account):
    response = client_for(follower).delete(f"{URL}{paper_account.id}/")

    assert response.status_code == 204
    assert not ExchangeAccount.objects.filter(id=paper_account.id).exists()


@pytest.mark.django_db
def test_an_account_a_live_copy_uses_is_not_deleted(client_for, follower, owner, paper_account):
    strategy = Strategy.objects.create(owner=owner, name="S", declared_capital=1000, is_public_leader=True)
    Copy.objects.create(
        follower=follower, strategy=strategy, exchange_account=paper_account, allocation_percent=10, started_at="2026-01-01T00:00:00Z"
    )

    response = client_for(follower).delete(f"{URL}{paper_account.id}/")

    assert response.status_code == 409
    assert "live copy" in response.json()["message"]
    assert ExchangeAccount.objects.filter(id=paper_account.id).exists()


@pytest.mark.django_db
def test_an_account_leading_a_strategy_is_not_deleted(client_for, follower, paper_account):
    Strategy.objects.create(owner=follower, name="Mine", leader_account=paper_account)

    response = client_for(follower).delete(f"{URL}{paper_account.id}/")

    assert response.status_code == 409
    assert ExchangeAccount.objects.filter(id=paper_account.id).exists()


@pytest.mark.django_db
def test_an_account_shows_its_equity_and_free_cash_as_read_through_its_gateway_and_when(
    client_for, follower, binance_credentials, simulated_binance
):
    # given a connected account holding 5,000 USDT and 0.1 BTC at 60,000
    simulated_binance.set_price(symbol="BTC/USDT", price="60000")
    key, secret = binance_credentials["api_key"], binance_credentials["api_secret"]
    simulated_binance.set_balances(api_key=key, balances={"USDT": "5000", "BTC": "0.1"})
    account_id = (
        client_for(follower)
        .post(URL, {"exchange_id": "binance", "label": "Main", "api_key": key, "api_secret": secret}, format="json")
        .json()["id"]
    )

    # when the list is read twice, the BTC sold in between
    first = client_for(follower).get(URL).json()["results"][0]["reading"]
    simulated_binance.set_balances(api_key=key, balances={"USDT": "5000", "BTC": "0"})
    again = client_for(follower).get(f"{URL}{account_id}/").json()["reading"]

    # then equity is cash plus holdings at the last price, and the second read is the cached one, with its time
    assert (first["quote"], first["equity"], first["free"], first["problem"]) == ("USDT", "11000.00", "5000.00", "")
    assert again == first and first["read_at"]


@pytest.mark.django_db
def test_an_account_whose_key_is_refused_says_so_in_words(client_for, follower, binance_credentials, simulated_binance, settings):
    settings.EXCHANGE_ACCOUNT_READING_SECONDS = 0  # read afresh: the key is revoked after it was connected
    key, secret = binance_credentials["api_key"], binance_credentials["api_secret"]
    client_for(follower).post(URL, {"exchange_id": "binance", "label": "Main", "api_key": key, "api_secret": secret}, format="json")
    simulated_binance.delete_account(api_key=key)

    reading = client_for(follower).get(URL).json()["results"][0]["reading"]
    page = client_for(follower).get("/settings/exchange-accounts/")

    assert reading["equity"] is None
    assert reading["problem"] == "the exchange refused this API key: check key, secret and trading permission"
    assert "AuthenticationError" not in page.content.decode() and "-2015" not in page.content.decode()
