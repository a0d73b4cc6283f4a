import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask

from config.celery import app
from core.money import quantize_money, split
from exchanges.crypto import decrypt, encrypt
from exchanges.models import ExchangeAccount


@pytest.mark.django_db
def test_healthz_reports_ok_when_postgres_and_redis_answer(api_client):
    response = api_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("status", "checks")} == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}
    assert set(body["connections"]) == {"in_use", "max", "saturation"}


@pytest.mark.django_db
def test_healthz_answers_503_and_names_redis_when_redis_is_down(api_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = api_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["postgres"] == "ok"
    assert response.json()["checks"]["redis"].startswith("down")


@pytest.mark.django_db
def test_token_endpoint_returns_a_token_for_username_and_password(api_client, follower):
    response = api_client.post("/api/auth/token/", {"username": "follower", "password": "follower-pass-123"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    response = api_client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200 and response.json()["username"] == "follower"


@pytest.mark.django_db
def test_token_endpoint_refuses_a_wrong_password_with_the_error_shape(api_client, follower):
    response = api_client.post("/api/auth/token/", {"username": "follower", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.django_db
def test_a_revoked_token_no_longer_authenticates(api_client, follower):
    token = api_client.post("/api/auth/token/", {"username": "follower", "password": "follower-pass-123"}, format="json").json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert api_client.post("/api/auth/token/revoke/", **auth).status_code == 204
    response = api_client.get("/api/auth/me/", **auth)
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.django_db
def test_anonymous_api_calls_get_401_in_the_error_shape(api_client):
    response = api_client.get("/api/auth/me/")
    assert response.status_code == 401
    assert response.json()["message"]


@pytest.mark.django_db
def test_schema_and_swagger_are_served(client_for, follower):
    client = client_for(follower)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_production_settings_refuse_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.production"
    env["ALLOWED_HOSTS"] = "example.com"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production" in result.stderr


def test_celery_is_json_only_utc_and_routes_work_to_its_queues():
    conf = app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.timezone == "UTC" and conf.enable_utc
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert {q.name for q in conf.task_queues} == {"default", "fanout", "execution", "metrics", "billing"}
    assert app.amqp.router.route({}, "copytrade.tasks.execute_copied_trade")["queue"].name == "execution"
    assert app.amqp.router.route({}, "copytrade.tasks.fan_out_leader_trade")["queue"].name == "fanout"
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


@pytest.mark.django_db
def test_beat_schedule_sync_is_idempotent_and_only_registers_known_tasks():
    call_command("sync_beat_schedule", stdout=open(os.devnull, "w"))
    first = sorted(PeriodicTask.objects.values_list("name", "task"))
    call_command("sync_beat_schedule", stdout=open(os.devnull, "w"))
    assert sorted(PeriodicTask.objects.values_list("name", "task")) == first
    app.loader.import_default_modules()
    assert all(task in app.tasks for _, task in first)


@pytest.mark.django_db
def test_exchange_credentials_are_encrypted_in_the_raw_column(follower):
    account = ExchangeAccount.objects.create(
        owner=follower, exchange_id="binance", label="main", api_key="plain-key-123", api_secret="plain-secret-456"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret FROM exchanges_exchangeaccount WHERE id = %s", [account.id])
        raw_key, raw_secret = cursor.fetchone()
    assert "plain-key-123" not in raw_key and "plain-secret-456" not in raw_secret
    assert decrypt(raw_secret) == "plain-secret-456"
    reloaded = ExchangeAccount.objects.get(id=account.id)
    assert reloaded.api_secret == "plain-secret-456"
    assert "plain-secret" not in repr(reloaded)


def test_credentials_encrypted_under_an_old_key_still_decrypt_after_rotation(settings):
    from cryptography.fernet import Fernet

    old_key = settings.FIELD_ENCRYPTION_KEY
    token = encrypt("secret-under-old-key")
    settings.FIELD_ENCRYPTION_KEY = f"{Fernet.generate_key().decode()},{old_key}"
    assert decrypt(token) == "secret-under-old-key"


def test_split_parts_sum_to_the_whole_and_round_half_up():
    payee, platform = split(quantize_money("15"), "0.60")
    assert (payee, platform) == (quantize_money("9"), quantize_money("6"))
    payee, platform = split(quantize_money("0.05"), "0.5")
    assert payee + platform == quantize_money("0.05")


@pytest.mark.django_db
# An id in a known path that is not one ("/api/strategies/abc/") is a 400: tests/security/test_identifiers.py.
@pytest.mark.parametrize("path", ["/api/strategies/1/no-such-thing/", "/api/no-such-thing", "/webhook/extra"])
def test_an_unknown_api_url_answers_404_in_the_api_error_shape(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
def test_an_unknown_page_outside_the_api_stays_an_html_404(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
