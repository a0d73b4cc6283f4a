"""Tell a user something: a notification row now, an email once the transaction commits;
mark what they have read."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from core.errors import NotFoundError
from core.models import Notification

logger = logging.getLogger(__name__)


def notification_send(*, user, kind: str, title: str, body: str = "", email: bool = True) -> Notification:
    notification = Notification.objects.create(user=user, kind=kind, title=title[:200], body=body)
    if email and user.email:
        address = user.email

        def _mail() -> None:
            try:
                send_mail(title[:200], body or title, settings.DEFAULT_FROM_EMAIL, [address])
            except Exception:  # mail is best effort; the notification row is the record
                logger.exception("notification email failed (notification %s)", notification.pk)

        transaction.on_commit(_mail)
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
