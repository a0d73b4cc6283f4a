"""The one redactor: nothing should ever log or answer a secret, but an exchange may echo
what it was sent and a third-party library may put a signed query string or an auth header
in a message. Every log line (the console handler's filter), every ccxt request log and
every exchange error message shown to a user goes through `redact`.
"""

import logging
import re

MASK = "<redacted>"
_PATTERNS = [
    # A signed URL's query string carries the signature and often the key.
    (re.compile(r"(https?://[^\s?#'\"]+)\?[^\s'\"]*"), rf"\1?{MASK}"),
    (re.compile(r"(?i)\b(signature|sign|apikey|api_key|api-key|passphrase|secret)=[^&\s'\"]*"), rf"\1={MASK}"),
    # Header dicts as ccxt prints them: {'X-MBX-APIKEY': '...'}
    (re.compile(r"(?i)(['\"][^'\"]*(?:key|sign|passphrase|secret|token|auth)[^'\"]*['\"]\s*:\s*)['\"][^'\"]*['\"]"), rf"\1'{MASK}'"),
    (re.compile(r"((?:X-MBX-APIKEY|Authorization|X-Signature|Stripe-Signature)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I), rf"\1{MASK}"),
    (re.compile(r"((?:api_?key|secret|passphrase|password)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I), rf"\1{MASK}"),
    # Stripe keys and webhook secrets.
    (re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[0-9A-Za-z]{8,}"), MASK),
    # The keys in account mails' links (email confirmation, password reset): each is a login
    # or a new password for whoever reads it. A path in an access log carries one too.
    (re.compile(r"(confirm-email/|password/reset/key/)[^/\s'\"<>]+"), rf"\1{MASK}"),
    # CSRF tokens: the cookie, the form field, a template context's `csrf_token` (Django's
    # template debug log prints the whole context of a failed variable lookup).
    (re.compile(r"(?i)(csrf[\w-]*['\"]?\s*[:=]\s*(?:<SimpleLazyObject:\s*)?['\"]?)[A-Za-z0-9]+"), rf"\1{MASK}"),
]

# Every pattern above needs one of these words in the text (case aside): a text with none of
# them (most log lines: "copied trade 12 filled ...", Celery's "Task ... received") is
# returned as it is after one search instead of eight substitutions (about 35 µs a line,
# three lines per follower order; bench/RESULTS.md, "Performance III").
_MAY_MATCH = re.compile(r"http|sign|key|secret|passphrase|password|token|auth|sk_|rk_|whsec_|confirm-email/|csrf", re.I)

# SQL logged by django.db.backends (DEBUG with settings.DEBUG, or a debug cursor) carries
# every column value, the strategies' webhook secrets among them: SQL log lines keep the
# statement's shape and lose its literals and parameters.
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'")
_SQL_LOGGER = "django.db.backends"


def redact(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """`text` without known `secrets`, signed query strings, signature fields, credential
    headers and API keys."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    if not _MAY_MATCH.search(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_SQL_LOGGER) and hasattr(record, "sql"):
            record.sql = _SQL_LITERAL.sub(f"'{MASK}'", str(record.sql))
            record.params = None
            record.msg, record.args = "(%s) %s; alias=%s", (_duration(record), record.sql, getattr(record, "alias", ""))
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # An exception's text can hold what the message does not (a failed template
            # lookup names every value of its context); the formatter prints exc_text as set.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def _duration(record: logging.LogRecord) -> str:
    duration = getattr(record, "duration", None)
    return f"{duration:.3f}" if isinstance(duration, int | float) else "?"
