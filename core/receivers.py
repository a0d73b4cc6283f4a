"""core's answers to django-allauth's signals."""

from allauth.account.signals import password_changed, password_reset, password_set
from django.dispatch import receiver

from core.tokens import api_token_revoke_all


@receiver(password_changed)
@receiver(password_set)
@receiver(password_reset)
def revoke_api_tokens_on_a_new_password(sender, *, request, user, **kwargs) -> None:
    """A new password ends every API token of the account: a token made by someone who knew
    the old one (or who signed up with this address before its owner) must not outlive it."""
    api_token_revoke_all(user=user)
