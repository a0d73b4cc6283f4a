"""Sensitive pages ask for the second factor again: a person with two-factor sign-in who has
not given a code in this session for a while (ACCOUNT_REAUTHENTICATION_TIMEOUT) confirms with
one before adding an exchange key or creating an API token. The form is only shown after, so
nothing secret is ever kept in the session while they confirm."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from core.second_factor import second_factor_enabled, second_factor_recent


def second_factor_due(request) -> bool:
    """Whether this request must confirm with a code before a sensitive action."""
    return second_factor_enabled(user=request.user) and not second_factor_recent(request=request)


def second_factor_url(request) -> str:
    """allauth's "confirm with your authenticator" page, coming back here after."""
    return f"{reverse('mfa_reauthenticate')}?{urlencode({'next': request.path})}"


def second_factor_ask(request, *, to: str):
    messages.info(request, f"To {to}, confirm with a code from your authenticator app first.")
    return redirect(second_factor_url(request))
