"""Tell a user something: a notification row now, an email once the transaction commits;
mark what they have read. Each user's preferences (NotificationPreference) decide, per kind,
whether the row is written and whether the mail is sent; `email=False` from a caller turns
the mail off whatever they chose."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from core.errors import ApplicationError, NotFoundError
from core.models import Notification, NotificationPreference

logger = logging.getLogger(__name__)


def notification_wanted(*, user_ids, kind: str) -> dict[int, tuple[bool, bool]]:
    """(in app, by email) per user for one kind: their choice, else the kind's default."""
    default = (True, kind in Notification.EMAIL_BY_DEFAULT)
    chosen = {
        user_id: (in_app, email)
        for user_id, in_app, email in NotificationPreference.objects.filter(user_id__in=list(user_ids), kind=kind).values_list(
            "user_id", "in_app", "email"
        )
    }
    return {user_id: chosen.get(user_id, default) for user_id in user_ids}


def notification_send(*, user, kind: str, title: str, body: str = "", email: bool = True) -> Notification | None:
    """The row (None when the user turned this kind off in the app) and the mail, as they chose."""
    in_app, mailed = notification_wanted(user_ids=[user.pk], kind=kind)[user.pk]
    notification = Notification.objects.create(user=user, kind=kind, title=title[:200], body=body) if in_app else None
    if email and mailed and user.email:
        _mail_on_commit(address=user.email, title=title, body=body, kind=kind)
    return notification


def _subject(title: str) -> str:
    """A mail subject is one line: a name stored before names were checked (core.names) may
    carry a line break, which Django refuses as header injection, dropping the mail."""
    return " ".join(title.split())[:200]


def _mail_on_commit(*, address: str, title: str, body: str, kind: str) -> None:
    def _mail() -> None:
        try:
            send_mail(_subject(title), body or title, settings.DEFAULT_FROM_EMAIL, [address])
        except Exception:  # mail is best effort; the notification row is the record
            logger.exception("notification email failed (%s)", kind)

    transaction.on_commit(_mail)


@transaction.atomic
def notification_send_grouped(
    *, user, kind: str, group_key: str, title: str, line: str, replace_kind: bool = False, email: bool = True
) -> Notification | None:
    """One notification per `group_key` per user: the first outcome creates it (and mails it);
    later ones add their `line` to its body, count it, and mark it unread again, without
    another email. A later outcome changes the kind only with `replace_kind` (the caller
    knows which outcome is the more serious).

    The (user, group_key) constraint makes concurrent senders meet on one row: the loser of
    the insert appends to the winner's row under its lock.
    """
    in_app, mailed = notification_wanted(user_ids=[user.pk], kind=kind)[user.pk]
    if not in_app:
        if email and mailed and user.email:
            _mail_on_commit(address=user.email, title=title, body=line, kind=kind)
        return None
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
    if email and mailed and user.email:
        _mail_on_commit(address=user.email, title=title, body=line, kind=kind)
    return notification


@dataclass(frozen=True)
class Notice:
    """One user's notification of a batch: `group_key` makes it once per user, whatever the reruns."""

    user: object
    group_key: str
    title: str
    body: str


def notifications_send_once(*, kind: str, notices: list[Notice]) -> int:
    """A batch of notifications of one kind, each at most once per (user, group_key): a rerun
    of the batch adds nothing and mails nobody again. Preferences are read in one statement
    and the rows written in one. How many were new."""
    if not notices:
        return 0
    wanted = notification_wanted(user_ids={notice.user.pk for notice in notices}, kind=kind)
    keys = {notice.group_key for notice in notices}
    already = set(Notification.objects.filter(user_id__in=list(wanted), group_key__in=keys).values_list("user_id", "group_key"))
    new = [notice for notice in notices if (notice.user.pk, notice.group_key) not in already]
    Notification.objects.bulk_create(
        [
            Notification(user=notice.user, kind=kind, title=notice.title[:200], body=notice.body, group_key=notice.group_key)
            for notice in new
            if wanted[notice.user.pk][0]
        ],
        ignore_conflicts=True,
    )
    for notice in new:
        if wanted[notice.user.pk][1] and notice.user.email:
            _mail_on_commit(address=notice.user.email, title=notice.title, body=notice.body, kind=kind)
    return len(new)


def notification_send_many(*, users, kind: str, title: str, body: str = "", email: bool = True) -> int:
    count = 0
    for user in users:
        notification_send(user=user, kind=kind, title=title, body=body, email=email)
        count += 1
    return count


@transaction.atomic
def notification_preferences_set(*, user, choices: dict[str, tuple[bool, bool]]) -> None:
    """Record a user's (in app, by email) choice per kind; a kind left out keeps its choice."""
    unknown = set(choices) - set(Notification.Kind.values)
    if unknown:
        raise ApplicationError(f"Unknown notification kind: {', '.join(sorted(unknown))}.")
    for kind, (in_app, email) in choices.items():
        NotificationPreference.objects.update_or_create(user=user, kind=kind, defaults={"in_app": in_app, "email": email})


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
