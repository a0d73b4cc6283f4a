"""After an outage, what a copy skipped as too late and what it placed late, told once per
copy: one notification per copy per episode, whose body gains a line per copied trade
(core.notifications.notification_send_grouped), not one notification per order.

An episode is the copy's late outcomes within LATE_SUMMARY_MINUTES of the first one: the
backlog an outage leaves drains in a burst, and a copy's copied trades run one at a time
(per-copy order), so its late lines meet on one row. The episode's group key is found from
the notification, or, for a follower who turned this kind off in the app, from the group's
GroupedMail row: without it every line of theirs would start an episode, and a backlog of
200 orders would mail them 200 times instead of once.
"""

from datetime import datetime, timedelta

from copytrade import lateness
from copytrade.models import CopiedTrade
from copytrade.reasons import seconds_text
from core.models import GroupedMail, Notification
from core.notifications import notification_send_grouped

LATE_SUMMARY_MINUTES = 15


def copied_trade_late_notify(*, trade: CopiedTrade, now: datetime, skipped: bool) -> None:
    """Add the copied trade's line to its copy's summary of late outcomes (a new summary when
    the copy has none from the last LATE_SUMMARY_MINUTES)."""
    copy = trade.copy
    prefix = f"late:{copy.pk}:"
    recent = _episode_key(follower_id=copy.follower_id, prefix=prefix, since=now - timedelta(minutes=LATE_SUMMARY_MINUTES))
    delay = seconds_text(lateness.delay_seconds(trade, now=now))
    what = f"its {trade.side} of {trade.symbol} (trade #{trade.sequence})"
    if skipped:
        line = f"Skipped as too late: {what}, {delay} after the leader's trade."
    else:
        line = f"Placed late: {what}, {delay} after the leader's trade (exits are always copied)."
    if recent is None:  # the episode's first line says the rule
        limit = seconds_text(lateness.limit_seconds())
        line = f"Entries not sent within {limit} of the leader's trade are skipped; exits are placed however late.\n{line}"
    notification_send_grouped(
        user=copy.follower,
        kind=Notification.Kind.COPY_LATE,
        group_key=recent or f"{prefix}{int(now.timestamp())}",
        title=f"Your copy of '{trade.strategy.name}' on '{copy.exchange_account.label}' fell behind the leader",
        line=line,
    )


def _episode_key(*, follower_id: int, prefix: str, since: datetime) -> str | None:
    """The group key of the copy's episode begun since `since`: its notification's, else (the
    app turned off for this kind, so no notification) its GroupedMail row's, else None."""
    for model in (Notification, GroupedMail):
        key = (
            model.objects.filter(user_id=follower_id, group_key__startswith=prefix, created_at__gte=since)
            .order_by("-created_at", "-id")
            .values_list("group_key", flat=True)
            .first()
        )
        if key is not None:
            return key
    return None
