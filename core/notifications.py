"""Tell a user something: a notification row now, an email once the transaction commits;
mark what they have read."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from core.errors import NotFoundError
from core.models import Notification

logger = logging.getLogger(__name__)


def notification_send(*, user, kind: str, title: str, body: str = "", email: bool = True) -> Notification:
    notification = Notification.objects.create(user=user, kind=kind, title=title[:200], body=body)
    if email and user.email:
        _mail_on_commit(notification=notification, address=user.email, title=title, body=body)
    return notification


def _subject(title: str) -> str:
    """A mail subject is one line: a name stored before names were checked (core.names) may
    carry a line break, which Django refuses as header injection, dropping the mail."""
    return " ".join(title.split())[:200]


def _mail_on_commit(*, notification: Notification, address: str, title: str, body: str) -> None:
    def _mail() -> None:
        try:
            send_mail(_subject(title), body or title, settings.DEFAULT_FROM_EMAIL, [address])
        except Exception:  # mail is best effort; the notification row is the record
            logger.exception("notification email failed (notification %s)", notification.pk)

    transaction.on_commit(_mail)


@transaction.atomic
def notification_send_grouped(
    *, user, kind: str, group_key: str, title: str, line: str, replace_kind: bool = False, email: bool = True
) -> Notification:
    """One notification per `group_key` per user: the first outcome creates it (and mails it);
    later ones add their `line` to its body, count it, and mark it unread again, without
    another email. A later outcome changes the kind only with `replace_kind` (the caller
    knows which outcome is the more serious).

    The (user, group_key) constraint makes concurrent senders meet on one row: the loser of
    the insert appends to the winner's row under its lock.
    """
    try:
        with transaction.atomic():
            notification = Notification.objects.create(user=user, kind=kind, title=title[:200], body=line, group_key=group_key)
    except IntegrityError:
        notification = Notification.objects.select_for_update().get(user=user, group_key=group_key)
        Notification.objects.filter(pk=notification.pk).update(
            body=Concat(F("body"), Value("\n" + line)),
            grouped_count=F("grouped_count") + 1,
            read_at=None,
            **({"kind": kind} if replace_kind else {}),
        )
        notification.refresh_from_db()
        return notification
    if email and user.email:
        _mail_on_commit(notification=notification, address=user.email, title=title, body=line)
    return notification


def notification_send_many(*, users, kind: str, title: str, body: str = "", email: bool = True) -> int:
    count = 0
    for user in users:
        notification_send(user=user, kind=kind, title=title, body=body, email=email)
        count += 1
    return count


@transaction.atomic
def notification_mark_read(*, user, notification_id: int) -> Notification:
    notification = Notification.objects.select_for_update().filter(id=notification_id, user=user).first()
    if notification is None:
        raise NotFoundError("Notification not found.")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


@transaction.atomic
def notification_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
