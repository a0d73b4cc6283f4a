"""POST /webhook: the Sparky-compatible signed signal endpoint."""

import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from copytrade.client_order_ids import leader_client_order_id
from copytrade.models import LeaderTrade, Strategy
from copytrade.services.strategies import strategy_create, strategy_update, strategy_webhook_secret_rotate
from devtools.simulator.client import SimulatorClient
from exchanges.gateways import gateway_for_account
from exchanges.gateways.ccxt_gateway import clear_caches
from tests.copytrade import (
    market_moves_to,
    paper_account,
    post_webhook,
    record_fan_outs,
    sign,
    signal_only_strategy,
    simulator_account,
    webhook_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fan_outs(monkeypatch):
    return record_fan_outs(monkeypatch)


@pytest.fixture
def strategy(owner, simulated_binance):
    return signal_only_strategy(owner)


def _assert_nothing_recorded(fan_outs):
    assert LeaderTrade.objects.count() == 0
    assert fan_outs == []


def test_it_records_a_signed_signal_as_one_leader_trade_and_fans_it_out_once(
    api_client, strategy, fan_outs, django_capture_on_commit_callbacks
):
    body = webhook_body(strategy, amount="0.01", price="65000")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    trade = LeaderTrade.objects.get()
    assert (trade.external_id, trade.sequence, trade.effect, trade.side) == ("sig-1", 1, "open", "buy")
    assert (trade.amount, trade.price, trade.notional) == (Decimal("0.01"), Decimal("65000"), Decimal("650"))
    assert trade.source == Strategy.Source.WEBHOOK
    assert trade.leader_equity == Decimal("10000")
    assert response.json()["leader_trade_id"] == trade.pk
    assert response.json()["duplicate"] is False
    assert fan_outs == [trade.pk]


def test_it_sizes_a_signal_given_in_usd_at_the_signal_price(api_client, strategy, fan_outs):
    body = webhook_body(strategy, position_size_usd="1300", price="65000")

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    assert LeaderTrade.objects.get().amount == Decimal("0.02")


def test_it_accepts_an_iso_8601_timestamp(api_client, strategy, fan_outs):
    body = webhook_body(strategy, amount="0.01", price="65000", timestamp=datetime.now(UTC).isoformat())

    assert post_webhook(api_client, body, secret=strategy.webhook_secret).status_code == 201


def test_it_answers_a_duplicate_external_id_with_the_same_trade_and_no_second_fan_out(
    api_client, strategy, fan_outs, django_capture_on_commit_callbacks
):
    body = webhook_body(strategy, amount="0.01", price="65000")
    with django_capture_on_commit_callbacks(execute=True):
        first = post_webhook(api_client, body, secret=strategy.webhook_secret)
    resent = webhook_body(strategy, amount="0.02", price="64000")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = post_webhook(api_client, resent, secret=strategy.webhook_secret)

    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["leader_trade_id"] == first.json()["leader_trade_id"]
    assert LeaderTrade.objects.count() == 1
    assert callbacks == []
    assert fan_outs == [first.json()["leader_trade_id"]]


def test_it_refuses_a_bad_signature_with_401(api_client, strategy, fan_outs):
    body = webhook_body(strategy, amount="0.01", price="65000")

    response = post_webhook(api_client, body, signature=sign(body, "not-the-secret"))

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid webhook signature."
    _assert_nothing_recorded(fan_outs)


def test_it_refuses_a_signature_of_another_body_with_401(api_client, strategy, fan_outs):
    signed = webhook_body(strategy, amount="0.01", price="65000")
    tampered = webhook_body(strategy, amount="10", price="65000")

    response = post_webhook(api_client, tampered, signature=sign(signed, strategy.webhook_secret))

    assert response.status_code == 401
    _assert_nothing_recorded(fan_outs)


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "deadbeef", "sha256=zz"])
def test_it_refuses_a_missing_or_malformed_signature_with_401(api_client, strategy, fan_outs, header):
    body = webhook_body(strategy, amount="0.01", price="65000")

    response = post_webhook(api_client, body, signature=header)

    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}
    _assert_nothing_recorded(fan_outs)


def test_it_refuses_the_old_secret_once_it_was_rotated(api_client, strategy, owner, fan_outs):
    old_secret = strategy.webhook_secret
    strategy_webhook_secret_rotate(owner=owner, strategy_id=strategy.pk)
    body = webhook_body(strategy, amount="0.01", price="65000")

    response = post_webhook(api_client, body, secret=old_secret)

    assert response.status_code == 401
    _assert_nothing_recorded(fan_outs)


@pytest.mark.parametrize("age_seconds", [301, 3600, -301, -86400])
def test_it_refuses_a_stale_or_future_timestamp_with_401(api_client, strategy, fan_outs, age_seconds, monkeypatch):
    # The server's clock stands still at the second the body was dated from: on a loaded
    # machine the request could otherwise take the one second that -301 stands past the window.
    now = int(time.time())
    monkeypatch.setattr(timezone, "now", lambda: datetime.fromtimestamp(now, tz=UTC))
    body = webhook_body(strategy, amount="0.01", price="65000", timestamp=now - age_seconds)

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 401
    assert "timestamp" in response.json()["message"].lower()
    _assert_nothing_recorded(fan_outs)


def test_it_accepts_a_timestamp_just_inside_the_window(api_client, strategy, fan_outs):
    body = webhook_body(strategy, amount="0.01", price="65000", timestamp=int(time.time()) - 290)

    assert post_webhook(api_client, body, secret=strategy.webhook_secret).status_code == 201


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"a string"',
        b'{"strategy_id": 1, "amount": NaN}',
        b'{"strategy_id": 1, "amount": Infinity}',
        b"\xff\xfe",
    ],
)
def test_it_refuses_a_malformed_body_with_400(api_client, strategy, fan_outs, raw):
    response = post_webhook(api_client, raw, secret=strategy.webhook_secret)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    _assert_nothing_recorded(fan_outs)


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": "0.01", "price": "65000", "ammount": "1"},
        {"amount": "NaN", "price": "65000"},
        {"amount": "Infinity", "price": "65000"},
        {"amount": "-0.01", "price": "65000"},
        {"amount": "0", "price": "65000"},
        {"amount": 0, "price": "65000"},
        {"amount": "0.01", "price": "-1"},
        {"amount": "0.01", "price": "0"},
        {"position_size_usd": "-5", "price": "65000"},
        {"fraction": "1.5", "price": "65000"},
        {"fraction": "0", "price": "65000"},
        {"amount": "0.01", "fraction": "0.5", "price": "65000"},
        {"price": "65000"},
        {"amount": "abc", "price": "65000"},
        {"amount": "1e400", "price": "65000"},
        {"amount": "0.01", "price": "65000", "action": "hold"},
        {"amount": "0.01", "price": "65000", "action": "close"},
        {"amount": "0.01", "price": "65000", "external_id": "x" * 101},
        {"amount": "0.01", "price": "65000", "external_id": "has space"},
        {"amount": "0.01", "price": "65000", "external_id": ""},
        {"amount": "0.01", "price": "65000", "external_id": "abc:flip"},
        {"amount": "0.01", "price": "65000", "symbol": "B" * 51},
        {"amount": "0.01", "price": "65000", "symbol": ""},
        {"amount": "0.01", "price": "65000", "timestamp": "yesterday"},
        {"amount": "0.01", "price": "65000", "timestamp": True},
        {"amount": "0.01", "price": "65000", "timestamp": 10**20},
        {"amount": "0.01", "price": "65000", "timestamp": None},
        {"amount": "0.01", "price": "65000", "external_id": None},
        {"amount": ["0.01"], "price": "65000"},
        {"amount": {"value": 1}, "price": "65000"},
    ],
)
def test_it_refuses_an_invalid_signed_signal_with_400(api_client, strategy, fan_outs, fields):
    payload = json.loads(webhook_body(strategy))
    payload.update(fields)
    body = json.dumps(payload).encode()

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 400, response.json()
    assert set(response.json()) == {"message", "extra"}
    _assert_nothing_recorded(fan_outs)


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": "0.01", "ammount": "1"},
        {"fraction": "1.5"},
        {"amount": "0.01", "fraction": "0.5"},
        {"action": "close", "amount": "0.01"},
        {"action": "hold", "amount": "0.01"},
        {"amount": "0.01", "timestamp": "yesterday"},
        {"position_size_usd": "250", "price": "64000.5"},
    ],
)
def test_the_signal_serializer_reads_a_signal_as_the_parser_does(fields):
    from copytrade.apis import SignalInputSerializer, WebhookInputSerializer
    from copytrade.services.leader_trades import leader_signal_parse

    payload = {"external_id": "sig-1", "symbol": "BTC/USDT", "action": "buy", **fields}
    for serializer_class, extra in ((SignalInputSerializer, {}), (WebhookInputSerializer, {"strategy_id": 7})):
        serializer = serializer_class(data={**payload, **extra})
        try:
            parsed = leader_signal_parse({**payload, **extra}, extra_fields=tuple(extra))
        except ValidationError as exc:
            assert not serializer.is_valid()
            assert serializer.errors == {field: [message] for field, [message] in exc.message_dict.items()}
        else:
            assert serializer.is_valid(), serializer.errors
            assert serializer.validated_data == parsed


def test_it_refuses_a_signal_for_a_symbol_the_exchange_does_not_list_with_400(api_client, strategy, fan_outs):
    body = webhook_body(strategy, amount="1", price="1", symbol="NOPE/USDT")

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 400
    _assert_nothing_recorded(fan_outs)


def test_it_records_a_signal_without_a_price_at_the_markets_price_when_it_arrives(api_client, strategy, fan_outs):
    market_moves_to("68857.12")
    # A timestamp within the replay window but minutes old: the trade is dated on arrival.
    body = webhook_body(strategy, amount="0.01", timestamp=int(time.time()) - 240)

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    trade = LeaderTrade.objects.get()
    assert (trade.price, trade.declared_price, trade.notional) == (Decimal("68857.12"), None, Decimal("688.5712"))
    assert abs((trade.traded_at - timezone.now()).total_seconds()) < 60


def test_a_signal_is_recorded_at_the_price_the_exchange_gives_now_not_the_cached_one_copies_size_from(
    api_client, strategy, fan_outs, settings
):
    # given: the copies' ticker cache holds the price of a moment ago, and the market has moved
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 30
    market_moves_to("68857.12")
    from exchanges.gateways.ccxt_gateway import CcxtGateway

    price_source = CcxtGateway.public(settings.PAPER_PRICE_SOURCE)
    assert price_source.ticker_price("BTC/USDT") == Decimal("68857.12")  # now cached
    SimulatorClient(settings.EXCHANGE_URL_OVERRIDES["binance"]).set_price(symbol="BTC/USDT", price="69000.5")
    assert price_source.ticker_price("BTC/USDT") == Decimal("68857.12")  # what a copy would size from

    # when
    response = post_webhook(api_client, webhook_body(strategy, amount="0.01"), secret=strategy.webhook_secret)

    # then: the record holds the market's price at the time it is dated
    assert response.status_code == 201, response.json()
    assert LeaderTrade.objects.get().price == Decimal("69000.5")


def test_it_refuses_a_price_six_percent_off_the_market_naming_both_prices(api_client, strategy, fan_outs):
    market_moves_to("68857")
    body = webhook_body(strategy, amount="0.01", price="64725.58")  # 6 % under the market

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 400
    message = response.json()["message"]
    assert "64725.58" in message and "68857" in message and "2 %" in message, message
    assert response.json()["extra"] == {"declared_price": "64725.58", "market_price": "68857", "tolerance_percent": "2"}
    _assert_nothing_recorded(fan_outs)


def test_it_keeps_a_price_within_the_tolerance_as_the_leaders_and_records_the_markets(api_client, strategy, fan_outs):
    market_moves_to("68857")
    body = webhook_body(strategy, amount="0.01", price="68000")

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    trade = LeaderTrade.objects.get()
    assert (trade.price, trade.declared_price) == (Decimal("68857"), Decimal("68000"))


@pytest.mark.parametrize("strategy_id", [999_999, 2**62])
def test_it_answers_an_unknown_strategy_as_a_wrong_signature(api_client, strategy, fan_outs, strategy_id):
    body = webhook_body(strategy, amount="0.01", price="65000", strategy_id=strategy_id)
    wrongly_signed = webhook_body(strategy, amount="0.01", price="65000")

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)
    known = post_webhook(api_client, wrongly_signed, secret="not-the-secret")

    assert (response.status_code, response.json()) == (known.status_code, known.json()) == (401, response.json())
    assert response.json()["message"] == "Invalid webhook signature."
    _assert_nothing_recorded(fan_outs)


@pytest.mark.parametrize("strategy_id", [None, "abc", -1, 0, 1.5, True, 2**64, [1]])
def test_it_refuses_a_strategy_id_that_is_not_a_positive_integer_with_400(api_client, strategy, fan_outs, strategy_id):
    payload = json.loads(webhook_body(strategy, amount="0.01", price="65000"))
    payload["strategy_id"] = strategy_id
    body = json.dumps(payload).encode()

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 400
    _assert_nothing_recorded(fan_outs)


def test_it_refuses_a_signal_to_a_paused_strategy_with_409(api_client, strategy, owner, fan_outs):
    strategy_update(owner=owner, strategy_id=strategy.pk, data={"status": Strategy.Status.PAUSED})
    body = webhook_body(strategy, amount="0.01", price="65000")

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 409
    assert "paused" in response.json()["message"]
    _assert_nothing_recorded(fan_outs)


def test_it_refuses_a_body_over_the_size_limit_with_413(api_client, strategy, fan_outs, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body = webhook_body(strategy, amount="0.01", price="65000", padding="x" * 2000)

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 413
    _assert_nothing_recorded(fan_outs)


def test_it_throttles_signed_requests_per_strategy_and_does_not_count_unsigned_ones(api_client, strategy, owner, fan_outs, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**rates, "webhook": "2/min"}}
    other = signal_only_strategy(owner, name="Other")
    for index in range(3):
        forged = webhook_body(strategy, external_id=f"forged-{index}", amount="0.01", price="65000")
        assert post_webhook(api_client, forged, secret="wrong").status_code == 401

    answers = [
        post_webhook(api_client, body, secret=strategy.webhook_secret).status_code
        for body in (webhook_body(strategy, external_id=f"s-{index}", amount="0.01", price="65000") for index in range(3))
    ]
    other_body = webhook_body(other, external_id="o-1", amount="0.01", price="65000")

    assert answers == [201, 201, 429]
    assert post_webhook(api_client, other_body, secret=other.webhook_secret).status_code == 201
    assert LeaderTrade.objects.filter(strategy=strategy).count() == 2


# --- With a leader exchange account --------------------------------------------------


@pytest.fixture
def led_strategy(owner, simulated_binance):
    from copytrade.services.strategies import strategy_create

    account = simulator_account(simulated_binance, owner, usdt="10000")
    return strategy_create(owner=owner, name="Led", leader_account_id=account.pk, is_public_leader=True)


def test_it_places_the_leader_order_first_and_records_the_real_fill(api_client, led_strategy, simulated_binance, fan_outs):
    simulated_binance.set_price(symbol="BTC/USDT", price="64000")
    body = webhook_body(led_strategy, amount="0.01", price="63500")

    response = post_webhook(api_client, body, secret=led_strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    orders = simulated_binance.orders(api_key=led_strategy.leader_account.api_key)
    assert len(orders) == 1
    trade = LeaderTrade.objects.get()
    assert Decimal(orders[0]["filled"]) == trade.amount == Decimal("0.01")
    assert (trade.price, trade.declared_price) == (Decimal("64000"), Decimal("63500"))
    assert trade.notional == Decimal("640")
    assert trade.exchange_order_id == str(orders[0]["id"])
    assert trade.fee == Decimal("0.64")  # the simulator's 0.1 % commission, in USDT
    assert trade.leader_equity == Decimal("10000")


def test_it_closes_the_leader_position_at_the_exchange(api_client, led_strategy, simulated_binance, fan_outs):
    post_webhook(api_client, webhook_body(led_strategy, external_id="open", amount="0.01"), secret=led_strategy.webhook_secret)
    simulated_binance.set_price(symbol="BTC/USDT", price="66000")

    response = post_webhook(api_client, webhook_body(led_strategy, external_id="close", action="close"), secret=led_strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    close = LeaderTrade.objects.get(external_id="close")
    assert (close.effect, close.side, close.amount, close.price) == ("close", "sell", Decimal("0.01"), Decimal("66000"))
    assert close.position_after == 0
    balances = simulated_binance.account(api_key=led_strategy.leader_account.api_key)["balances"]
    assert Decimal(balances["BTC"]["free"]) == 0


def test_a_leader_whose_buy_paid_its_fee_in_the_base_coin_closes_with_exactly_what_it_holds(api_client, owner, simulated_binance, fan_outs):
    # given a leader account at a Binance that takes a buy's fee in the coin bought
    simulated_binance.reset(commission_asset="received")
    clear_caches()
    simulated_binance.set_price(symbol="BTC/USDT", price="64000")
    account = simulator_account(simulated_binance, owner, usdt="10000")
    strategy = strategy_create(owner=owner, name="Led", leader_account_id=account.pk, is_public_leader=True)
    post_webhook(api_client, webhook_body(strategy, external_id="open", amount="0.01"), secret=strategy.webhook_secret)
    opened = LeaderTrade.objects.get(external_id="open")

    response = post_webhook(api_client, webhook_body(strategy, external_id="close", action="close"), secret=strategy.webhook_secret)

    # then the open kept its filled amount and its 0.00001 BTC fee at 64,000, the position what arrived
    assert (opened.amount, opened.fee, opened.position_after) == (Decimal("0.01"), Decimal("0.64"), Decimal("0.00999"))
    assert response.status_code == 201, response.json()
    close = LeaderTrade.objects.get(external_id="close")
    assert (close.effect, close.amount, close.position_after) == ("close", Decimal("0.00999"), 0)
    balances = simulated_binance.account(api_key=strategy.leader_account.api_key)["balances"]
    assert Decimal(balances["BTC"]["free"]) == 0


def test_it_returns_the_exchange_error_and_records_nothing_when_the_leader_order_fails(
    api_client, owner, simulated_binance, fan_outs, django_capture_on_commit_callbacks
):
    from copytrade.services.strategies import strategy_create

    account = simulator_account(simulated_binance, owner, usdt="100")
    strategy = strategy_create(owner=owner, name="Poor", leader_account_id=account.pk)
    body = webhook_body(strategy, amount="1")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 400
    assert response.json()["extra"]["reason"] == "insufficient_funds"
    _assert_nothing_recorded(fan_outs)


def test_it_does_not_place_a_second_leader_order_for_a_duplicate_signal(api_client, led_strategy, simulated_binance, fan_outs):
    body = webhook_body(led_strategy, amount="0.01")
    post_webhook(api_client, body, secret=led_strategy.webhook_secret)

    response = post_webhook(api_client, body, secret=led_strategy.webhook_secret)

    assert response.status_code == 200
    assert len(simulated_binance.orders(api_key=led_strategy.leader_account.api_key)) == 1
    assert LeaderTrade.objects.count() == 1


def test_it_refuses_signals_to_an_exchange_sync_strategy_with_409(api_client, owner, simulated_binance, fan_outs):
    from copytrade.services.strategies import strategy_create

    account = simulator_account(simulated_binance, owner)
    strategy = strategy_create(owner=owner, name="Synced", leader_account_id=account.pk, source=Strategy.Source.EXCHANGE_SYNC)

    response = post_webhook(api_client, webhook_body(strategy, amount="0.01"), secret=strategy.webhook_secret)

    assert response.status_code == 409
    assert simulated_binance.orders(api_key=account.api_key) == []
    _assert_nothing_recorded(fan_outs)


def test_it_records_the_order_an_earlier_attempt_placed_instead_of_placing_another(api_client, led_strategy, simulated_binance, fan_outs):
    # given: an earlier attempt of this signal placed the leader order, then died before recording it
    gateway = gateway_for_account(led_strategy.leader_account)
    client_order_id = leader_client_order_id(strategy_id=led_strategy.pk, external_id="sig-1")
    placed = gateway.create_order(symbol="BTC/USDT", side="buy", amount=Decimal("0.01"), client_order_id=client_order_id)
    simulated_binance.set_price(symbol="BTC/USDT", price="70000")

    # when: the leader sends the signal again
    response = post_webhook(api_client, webhook_body(led_strategy, amount="0.01"), secret=led_strategy.webhook_secret)

    # then: the one order is recorded, at its own fill price
    assert response.status_code == 201, response.json()
    assert len(simulated_binance.orders(api_key=led_strategy.leader_account.api_key)) == 1
    trade = LeaderTrade.objects.get()
    assert (trade.exchange_order_id, trade.price) == (placed.exchange_order_id, Decimal("65000"))


def test_it_records_a_leader_order_whose_answer_was_lost(api_client, led_strategy, simulated_binance, fan_outs):
    simulated_binance.set_faults(rates={"timeout_after_accept": 1.0}, match=["POST /api/v3/order"], timeout_mode="drop")

    response = post_webhook(api_client, webhook_body(led_strategy, amount="0.01"), secret=led_strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    assert len(simulated_binance.orders(api_key=led_strategy.leader_account.api_key)) == 1
    assert LeaderTrade.objects.get().amount == Decimal("0.01")


def test_it_answers_503_and_records_nothing_while_the_exchange_is_down(api_client, led_strategy, simulated_binance, fan_outs):
    simulated_binance.set_faults(rates={"5xx": 1.0})

    response = post_webhook(api_client, webhook_body(led_strategy, amount="0.01"), secret=led_strategy.webhook_secret)

    assert response.status_code == 503
    _assert_nothing_recorded(fan_outs)


@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_one_signal_place_one_leader_order_and_record_one_trade(owner, simulated_binance, monkeypatch):
    from copytrade.services.strategies import strategy_create

    fan_outs = record_fan_outs(monkeypatch)
    account = simulator_account(simulated_binance, owner)
    strategy = strategy_create(owner=owner, name="Led", leader_account_id=account.pk)
    body = webhook_body(strategy, amount="0.01")
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def send():
        try:
            barrier.wait(timeout=10)
            answers.append(post_webhook(APIClient(), body, secret=strategy.webhook_secret).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert answers.count(201) == 1
    assert set(answers) <= {200, 201, 409}  # the others: a duplicate, or "being executed, send again"
    assert len(simulated_binance.orders(api_key=account.api_key)) == 1
    assert LeaderTrade.objects.count() == 1
    assert len(fan_outs) == 1


def test_a_strategy_led_by_a_paper_account_trades_it_first(api_client, owner, simulated_binance, fan_outs):
    from copytrade.services.strategies import strategy_create
    from exchanges.models import PaperOrder

    account = paper_account(owner, usdt="5000")
    strategy = strategy_create(owner=owner, name="Paper-led", leader_account_id=account.pk)

    response = post_webhook(api_client, webhook_body(strategy, amount="0.01"), secret=strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    order = PaperOrder.objects.get(account=account)
    trade = LeaderTrade.objects.get()
    assert (trade.amount, trade.price) == (order.filled, order.average_price)
    assert trade.price > Decimal("65000")  # the paper fill's slippage, not the signal's or the ticker's price


@pytest.mark.parametrize("kind", ["signal-only", "with a leader account"])
def test_one_signal_builds_one_gateway_and_checks_its_market_for_billing_once(
    api_client, owner, simulated_binance, fan_outs, monkeypatch, kind
):
    # The market is resolved once on the signal's path and handed to the recording: a second
    # lookup would be a second gateway and a second conversion check for the same market.
    from copytrade import currency
    from copytrade.services.strategies import strategy_create
    from exchanges.gateways.ccxt_gateway import CcxtGateway

    if kind == "signal-only":
        strategy = signal_only_strategy(owner)
    else:
        account = simulator_account(simulated_binance, owner, usdt="10000")
        strategy = strategy_create(owner=owner, name="Led", leader_account_id=account.pk)
    gateways, checks = [], []
    real_init, real_convertible = CcxtGateway.__init__, currency.quote_convertible

    def init_spy(self, **kwargs):
        gateways.append(kwargs["exchange_id"])
        real_init(self, **kwargs)

    def convertible_spy(**kwargs):
        checks.append(kwargs["market"].symbol)
        return real_convertible(**kwargs)

    monkeypatch.setattr(CcxtGateway, "__init__", init_spy)
    monkeypatch.setattr(currency, "quote_convertible", convertible_spy)

    response = post_webhook(api_client, webhook_body(strategy, amount="0.01"), secret=strategy.webhook_secret)

    assert response.status_code == 201, response.json()
    assert len(gateways) == 1
    assert checks == ["BTC/USDT"]
