"""What the platform forgets, and when (core/retention.py): notifications, the records that a
group of notices was mailed, expired sessions; in batches, daily."""

import os
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.models import GroupedMail, Notification
from core.notifications import notification_preferences_set, notification_send_grouped
from core.retention import operational_rows_prune
from core.tasks import prune_operational_rows

pytestmark = pytest.mark.django_db


def aged(queryset, *, days: float) -> None:
    queryset.update(created_at=F("created_at") - timedelta(days=days))


def notifications(user, count: int, *, read: bool = False) -> list[Notification]:
    return [
        Notification.objects.create(
            user=user, kind=Notification.Kind.COPY_PAUSED, title=f"n{number}", read_at=timezone.now() if read else None
        )
        for number in range(count)
    ]


def grouped_mails(user, count: int, *, prefix: str) -> list[GroupedMail]:
    return [GroupedMail.objects.create(user=user, group_key=f"{prefix}:{number}") for number in range(count)]


def session(*, expires_in: timedelta) -> Session:
    return Session.objects.create(session_key=os.urandom(16).hex(), session_data="e30", expire_date=timezone.now() + expires_in)


def test_rows_past_their_retention_go_and_newer_ones_stay(follower, stranger, settings):
    # given notifications read and unread, mail records and sessions, on both sides of their retention
    settings.NOTIFICATION_RETENTION_DAYS, settings.GROUPED_MAIL_RETENTION_DAYS = 90, 30
    old_unread, old_read = notifications(follower, 2), notifications(stranger, 2, read=True)
    aged(Notification.objects.all(), days=91)
    recent = notifications(follower, 1) + notifications(stranger, 1, read=True)
    aged(Notification.objects.filter(pk__in=[n.pk for n in recent]), days=89)
    old_mails = grouped_mails(follower, 3, prefix="fill:1")
    aged(GroupedMail.objects.all(), days=31)
    recent_mails = grouped_mails(follower, 2, prefix="late:1")
    aged(GroupedMail.objects.filter(pk__in=[m.pk for m in recent_mails]), days=29)
    expired, alive = session(expires_in=-timedelta(seconds=1)), session(expires_in=timedelta(days=1))

    # when the prune runs
    outcome = operational_rows_prune(now=timezone.now(), batch_size=100, max_batches=10)

    # then only the old rows are gone
    assert outcome.finished
    assert outcome.deleted == {"notifications": 4, "grouped mails": 3, "expired sessions": 1}
    assert set(Notification.objects.values_list("pk", flat=True)) == {n.pk for n in recent}
    assert set(GroupedMail.objects.values_list("pk", flat=True)) == {m.pk for m in recent_mails}
    assert list(Session.objects.values_list("session_key", flat=True)) == [alive.session_key]
    assert not {n.pk for n in old_unread + old_read} & set(Notification.objects.values_list("pk", flat=True))
    assert not GroupedMail.objects.filter(pk__in=[m.pk for m in old_mails]).exists()
    assert not Session.objects.filter(session_key=expired.session_key).exists()


def test_it_deletes_in_batches_of_one_statement_each_and_stops_after_its_batches(follower):
    # given seven old notifications and five old mail records
    notifications(follower, 7)
    grouped_mails(follower, 5, prefix="leader-trade")
    aged(Notification.objects.all(), days=365)
    aged(GroupedMail.objects.all(), days=365)

    # when a run of at most three batches of three rows prunes
    with CaptureQueriesContext(connection) as queries:
        first = operational_rows_prune(now=timezone.now(), batch_size=3, max_batches=3)

    # then it deleted three batches, one DELETE of at most three rows each, and says rows are left
    deletes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 3 and all("LIMIT 3" in sql for sql in deletes)
    assert (first.deleted, first.finished) == ({"notifications": 7, "grouped mails": 0, "expired sessions": 0}, False)
    assert Notification.objects.count() == 0 and GroupedMail.objects.count() == 5

    # and the next run finishes what is left
    second = operational_rows_prune(now=timezone.now(), batch_size=3, max_batches=10)
    assert (second.deleted, second.finished) == ({"notifications": 0, "grouped mails": 5, "expired sessions": 0}, True)
    assert GroupedMail.objects.count() == 0


def test_a_retention_too_short_for_the_groups_it_guards_is_refused(settings):
    settings.GROUPED_MAIL_RETENTION_DAYS = 1

    with pytest.raises(ImproperlyConfigured, match="GROUPED_MAIL_RETENTION_DAYS"):
        operational_rows_prune(now=timezone.now(), batch_size=10, max_batches=1)


def test_a_follower_mailed_for_a_group_in_use_is_not_mailed_again_after_the_prune(follower, django_capture_on_commit_callbacks):
    # given a follower who shows skips nowhere in the app, mailed the first skip of a leader trade's copies a day ago
    notification_preferences_set(user=follower, choices={Notification.Kind.COPIED_TRADE_SKIPPED: (False, True)})

    def skipped(line: str) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            notification_send_grouped(
                user=follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED, group_key="leader-trade:9", title="Not copied", line=line
            )

    skipped("Skipped on 'Binance'")
    aged(GroupedMail.objects.all(), days=1)

    # when the prune runs, then another copy of that trade is skipped
    operational_rows_prune(now=timezone.now(), batch_size=100, max_batches=10)
    skipped("Skipped on 'Bybit'")

    # then the group was mailed once
    assert [message.body for message in mail.outbox] == ["Skipped on 'Binance'"]


def test_the_prune_is_scheduled_daily_and_its_task_sends_itself_again_while_rows_are_left(follower, settings, monkeypatch):
    # the beat schedule has it
    call_command("sync_beat_schedule", stdout=open(os.devnull, "w"))
    task = PeriodicTask.objects.get(task="core.tasks.prune_operational_rows")
    assert (task.enabled, task.interval, task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == (True, None, "30", "3", "*")

    # and a run that leaves old rows sends the task again, one that finishes does not
    settings.RETENTION_PRUNE_BATCH_SIZE, settings.RETENTION_PRUNE_BATCHES_PER_RUN = 2, 1
    notifications(follower, 3)
    aged(Notification.objects.all(), days=365)
    sent = []
    monkeypatch.setattr(prune_operational_rows, "apply_async", lambda **options: sent.append(options))

    assert prune_operational_rows() == {"notifications": 2, "grouped mails": 0, "expired sessions": 0}
    assert sent == [{"countdown": settings.RETENTION_PRUNE_PAUSE_SECONDS}]
    settings.RETENTION_PRUNE_BATCHES_PER_RUN = 10
    assert prune_operational_rows() == {"notifications": 1, "grouped mails": 0, "expired sessions": 0}
    assert len(sent) == 1
