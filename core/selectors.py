"""Reads of what every app shares."""

import hashlib

from django.db.models import QuerySet

from core.models import ApiToken, AuditEntry, Notification, NotificationPreference, Profile


def notification_list(*, user, unread_only: bool = False) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(user=user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-created_at", "-id")


def notification_preferences(*, user) -> list[tuple[str, str, bool, bool]]:
    """(kind, its label, in app, by email) for every kind: the user's choice, else the default."""
    chosen = {pref.kind: (pref.in_app, pref.email) for pref in NotificationPreference.objects.filter(user=user)}
    return [(kind, label, *chosen.get(kind, (True, kind in Notification.EMAIL_BY_DEFAULT))) for kind, label in Notification.Kind.choices]


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


def audit_entry_list(*, action: str = "", target_type: str = "", target_id: str = ""):
    """The audit trail, newest first, narrowed by what is given."""
    entries = AuditEntry.objects.all()
    if action:
        entries = entries.filter(action=action)
    if target_type:
        entries = entries.filter(target_type=target_type)
    if target_id:
        entries = entries.filter(target_id=target_id)
    return entries.order_by("-at", "-id")
