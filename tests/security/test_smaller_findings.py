"""Issue 32, item 12: answers with a secret are not cached, static files are not framed,
logs at DEBUG carry no account-mail keys or CSRF tokens, and only supported exchanges are
accepted. (The shared password budget per account: test_sign_in_timing.py.)"""

import logging
import re
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import Client

from core.redaction import MASK, RedactSecretsFilter, redact
from exchanges.models import ExchangeAccount

pytestmark = pytest.mark.django_db

SECURITY_DOC = (Path(settings.BASE_DIR) / "docs" / "SECURITY.md").read_text()


def test_creating_a_strategy_and_rotating_its_secret_answer_no_store(client_for, owner):
    api = client_for(owner)

    created = api.post("/api/strategies/", {"name": "Secretive", "declared_capital": "10000"}, format="json")
    rotated = api.post(f"/api/strategies/{created.json()['id']}/rotate-secret/")

    assert created.status_code == 201 and "webhook_secret" in created.json()
    assert rotated.status_code == 200 and "webhook_secret" in rotated.json()
    assert created["Cache-Control"] == rotated["Cache-Control"] == "no-store"


def test_static_files_may_not_be_framed():
    response = Client().get("/static/web/app.css")

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"


def test_the_security_doc_names_every_content_security_policy_exception():
    from config import urls

    exceptions = settings.CONTENT_SECURITY_POLICY["EXCLUDE_URL_PREFIXES"]

    assert exceptions == ["/api/", "/admin/django_celery_beat/"]
    assert all(f"`{prefix}" in SECURITY_DOC for prefix in exceptions)
    assert "`/api/docs/`" in SECURITY_DOC and "`/api/redoc/`" in SECURITY_DOC
    assert "'unsafe-inline'" in urls.DOCS_CONTENT_SECURITY_POLICY and "inline styles" in SECURITY_DOC


@pytest.mark.parametrize(
    "line",
    [
        '"GET /accounts/confirm-email/MjQ:1tKq2x:abcDEF123/ HTTP/1.1" 200',
        "activate_url: 'http://testserver/accounts/confirm-email/MjQ:1tKq2x:abcDEF123/'",
        "GET /accounts/password/reset/key/2j-c7x9k2-4f1d8b0e6a/ 302",
        "'csrf_token': <SimpleLazyObject: 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1tU3v'>",
        "Cookie: csrftoken=aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY",
        "csrfmiddlewaretoken=aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY&login=x",
    ],
)
def test_account_mail_keys_and_csrf_tokens_are_redacted(line):
    cleaned = redact(line)

    assert MASK in cleaned
    assert not re.search(r"abcDEF123|c7x9k2-4f1d8b0e6a|aB3dE5fG7hJ9kL1mN", cleaned)


def test_a_failed_template_lookup_logged_at_debug_shows_neither_the_csrf_token_nor_the_link():
    # What Django's template engine logs at DEBUG: the exception names the whole context.
    context = Context({"csrf_token": "aB3dE5fG7hJ9kL1mN3pQ5rS7", "activate_url": "http://x/accounts/confirm-email/MjQ:key123secret/"})
    try:
        Template("{{ missing.attribute }}").render(context)
        context["missing"]
    except Exception:
        record = logging.getLogger("django.template").makeRecord(
            "django.template", logging.DEBUG, __file__, 1, "Exception while resolving variable %r.", ("missing",), sys.exc_info()
        )
    console = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters))

    shown = console.format(record) if console.filter(record) else ""

    assert "Exception while resolving variable 'missing'." in shown and "KeyError" in shown
    assert "aB3dE5fG7hJ9kL1mN3pQ5rS7" not in shown and "key123secret" not in shown
    assert settings.LOGGING["loggers"]["django.template"]["level"] == "INFO"


@pytest.mark.parametrize("exchange_id", ["kraken", "binanceus", "huobi"])
def test_an_exchange_the_platform_does_not_support_is_a_400(client_for, follower, exchange_id):
    response = client_for(follower).post(
        "/api/exchange-accounts/", {"exchange_id": exchange_id, "label": "Elsewhere", "api_key": "k", "api_secret": "s"}, format="json"
    )

    assert response.status_code == 400
    assert f"Unsupported exchange '{exchange_id}'. Use 'paper' or one of: binance, bybit, okx." in response.json()["message"]
    assert not ExchangeAccount.objects.filter(owner=follower).exists()


def _redact_by_every_pattern(text: str) -> str:
    from core import redaction

    for pattern, replacement in redaction._PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def test_the_redactor_s_shortcut_for_lines_without_a_trigger_word_changes_no_line():
    # redact() skips its patterns when none of their words is in the text: every text a
    # pattern changes must still be changed, built from each pattern's own words in any case.
    import itertools

    pieces = [
        "https://api.binance.com/api/v3/order?symbol=BTCUSDT&signature=abc123",
        "Signature=abc123def",
        "API-KEY=k3y",
        "{'X-MBX-APIKEY': 'k3yvalue'}",
        '"Authorization": "Bearer t0ken"',
        "Stripe-Signature: t=1,v1=abc",
        "passphrase: hunter22",
        "PASSWORD=hunter22",
        "sk_live_abcdefgh1234",
        "whsec_abcdefgh1234",
        "RK_TEST_ABCDEFGH1234",
        "/accounts/confirm-email/MjQ:abc/",
        "/accounts/password/reset/key/2j-abc/",
        "CSRFTOKEN=abcdef123",
        "'Token': 'abc'",
        "secret=s3cr3t",
        "copied trade 12 filled buy 0.0015 at 65000.0 (pnl -0.09)",
        "Task copytrade.tasks.execute_copied_trade[2c8b7c36] succeeded in 0.0123s: None",
    ]
    texts = [*pieces, *(" ".join(pair) for pair in itertools.permutations(pieces, 2))]
    texts += [text.upper() for text in texts] + [text.lower() for text in texts]

    for text in texts:
        assert redact(text) == _redact_by_every_pattern(text), text
