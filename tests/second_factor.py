"""Two-factor sign-in in tests: turn TOTP on for a user, and the code an authenticator app
would show now (computed from the secret, as the app does)."""

import time

from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

PERIOD = 30


def totp_code(secret: str, *, at: float | None = None) -> str:
    return format_hotp_value(hotp_value(secret, int(at if at is not None else time.time()) // PERIOD))


def totp_turn_on(user) -> tuple[str, list[str]]:
    """TOTP and recovery codes on for `user`: the secret and the unused recovery codes."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user)
    return secret, codes.get_unused_codes()
