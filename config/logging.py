import logging
import re

# Belt and braces: nothing should ever log a secret, but if a third-party library puts a
# signed query string or an auth header in a message, the signature and keys are masked.
_PATTERNS = [
    re.compile(r"(signature=)[0-9a-fA-F]+"),
    re.compile(r"((?:X-MBX-APIKEY|Authorization|X-Signature|Stripe-Signature)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I),
    re.compile(r"((?:api_?key|secret|passphrase|password)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I),
    re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[0-9A-Za-z]{8,}"),
]


# SQL logged by django.db.backends (DEBUG with settings.DEBUG, or a debug cursor) carries
# every column value, the strategies' webhook secrets among them: SQL log lines keep the
# statement's shape and lose its literals and parameters.
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'")
_SQL_LOGGER = "django.db.backends"


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + "***", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_SQL_LOGGER) and hasattr(record, "sql"):
            record.sql = _SQL_LITERAL.sub("'***'", str(record.sql))
            record.params = None
            record.msg, record.args = "(%s) %s; alias=%s", (_duration(record), record.sql, getattr(record, "alias", ""))
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _duration(record: logging.LogRecord) -> str:
    duration = getattr(record, "duration", None)
    return f"{duration:.3f}" if isinstance(duration, int | float) else "?"
