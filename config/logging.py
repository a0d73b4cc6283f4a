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


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.re.groups else "") + "***", text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
