"""Exchange credentials are encrypted at rest, and FIELD_ENCRYPTION_KEY can be rotated."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from exchanges.models import ExchangeAccount

pytestmark = pytest.mark.django_db

KEY, SECRET = "plain-api-key-0123456789abcdef", "plain-api-secret-fedcba9876543210"


def _raw(account_id: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret FROM exchanges_exchangeaccount WHERE id = %s", [account_id])
        return cursor.fetchone()


@pytest.fixture
def old_key(settings):
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    return settings.FIELD_ENCRYPTION_KEY


@pytest.fixture
def account(old_key, follower):
    return ExchangeAccount.objects.create(owner=follower, exchange_id="binance", label="Binance", api_key=KEY, api_secret=SECRET)


def test_the_columns_hold_ciphertext_only(account, old_key):
    raw_key, raw_secret = _raw(account.pk)

    assert KEY not in raw_key and SECRET not in raw_secret
    assert Fernet(old_key.encode()).decrypt(raw_secret.encode()).decode() == SECRET


def test_rotation_re_encrypts_every_credential_under_the_new_key(account, old_key, settings):
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = f"{new_key},{old_key}"
    out = StringIO()

    call_command("rotate_field_encryption", stdout=out)

    assert "1 exchange account" in out.getvalue()
    raw_key, raw_secret = _raw(account.pk)
    assert Fernet(new_key.encode()).decrypt(raw_secret.encode()).decode() == SECRET
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(raw_key.encode())
    settings.FIELD_ENCRYPTION_KEY = new_key  # the old key dropped
    reloaded = ExchangeAccount.objects.get(pk=account.pk)
    assert (reloaded.api_key, reloaded.api_secret) == (KEY, SECRET)


def test_rotation_stops_on_a_credential_no_listed_key_decrypts(account, settings):
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()  # the old key dropped too early

    with pytest.raises(CommandError, match="keep its old key"):
        call_command("rotate_field_encryption", stdout=StringIO())


def test_the_admin_shows_whether_credentials_are_set_never_their_values(account, django_user_model):
    from django.test import Client

    admin_user = django_user_model.objects.create_superuser(username="root", password="root-pass-123", email="root@example.com")
    client = Client()
    client.force_login(admin_user)

    pages = [
        client.get("/admin/exchanges/exchangeaccount/"),
        client.get(f"/admin/exchanges/exchangeaccount/{account.pk}/change/"),
    ]

    assert [page.status_code for page in pages] == [200, 200]
    for page in pages:
        assert KEY.encode() not in page.content and SECRET.encode() not in page.content
    raw_key, raw_secret = _raw(account.pk)
    assert raw_secret.encode() not in pages[1].content
