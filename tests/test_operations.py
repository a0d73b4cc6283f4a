"""What an operator relies on: generated secrets, production's refusal of bad ones, `.env`
read only when asked, `make help` listing every target."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
GOOD_SECRET_KEY = "k" * 20 + "Zq8-wR3_pL9xT2vN6mB4cY7hJ1fD5sG0aE"
SHOW_KEYS = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY[:6], len(settings.FIELD_ENCRYPTION_KEY.split(',')))"


def _start(settings_module: str, *, code: str = SHOW_KEYS, **variables: str) -> subprocess.CompletedProcess:
    """A fresh interpreter loading `settings_module` with exactly these secrets (and no .env)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "READ_DOT_ENV", "DOT_ENV_FILE")}
    env.update(DJANGO_SETTINGS_MODULE=settings_module, ALLOWED_HOSTS="example.com", **variables)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=BASE_DIR, timeout=60)


def _production(**variables: str) -> subprocess.CompletedProcess:
    return _start("config.settings.production", **variables)


def _env_values(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


# --- production refuses bad secrets at start-up ---------------------------------------------


def test_production_starts_with_a_random_secret_key_and_fernet_keys():
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"

    result = _production(SECRET_KEY=GOOD_SECRET_KEY, FIELD_ENCRYPTION_KEY=keys)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["kkkkkk", "2"]


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        ("", "SECRET_KEY must be set in production"),
        (settings.DEV_SECRET_KEY, "SECRET_KEY is the development placeholder"),
        ("change-me-to-a-random-string-of-at-least-fifty-characters-xxxxxxxxxx", "SECRET_KEY is the development placeholder"),
        ("too-short-Zq8wR3pL9xT2", "SECRET_KEY must be a random string of at least 50 characters"),
    ],
)
def test_production_refuses_a_missing_placeholder_or_short_secret_key(secret_key, message):
    result = _production(SECRET_KEY=secret_key, FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode())

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
    assert "make env" in result.stderr


@pytest.mark.parametrize(
    ("field_key", "message"),
    [
        ("", "FIELD_ENCRYPTION_KEY must be set in production"),
        (settings.DEV_FIELD_ENCRYPTION_KEY, "FIELD_ENCRYPTION_KEY: it is the development key"),
        ("generate-with-python-c-from-cryptography.fernet-import-Fernet", "FIELD_ENCRYPTION_KEY: it is not a Fernet key"),
        ("c2hvcnQ=", "FIELD_ENCRYPTION_KEY: it is not a Fernet key"),
        (f"{Fernet.generate_key().decode()},not-a-key", "FIELD_ENCRYPTION_KEY: key 2 of 2 is not a Fernet key"),
        (
            f"{Fernet.generate_key().decode()},{settings.DEV_FIELD_ENCRYPTION_KEY}",
            "FIELD_ENCRYPTION_KEY: key 2 of 2 is the development key",
        ),
        (f"{Fernet.generate_key().decode()},", "FIELD_ENCRYPTION_KEY: key 2 of 2 is not a Fernet key"),
    ],
)
def test_production_refuses_a_field_encryption_key_list_with_any_key_that_is_not_a_fresh_fernet_key(field_key, message):
    result = _production(SECRET_KEY=GOOD_SECRET_KEY, FIELD_ENCRYPTION_KEY=field_key)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
    # The message names the key's position, never its value.
    assert not any(key in result.stderr for key in field_key.split(",") if len(key) > 8)


DEV_KEY = settings.DEV_FIELD_ENCRYPTION_KEY
# Spellings of the development key that Fernet itself accepts, and one it does not
# (the padding left off) that a lenient decoder still reads as the same bytes.
DEV_KEY_SPELLINGS = [
    DEV_KEY.replace("_", "/"),
    DEV_KEY + "=",
    DEV_KEY + "==",
    DEV_KEY[:10] + "." + DEV_KEY[10:],
    DEV_KEY.rstrip("="),
    DEV_KEY.replace("_", "/").replace("-", "+") + "=.",
]


@pytest.mark.parametrize("spelling", DEV_KEY_SPELLINGS)
def test_production_refuses_the_development_key_in_any_spelling_that_decodes_to_it(spelling):
    result = _production(SECRET_KEY=GOOD_SECRET_KEY, FIELD_ENCRYPTION_KEY=f"{Fernet.generate_key().decode()},{spelling}")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY: key 2 of 2 is the development key" in result.stderr


def test_check_deploy_refuses_a_respelled_development_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "READ_DOT_ENV", "DOT_ENV_FILE")},
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "ALLOWED_HOSTS": "example.com",
            "SECRET_KEY": GOOD_SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": DEV_KEY.replace("_", "/") + "=",
        },
    )

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY: it is the development key" in result.stderr


# --- make env ------------------------------------------------------------------------------


def _make(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *arguments], cwd=BASE_DIR, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_make_env_writes_fresh_secrets_production_accepts_and_never_overwrites_without_force(tmp_path):
    target = tmp_path / ".env"

    written = _make("env", f"ENV_FILE={target}")
    first = target.read_text()
    again = _make("env", f"ENV_FILE={target}")
    unchanged = target.read_text()
    forced = _make("env", f"ENV_FILE={target}", "FORCE=1")

    assert written.returncode == 0, written.stderr
    values = _env_values(first)
    assert len(values["SECRET_KEY"]) >= 50 and re.fullmatch(r"[A-Za-z0-9_-]+", values["SECRET_KEY"])
    Fernet(values["FIELD_ENCRYPTION_KEY"].encode())
    assert values.keys() >= {"STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert values["SECRET_KEY"] not in written.stdout + written.stderr
    assert again.returncode != 0 and "exists" in again.stderr and unchanged == first
    assert forced.returncode == 0, forced.stderr
    replaced = _env_values(target.read_text())
    assert replaced["SECRET_KEY"] != values["SECRET_KEY"] and replaced["FIELD_ENCRYPTION_KEY"] != values["FIELD_ENCRYPTION_KEY"]
    started = _production(SECRET_KEY=replaced["SECRET_KEY"], FIELD_ENCRYPTION_KEY=replaced["FIELD_ENCRYPTION_KEY"])
    assert started.returncode == 0, started.stderr


def test_make_help_lists_every_target_of_the_makefile():
    makefile = (BASE_DIR / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split()
    defined = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))

    listed = re.findall(r"^make (\S+)\s+\S", _make("help").stdout, re.M)

    assert set(phony) == defined
    assert sorted(listed) == sorted(defined)


# --- .env only when asked --------------------------------------------------------------------


@pytest.mark.slow  # starts processes: make test, not the fast lane
def test_local_settings_read_a_dot_env_file_only_when_asked(tmp_path):
    dot_env = tmp_path / ".env"
    dot_env.write_text(f"SECRET_KEY={GOOD_SECRET_KEY}\nFIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n")

    ignored = _start("config.settings.local", DOT_ENV_FILE=str(dot_env))
    read = _start("config.settings.local", DOT_ENV_FILE=str(dot_env), READ_DOT_ENV="1")

    assert ignored.returncode == 0 and read.returncode == 0, ignored.stderr + read.stderr
    assert ignored.stdout.split() == [settings.DEV_SECRET_KEY[:6], "1"]
    assert read.stdout.split() == ["kkkkkk", "1"]
