"""Whether a person has proved they own their email address, and the refusal of what an
unproved sign-up may not do.

A sign-up (django-allauth) records its address unverified; until its owner opens the link
mailed to it, anyone could have typed someone else's address. Such an account gets no API
token and cannot connect exchange accounts, apply as a provider or copy: otherwise whoever
signs up first with another person's address holds a working account in that person's name
(a pre-account takeover). Accounts made by an operator (createsuperuser, admin, scripts)
record no address to verify and are trusted as made.
"""

from allauth.account.models import EmailAddress
from rest_framework import status

from core.errors import ApplicationError


class EmailNotVerifiedError(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN


def user_email_verified(*, user) -> bool:
    """True when one of the user's addresses is verified, or the account recorded none."""
    verified = list(EmailAddress.objects.filter(user=user).values_list("verified", flat=True))
    return any(verified) or not verified


def user_email_verified_require(*, user, to: str) -> None:
    """Refuse (403) `to` (what the person tried, in words) to an account whose address is
    not verified yet, saying how to verify it."""
    if not user_email_verified(user=user):
        raise EmailNotVerifiedError(
            f"Verify your email address before you {to}: open the link in the mail we sent you "
            "when you signed up, or ask for a new one on the Email address page (/accounts/email/)."
        )
