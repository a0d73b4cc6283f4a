"""Issue 18, items 8 and 10: rate limits hold under parallel requests, signals are limited
per strategy whichever way they come, unauthenticated webhook traffic is limited per
client, and an unknown strategy id is answered as an unauthorised one."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from copytrade.models import LeaderTrade
from tests.copytrade import post_webhook, record_fan_outs, sign, signal_only_strategy, webhook_body


def set_rate(settings, scope: str, rate: str) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, scope: rate}}


def in_parallel(call, count: int) -> list:
    def run(index):
        try:
            return call(index)
        finally:
            connection.close()  # each thread's own connection

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.django_db
def test_parallel_password_guesses_get_exactly_the_auth_rate_through(follower, settings):
    set_rate(settings, "auth", "10/min")

    def guess(index):
        return APIClient().post("/api/auth/token/", {"username": "follower", "password": f"guess-{index}"}, format="json").status_code

    answers = in_parallel(guess, 64)

    assert sorted(answers) == [400] * 10 + [429] * 54


@pytest.mark.django_db(transaction=True)
def test_parallel_signed_signals_get_exactly_the_strategy_rate_through(owner, simulated_binance, settings, monkeypatch):
    record_fan_outs(monkeypatch)
    set_rate(settings, "webhook", "5/min")
    strategy = signal_only_strategy(owner)

    def signal(index):
        body = webhook_body(strategy, external_id=f"p-{index}", amount="0.01", price="65000")
        return post_webhook(APIClient(), body, secret=strategy.webhook_secret).status_code

    answers = in_parallel(signal, 20)

    assert sorted(answers) == [201] * 5 + [429] * 15
    assert LeaderTrade.objects.filter(strategy=strategy).count() == 5


@pytest.fixture
def strategy(owner, simulated_binance, monkeypatch):
    record_fan_outs(monkeypatch)
    return signal_only_strategy(owner)


@pytest.mark.django_db
def test_rest_and_webhook_signals_share_the_strategy_budget(client_for, api_client, owner, strategy, settings):
    set_rate(settings, "webhook", "3/min")
    rest = client_for(owner)

    def by_rest(index):
        signal = {"external_id": f"r-{index}", "symbol": "BTC/USDT", "action": "buy", "amount": "0.01", "price": "65000"}
        return rest.post(f"/api/strategies/{strategy.pk}/trades/", signal, format="json").status_code

    def by_webhook(index):
        body = webhook_body(strategy, external_id=f"w-{index}", amount="0.01", price="65000")
        return post_webhook(api_client, body, secret=strategy.webhook_secret).status_code

    answers = [by_rest(0), by_webhook(1), by_rest(2), by_rest(3), by_webhook(4)]

    assert answers == [201, 201, 201, 429, 429]


def from_address(client, body: bytes, secret: str, address: str):
    return client.post(
        "/webhook",
        data=body,
        content_type="application/json",
        HTTP_X_SIGNATURE=sign(body, secret),
        HTTP_X_FORWARDED_FOR=f"6.6.6.6, {address}",
    )


@pytest.mark.django_db
def test_unauthenticated_webhook_requests_are_limited_per_client(api_client, strategy, settings):
    settings.NUM_PROXIES = 1
    set_rate(settings, "webhook_unsigned", "3/min")

    def forged(address: str, index: int, **fields) -> int:
        body = webhook_body(strategy, external_id=f"f-{index}", amount="0.01", price="65000", **fields)
        return from_address(api_client, body, "wrong", address).status_code

    from_one = [forged("203.0.113.7", 0), forged("203.0.113.7", 1, strategy_id=999_999), forged("203.0.113.7", 2), forged("203.0.113.7", 3)]
    from_another = forged("203.0.113.8", 4)
    signed = from_address(
        api_client, webhook_body(strategy, external_id="ok", amount="0.01", price="65000"), strategy.webhook_secret, "203.0.113.7"
    )

    assert from_one == [401, 401, 401, 429]
    assert from_another == 401
    assert signed.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["wrong", None])
def test_an_unknown_strategy_id_is_answered_like_someone_elses(api_client, strategy, signature):
    unknown = webhook_body(strategy, amount="0.01", price="65000", strategy_id=strategy.pk + 1000)
    known = webhook_body(strategy, amount="0.01", price="65000")

    answers = [post_webhook(api_client, body, secret=signature).json() | {"status": None} for body in (unknown, known)]
    statuses = [post_webhook(api_client, body, secret=signature).status_code for body in (unknown, known)]

    assert statuses == [401, 401]
    assert answers[0] == answers[1]
