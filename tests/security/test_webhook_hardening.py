"""Webhook hardening not already shown by tests/copytrade/test_webhook.py.

That file covers the replay window (stale and future timestamps: 401), the body size limit
(413), a misspelt field (400) and the per-strategy throttle (429, unsigned requests not
counted). Here: the signature is compared in constant time, unknown fields are named in the
400, and the production throttle rate is finite.
"""

import hmac
import inspect

import pytest
from django.conf import settings

from copytrade.models import LeaderTrade
from copytrade.services import leader_trades
from tests.copytrade import post_webhook, record_fan_outs, sign, signal_only_strategy, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(owner, simulated_binance, monkeypatch):
    record_fan_outs(monkeypatch)
    return signal_only_strategy(owner)


@pytest.fixture
def compare_digest_calls(monkeypatch) -> list[tuple[bytes, bytes]]:
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(leader_trades.intake.hmac, "compare_digest", spy)
    return calls


@pytest.mark.parametrize(("secret_used", "status"), [("right", 201), ("wrong", 401)])
def test_the_signature_is_compared_in_constant_time(api_client, strategy, compare_digest_calls, secret_used, status):
    body = webhook_body(strategy, amount="0.01", price="65000")
    signature = sign(body, strategy.webhook_secret if secret_used == "right" else "wrong")

    response = post_webhook(api_client, body, signature=signature)

    assert response.status_code == status
    expected = sign(body, strategy.webhook_secret).removeprefix("sha256=").encode()
    assert compare_digest_calls == [(expected, signature.removeprefix("sha256=").encode())]


def test_the_verifier_has_no_other_comparison_of_the_signature():
    # An `==` between the digests next to compare_digest would undo it.

    source = inspect.getsource(leader_trades.webhook_signature_verify)

    assert "compare_digest" in source
    assert "expected ==" not in source and "== expected" not in source and "received ==" not in source


@pytest.mark.parametrize("field", ["leverage", "exchange_url", "api_key", "strategyId"])
def test_an_unknown_field_is_refused_with_400_naming_it(api_client, strategy, field):
    body = webhook_body(strategy, amount="0.01", price="65000", **{field: "x"})

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert field in response.json()["message"] + str(response.json()["extra"])
    assert not LeaderTrade.objects.exists()


def test_a_signed_body_replayed_after_the_window_is_refused_even_with_a_new_external_id(api_client, strategy, settings):
    settings.WEBHOOK_MAX_AGE_SECONDS = 60
    body = webhook_body(strategy, external_id="late", amount="0.01", price="65000", timestamp=1_700_000_000)

    response = post_webhook(api_client, body, secret=strategy.webhook_secret)

    assert response.status_code == 401
    assert "Stale" in response.json()["message"]
    assert not LeaderTrade.objects.exists()


def test_the_webhook_throttle_rate_is_finite_in_production_settings():
    from config.settings import base

    rate = base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["webhook"]
    count, period = rate.split("/")

    assert int(count) <= 1000 and period in ("s", "sec", "m", "min")
    assert settings.WEBHOOK_MAX_BODY_BYTES <= 64 * 1024
    assert settings.WEBHOOK_MAX_AGE_SECONDS <= 600
