"""API tokens: create one (the key is returned once), revoke, and authenticate a request's key."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import NotFoundError
from core.models import ApiToken
from core.verification import user_email_verified_require

KEY_PREFIX = "ct_"
SHOWN_PREFIX_LENGTH = 8
# Recording every use would write on every API request; a minute is precise enough to
# tell which tokens are still in use.
LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(key: str) -> str:
    # A key carries 240 random bits: a plain SHA-256 cannot be reversed by guessing.
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_lifetime() -> timedelta:
    return timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)


def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token and its key, valid for API_TOKEN_LIFETIME_DAYS; the key is not stored
    and cannot be shown again. Refused (403) until the user's email address is verified."""
    user_email_verified_require(user=user, to="create an API token")
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken(
        user=user,
        name=name.strip(),
        key_hash=_hash(key),
        prefix=key[:SHOWN_PREFIX_LENGTH],
        expires_at=timezone.now() + api_token_lifetime(),
    )
    token.full_clean()
    token.save()
    return token, key


@transaction.atomic
def api_token_revoke(*, user, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(id=token_id, user=user).first()
    if token is None:
        raise NotFoundError("Token not found.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_revoke_all(*, user) -> int:
    """Revoke every token of the user still in use (log out every program); how many."""
    now = timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).update(revoked_at=now)


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The usable token with this key (its user loaded): not revoked, not expired; or None.
    Records its use."""
    now = timezone.now()
    token = ApiToken.objects.select_related("user").filter(key_hash=_hash(key), revoked_at__isnull=True, expires_at__gt=now).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION), id=token.pk).update(
        last_used_at=now
    )
    return token
