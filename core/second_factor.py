"""Two-factor sign-in (allauth.mfa) as the rest of the product needs it: whether a user has a
second factor, whether this session gave it recently (sensitive actions ask again), and
whether a code matches (the API's token login, which has no pages to send anyone to)."""

import time

from allauth.account import app_settings as account_settings
from allauth.account.internal.flows.login import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled

from core.errors import ApplicationError

# Types that can check a typed code (WebAuthn cannot).
CODE_TYPES = [Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]


def second_factor_enabled(*, user) -> bool:
    """Whether the user has turned on two-factor sign-in (an authenticator app)."""
    return bool(user and user.is_authenticated and is_mfa_enabled(user))


def second_factor_recent(*, request) -> bool:
    """Whether this session gave a second factor (at sign-in or when asked again) within
    ACCOUNT_REAUTHENTICATION_TIMEOUT seconds."""
    records = [record for record in get_authentication_records(request, request.user) if record.get("method") == "mfa"]
    return bool(records) and time.time() - records[-1]["at"] < account_settings.REAUTHENTICATION_TIMEOUT


def second_factor_code_check(*, user, code: str) -> bool:
    """Whether `code` is the user's current authenticator code or one of their unused
    recovery codes (which it then uses up). A TOTP code counts once; TOTP is tried first."""
    code = (code or "").strip()
    if not code:
        return False
    for authenticator in Authenticator.objects.filter(user=user, type__in=CODE_TYPES).order_by("-type"):
        if authenticator.wrap().validate_code(code):
            authenticator.record_usage()
            return True
    return False


def second_factor_require(*, user, code: str, to: str) -> None:
    """For a program (the API has no page to ask on): a user with two-factor sign-in sends the
    current code with a sensitive request; refused (400) without it or with a wrong one."""
    if not second_factor_enabled(user=user) or second_factor_code_check(user=user, code=code):
        return
    if not code:
        message = f"Your account has two-factor sign-in: to {to}, send the current code from your authenticator app as `code`."
    else:
        message = "That code is not the current one from your authenticator app, nor an unused recovery code."
    raise ApplicationError(message, {"code": ["required" if not code else "incorrect"]})
