"""What the platform forgets: rows kept only to run it, never a record of money or of what the
market or an exchange said, deleted once they can no longer matter (beat, daily:
`core.tasks.prune_operational_rows`, config/beat.py; docs/OPERATING.md, "Retention").

- Notifications (read or not) older than NOTIFICATION_RETENTION_DAYS.
- GroupedMail rows older than GROUPED_MAIL_RETENTION_DAYS. A row is what stops a group's
  second mail to a follower who turned the app off, so it must outlive every group that can
  still gain a line: a late episode (LATE_SUMMARY_MINUTES, copytrade/services/late_notices.py),
  a leader trade's fill notices (retried for COPYTRADE_FILL_NOTICE_SECONDS x
  COPYTRADE_FILL_NOTICE_MAX_RETRIES after its fan-out, copytrade/services/fill_notices.py),
  the skips and failures of a leader trade's copies (until the last of them is final, minutes
  after the fan-out, longer only by an outage's backlog) and a copied trade's own outcome
  (once): minutes, hours after an outage. A follower who shows the kind in the app meets on
  its Notification row instead, so the same holds for NOTIFICATION_RETENTION_DAYS.
  `retention_days` refuses either shorter than LONGEST_GROUP_DAYS.
- Django sessions past their expiry date (what `manage.py clearsessions` deletes, batched).

Each table is deleted in batches of RETENTION_PRUNE_BATCH_SIZE rows, one statement and one
transaction each (autocommit), so no batch holds its locks long and none is one giant
DELETE; a run stops after `max_batches` and says whether rows are left for the next.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

from core.models import GroupedMail, Notification

# The longest any group of notifications can still gain a line, with margin: the late
# episodes' 15 minutes, the fill notices' 10, a backlog after a day-long outage. A
# retention shorter than this could mail a follower twice for one group.
LONGEST_GROUP_DAYS = 7


@dataclass(frozen=True)
class PruneOutcome:
    deleted: dict[str, int]
    finished: bool  # False: the run's batches ran out with old rows left (run again)


def operational_rows_prune(*, now: datetime, batch_size: int, max_batches: int) -> PruneOutcome:
    """Delete what is past its retention as of `now`, table by table, in at most `max_batches`
    batches of `batch_size` rows in all."""
    notification_days, grouped_mail_days = retention_days()
    tables = {
        "notifications": _older(Notification, field="created_at", before=now - timedelta(days=notification_days)),
        "grouped mails": _older(GroupedMail, field="created_at", before=now - timedelta(days=grouped_mail_days)),
        "expired sessions": Session.objects.filter(expire_date__lt=now).order_by("expire_date"),
    }
    deleted = dict.fromkeys(tables, 0)
    batches_left = max_batches
    for name, old in tables.items():
        while batches_left:
            batches_left -= 1
            count = _delete_batch(old, batch_size=batch_size)
            deleted[name] += count
            if count < batch_size:
                break
        else:
            return PruneOutcome(deleted=deleted, finished=False)
    return PruneOutcome(deleted=deleted, finished=True)


def retention_days() -> tuple[int, int]:
    """(notifications, GroupedMail rows): refused when either is too short for its groups."""
    days = (settings.NOTIFICATION_RETENTION_DAYS, settings.GROUPED_MAIL_RETENTION_DAYS)
    if min(days) < LONGEST_GROUP_DAYS:
        raise ImproperlyConfigured(
            f"NOTIFICATION_RETENTION_DAYS and GROUPED_MAIL_RETENTION_DAYS must be at least {LONGEST_GROUP_DAYS}: "
            "a shorter one could mail a follower twice for one group of notifications."
        )
    return days


def _older(model, *, field: str, before: datetime) -> QuerySet:
    """The model's rows whose `field` is before `before`, by primary key. Neither table has an
    index on its time, and none is worth its cost on every insert: ids grow with the time, so
    the rows are those below the first id at or after `before` (found by walking the primary
    key from its start, over the old rows only), and a batch is a range of the primary key.
    The time is tested too: a row inserted a moment out of order waits for the next run."""
    old = model.objects.filter(**{f"{field}__lt": before}).order_by("pk")
    first_kept = model.objects.filter(**{f"{field}__gte": before}).order_by("pk").values_list("pk", flat=True).first()
    return old if first_kept is None else old.filter(pk__lt=first_kept)


def _delete_batch(old: QuerySet, *, batch_size: int) -> int:
    """One DELETE of the first `batch_size` rows of `old` (no signals listen: a single
    statement, `DELETE ... WHERE pk IN (SELECT pk ... LIMIT n)`)."""
    deleted, _ = old.model.objects.filter(pk__in=old.values("pk")[:batch_size]).delete()
    return deleted
