"""A copy's late outcomes told once per episode (copytrade/services/late_notices.py), in the app
and by mail, whether or not the follower shows this kind in the app."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db.models import F
from django.utils import timezone

from copytrade.models import CopiedTrade
from copytrade.services.late_notices import LATE_SUMMARY_MINUTES, copied_trade_late_notify
from core.models import GroupedMail, Notification
from core.notifications import notification_preferences_set
from tests.factories import CopiedTradeFactory, CopyFactory, LeaderTradeFactory

pytestmark = pytest.mark.django_db


def late_entries(copy, count: int) -> list[CopiedTrade]:
    """`count` entries of the copy skipped as too late, as a backlog after an outage leaves them."""
    traded_at = timezone.now() - timedelta(minutes=5)
    return [
        CopiedTradeFactory(
            copy=copy,
            leader_trade=LeaderTradeFactory(strategy=copy.strategy, traded_at=traded_at),
            side="buy",
            effect="open",
            status=CopiedTrade.Status.SKIPPED,
            reason=CopiedTrade.Reason.TOO_LATE,
        )
        for _ in range(count)
    ]


def test_a_follower_with_the_app_off_and_mail_on_is_mailed_once_per_late_episode(follower, django_capture_on_commit_callbacks):
    # given a follower who wants late notices by mail only, and a backlog of late entries
    notification_preferences_set(user=follower, choices={Notification.Kind.COPY_LATE: (False, True)})
    copy = CopyFactory(follower=follower)
    trades = late_entries(copy, 5)

    # when each is told as the backlog drains, a line every half minute
    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        for number, trade in enumerate(trades):
            copied_trade_late_notify(trade=trade, now=start + timedelta(seconds=30 * number), skipped=True)

    # then one mail, its first line saying the rule, and no notification
    [message] = mail.outbox
    assert message.to == [follower.email]
    assert message.body.startswith("Entries not sent within")
    assert GroupedMail.objects.filter(user=follower, group_key__startswith=f"late:{copy.pk}:").count() == 1
    assert not Notification.objects.filter(user=follower).exists()


def test_a_follower_with_the_app_on_has_one_notification_and_one_mail_per_late_episode(follower, django_capture_on_commit_callbacks):
    notification_preferences_set(user=follower, choices={Notification.Kind.COPY_LATE: (True, True)})
    copy = CopyFactory(follower=follower)

    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        for number, trade in enumerate(late_entries(copy, 3)):
            copied_trade_late_notify(trade=trade, now=start + timedelta(seconds=30 * number), skipped=True)

    [late] = Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_LATE)
    assert (late.grouped_count, late.body.count("Skipped as too late")) == (3, 3)
    assert [message.to for message in mail.outbox] == [[follower.email]]


@pytest.mark.parametrize("in_app", [False, True], ids=["app off", "app on"])
def test_late_outcomes_after_the_summary_window_start_a_new_episode_and_a_new_mail(in_app, follower, django_capture_on_commit_callbacks):
    # given a follower mailed about a copy's first late episode
    notification_preferences_set(user=follower, choices={Notification.Kind.COPY_LATE: (in_app, True)})
    copy = CopyFactory(follower=follower)
    first, second, third = late_entries(copy, 3)
    with django_capture_on_commit_callbacks(execute=True):
        copied_trade_late_notify(trade=first, now=timezone.now(), skipped=True)

    # when late outcomes come again past LATE_SUMMARY_MINUTES (the first episode's rows aged as if)
    for model in (Notification, GroupedMail):
        model.objects.filter(user=follower).update(created_at=F("created_at") - timedelta(minutes=LATE_SUMMARY_MINUTES, seconds=1))
    later = timezone.now() + timedelta(minutes=1)  # a group key is the episode's first second: not the first episode's
    with django_capture_on_commit_callbacks(execute=True):
        copied_trade_late_notify(trade=second, now=later, skipped=False)
        copied_trade_late_notify(trade=third, now=later + timedelta(seconds=30), skipped=True)

    # then the new episode is mailed once more, its first line saying the rule again
    assert len(mail.outbox) == 2
    assert mail.outbox[1].body.startswith("Entries not sent within")
    assert "Placed late" in mail.outbox[1].body
