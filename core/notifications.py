"""Tell a user something: a notification row now, an email once the transaction commits;
mark what they have read. Each user's preferences (NotificationPreference) decide, per kind,
whether the row is written and whether the mail is sent; `email=False` from a caller turns
the mail off whatever they chose."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from core.errors import ApplicationError, NotFoundError
from core.models import GroupedMail, Notification, NotificationPreference

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
        # No row to meet on: the group's GroupedMail row says whether it was mailed already.
        if email and mailed and user.email:
            notice = Notice(user_id=user.pk, email=user.email, group_key=group_key, title=title, body=line)
            if _settle_mail_once(notices=[notice], now=timezone.now()):
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
    """One user's notification of a batch: `group_key` makes it once per user, whatever the reruns.
    The user by id and address, not as a model instance: a batch reads only those columns."""

    user_id: int
    email: str
    group_key: str
    title: str
    body: str


@transaction.atomic
def notifications_send_once(*, kind: str, notices: list[Notice]) -> int:
    """A batch of notifications of one kind, each at most once per (user, group_key) and
    channel: a rerun of the batch adds nothing and mails nobody again. Preferences are read
    in one statement and each channel's rows written in one. How many were new (shown or
    settled for the first time).

    Each channel has its own row, and new is what that row's insert itself reports (ON
    CONFLICT DO NOTHING ... RETURNING, on its (user, group_key) constraint): the Notification
    row for the app, a GroupedMail row for the mail. Two batches that overlap both try every
    row, and only the one whose insert wrote it shows or mails it, whatever either read of
    the preferences. A notice shown nowhere gets a GroupedMail row too (settled, not mailed),
    so that the caller, which leaves out the notices with either row, does not read it again.
    One transaction: the mails go once both rows are committed."""
    if not notices:
        return 0
    # A notice twice in one batch would otherwise be mailed twice: both its copies would match the one row written.
    notices = list({(notice.user_id, notice.group_key): notice for notice in notices}.values())
    wanted = notification_wanted(user_ids={notice.user_id for notice in notices}, kind=kind)

    def mailed(notice: Notice) -> bool:
        return wanted[notice.user_id][1] and bool(notice.email)

    now = timezone.now()
    shown = _insert_once(kind=kind, notices=[notice for notice in notices if wanted[notice.user_id][0]], now=now)
    settled = _settle_mail_once(notices=[notice for notice in notices if mailed(notice) or not wanted[notice.user_id][0]], now=now)
    for notice in notices:
        if (notice.user_id, notice.group_key) in settled and mailed(notice):
            _mail_on_commit(address=notice.email, title=notice.title, body=notice.body, kind=kind)
    return len({*shown, *settled})


def _in_lock_order(notices: list[Notice]) -> list[Notice]:
    """Rows are inserted, hence locked until commit, in one order whatever the batch, so two
    overlapping batches wait for each other instead of deadlocking."""
    return sorted(notices, key=lambda notice: (notice.user_id, notice.group_key))


def _insert_once(*, kind: str, notices: list[Notice], now: datetime) -> set[tuple[int, str]]:
    """Insert the notices' rows in one statement, none whose (user, group_key) exists; the
    (user_id, group_key) of those it wrote. The conflict target names the partial unique
    index `notification_group_unique` by its columns and predicate."""
    if not notices:
        return set()
    notices = _in_lock_order(notices)
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (user_id, kind, title, body, group_key, grouped_count, created_at)
            SELECT n.user_id, %s, n.title, n.body, n.group_key, 1, %s
            FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS n(user_id, title, body, group_key)
            ON CONFLICT (user_id, group_key) WHERE NOT (group_key = '') DO NOTHING
            RETURNING user_id, group_key
            """,
            [
                kind,
                now,
                [notice.user_id for notice in notices],
                [notice.title[:200] for notice in notices],
                [notice.body for notice in notices],
                [notice.group_key for notice in notices],
            ],
        )
        return set(cursor.fetchall())


def _settle_mail_once(*, notices: list[Notice], now: datetime) -> set[tuple[int, str]]:
    """Write the notices' GroupedMail rows in one statement, none whose (user, group_key)
    exists; the (user_id, group_key) of those it wrote, which are the ones to mail."""
    if not notices:
        return set()
    notices = _in_lock_order(notices)
    table = GroupedMail._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (user_id, group_key, created_at)
            SELECT n.user_id, n.group_key, %s
            FROM unnest(%s::bigint[], %s::text[]) AS n(user_id, group_key)
            ON CONFLICT (user_id, group_key) DO NOTHING
            RETURNING user_id, group_key
            """,
            [now, [notice.user_id for notice in notices], [notice.group_key for notice in notices]],
        )
        return set(cursor.fetchall())


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
