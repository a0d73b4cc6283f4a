"""Reads of what every app shares."""

import hashlib

from django.db.models import QuerySet

from core.models import ApiToken, Notification, Profile


def notification_list(*, user, unread_only: bool = False) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(user=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-id")


def notification_unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def display_name(user) -> str:
    """How other people see `user`: the display name chosen at sign-up, never the username
    or email. A user without a profile (made by an admin or a script) gets a stable masked
    name. Load many users with `select_related("<user>__profile")` to read no row per user."""
    try:
        return user.profile.display_name
    except Profile.DoesNotExist:
        # The digest, not the id itself: how many users signed up before this one is nobody's business.
        return "Trader " + hashlib.sha256(f"copytrade-user-{user.pk}".encode()).hexdigest()[:6].upper()


def api_token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")
