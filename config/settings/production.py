"""Production: refuses to start without its secrets, or with the development ones.

`make env` (`manage.py make_env`) writes a `.env` with fresh values for both.
"""

import base64
import binascii
import re

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F401,F403
from .base import DEV_FIELD_ENCRYPTION_KEY, DEV_SECRET_KEY, env

DEBUG = False
GENERATE = "run `make env` (manage.py make_env) to generate one"


def _required(name: str) -> str:
    value = env(name, default="").strip()
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production: {GENERATE}")
    return value


def _secret_key() -> str:
    key = _required("SECRET_KEY")
    if key == DEV_SECRET_KEY or "insecure" in key or "change-me" in key:
        raise ImproperlyConfigured(f"SECRET_KEY is the development placeholder: {GENERATE}")
    if len(key) < 50 or len(set(key)) < 5:
        raise ImproperlyConfigured(f"SECRET_KEY must be a random string of at least 50 characters: {GENERATE}")
    return key


def _key_bytes(key: str) -> bytes:
    """The bytes a spelling of a base64 key stands for, read as leniently as any decoder
    might: url-safe or standard alphabet, padding ignored, stray characters dropped (Fernet
    itself accepts "/" for "_", extra "=" and a stray "."). b"" when nothing decodes."""
    letters = re.sub(r"[^A-Za-z0-9+/_-]", "", key).translate(str.maketrans("-_", "+/"))
    try:
        return base64.b64decode(letters + "=" * (-len(letters) % 4))
    except binascii.Error:
        return b""


def _field_encryption_key() -> str:
    """Every key of the comma-separated MultiFernet list must be a Fernet key: a bad one would
    otherwise surface as a 500 on the first credential saved, not here at start-up."""
    value = _required("FIELD_ENCRYPTION_KEY")
    keys = [key.strip() for key in value.split(",")]
    development = _key_bytes(DEV_FIELD_ENCRYPTION_KEY)
    for position, key in enumerate(keys, start=1):
        where = f"key {position} of {len(keys)}" if len(keys) > 1 else "it"
        if _key_bytes(key) == development:
            raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY: {where} is the development key: {GENERATE}")
        try:
            Fernet(key.encode())
        except ValueError:
            # The message names the position, never the value: settings errors end up in logs.
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY: {where} is not a Fernet key (32 url-safe base64-encoded bytes): {GENERATE}"
            ) from None
    return value


SECRET_KEY = _secret_key()
FIELD_ENCRYPTION_KEY = _field_encryption_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Account mails (verification, password reset) link to the public https address.
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
# The admin moves money: staff without a second factor are sent to set one up first.
STAFF_REQUIRE_MFA = env.bool("STAFF_REQUIRE_MFA", default=True)
