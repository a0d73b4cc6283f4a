"""Outcomes that belong together make one notification, not one each (core.notifications)."""

import pytest
from django.core import mail

from core.models import Notification
from core.notifications import notification_mark_read, notification_preferences_set, notification_send_grouped

pytestmark = pytest.mark.django_db


def test_outcomes_of_one_leader_trade_for_one_follower_make_one_notification(follower, stranger, django_capture_on_commit_callbacks):
    # given a follower told that one copy of a leader trade was skipped, who read it (both
    # users asked for skips by email too)
    for user in (follower, stranger):
        notification_preferences_set(user=user, choices={Notification.Kind.COPIED_TRADE_SKIPPED: (True, True)})
    with django_capture_on_commit_callbacks(execute=True):
        first = notification_send_grouped(
            user=follower,
            kind=Notification.Kind.COPIED_TRADE_SKIPPED,
            group_key="leader-trade:7",
            title="Not copied: its buy of BTC/USDT (trade #7) of 'Trend'",
            line="Skipped on 'Binance' (slippage_exceeded): ...",
        )
        notification_mark_read(user=follower, notification_id=first.pk)

        # when another copy of the same trade fails, and another follower's is skipped
        second = notification_send_grouped(
            user=follower,
            kind=Notification.Kind.COPIED_TRADE_FAILED,
            group_key="leader-trade:7",
            title="Not copied: its buy of BTC/USDT (trade #7) of 'Trend'",
            line="Failed on 'Paper' (order_rejected): ...",
            replace_kind=True,
        )
        notification_send_grouped(
            user=stranger,
            kind=Notification.Kind.COPIED_TRADE_SKIPPED,
            group_key="leader-trade:7",
            title="Not copied",
            line="Skipped",
        )

    # then the follower has one notification, unread again, with both outcomes and the more serious kind
    assert second.pk == first.pk
    [notification] = Notification.objects.filter(user=follower)
    assert notification.body == "Skipped on 'Binance' (slippage_exceeded): ...\nFailed on 'Paper' (order_rejected): ..."
    assert (notification.grouped_count, notification.read_at, notification.kind) == (2, None, Notification.Kind.COPIED_TRADE_FAILED)
    assert Notification.objects.filter(user=stranger).count() == 1
    # one email per notification, not per outcome
    assert sorted(message.to[0] for message in mail.outbox) == sorted([follower.email, stranger.email])


def test_a_follower_who_turned_the_app_off_is_mailed_the_first_outcome_of_a_group_only(follower, django_capture_on_commit_callbacks):
    notification_preferences_set(user=follower, choices={Notification.Kind.COPIED_TRADE_SKIPPED: (False, True)})

    with django_capture_on_commit_callbacks(execute=True):
        for line in ("Skipped on 'Binance' (slippage_exceeded): ...", "Skipped on 'Paper' (below_minimum): ..."):
            notification_send_grouped(
                user=follower, kind=Notification.Kind.COPIED_TRADE_SKIPPED, group_key="leader-trade:7", title="Not copied", line=line
            )

    assert [(message.to, message.body) for message in mail.outbox] == [([follower.email], "Skipped on 'Binance' (slippage_exceeded): ...")]
    assert not Notification.objects.filter(user=follower).exists()
