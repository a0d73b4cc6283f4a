"""Tell followers their copies of a leader trade filled: one notification per copy per
leader trade (a partial fill is one outcome, not several), written in a batch once the
fan-out is done, never on the execution's hot path (bench/RESULTS.md counts its statements).

Skips and failures are told as they happen (copytrade/services/execution.py); a fill is
good news that can wait a few seconds for its neighbours.

A pass runs every few seconds while the fan-out is open, so it costs what is left to tell,
not what was told: the copies already told are left out in SQL (their notification exists,
or their GroupedMail row when the follower does not want fills in the app),
and only the columns a notice needs are read, as values (no model instances, no exchange
account keys to decrypt).
"""

from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.reasons import copied_trade_reason_text, sentence
from core.models import GroupedMail, Notification
from core.money import format_money, format_quantity
from core.notifications import Notice, notifications_send_once

FILLED = (CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED)

# What a notice says, and what `copied_trade_reason_text` reads of a row that has a reason.
NOTICE_FIELDS = (
    "copy_id",
    "follower_id",
    "follower__email",
    "copy__exchange_account__label",
    "side",
    "symbol",
    "filled_amount",
    "average_price",
    "fee",
    "quote_currency",
    "reason",
    "reason_detail",
    "follower_size_quote",
    "requested_amount",
)
REASON_FIELDS = ("symbol", "reason", "reason_detail", "follower_size_quote", "filled_amount", "requested_amount")


def fill_group_key(*, copy_id: int, leader_trade_id: int) -> str:
    return f"fill:{copy_id}:{leader_trade_id}"


def leader_trade_fills_notify(*, leader_trade_id: int) -> bool:
    """Notify every copy of the leader trade that filled and has not been told yet; True while
    some of its copied trades are still open (call again: those told are not told twice)."""
    leader_trade = LeaderTrade.objects.filter(pk=leader_trade_id).values("sequence", "strategy__name").first()
    if leader_trade is None:
        return False
    rows = CopiedTrade.objects.filter(leader_trade_id=leader_trade_id)
    untold = (
        rows.filter(status__in=FILLED).annotate(told=_told(leader_trade_id)).filter(told__isnull=True).order_by("id").values(*NOTICE_FIELDS)
    )
    whose = f"by {leader_trade['strategy__name']} (trade #{leader_trade['sequence']})"
    notices = [_notice(trade, leader_trade_id=leader_trade_id, whose=whose) for trade in untold]
    notifications_send_once(kind=Notification.Kind.COPIED_TRADE_FILLED, notices=notices)
    return rows.filter(status__in=CopiedTrade.OPEN).exists()


def _told(leader_trade_id: int):
    """The id of the copied trade's notification, else of its GroupedMail row (by the group key
    `fill_group_key` builds, in SQL), or null: a follower who turned fills off in the app has
    no notification, and is told (mailed, or nothing) once all the same.

    Scalar subqueries, not NOT EXISTS: PostgreSQL turns NOT EXISTS into an anti join, and once
    the tables were analysed it planned that as a hash of every grouped notification ever
    written (a sequential scan of the table), the cheaper plan by its estimate until the table
    holds some hundreds of thousands of rows. A scalar subquery stays a probe of the
    (user, group_key) unique index per filled row of this leader trade, whatever the table's
    size, and COALESCE probes GroupedMail only when the notification is not there (a copy not
    told yet, or told outside the app). The `group_key <> ''` is the notification's partial
    index's predicate, without which the planner may not use it."""
    group_key = Concat(Value("fill:"), Cast(OuterRef("copy_id"), CharField()), Value(f":{leader_trade_id}"), output_field=CharField())
    shown = (
        Notification.objects.filter(user_id=OuterRef("follower_id"), group_key=group_key).exclude(group_key="").order_by().values("id")[:1]
    )
    settled = GroupedMail.objects.filter(user_id=OuterRef("follower_id"), group_key=group_key).order_by().values("id")[:1]
    return Coalesce(Subquery(shown), Subquery(settled))


def _notice(trade: dict, *, leader_trade_id: int, whose: str) -> Notice:
    verb = "Bought" if trade["side"] == "buy" else "Sold"
    body = f"{verb} {format_quantity(trade['filled_amount'])} {trade['symbol']} at {format_quantity(trade['average_price'])}"
    body += f" on '{trade['copy__exchange_account__label']}'; fee {format_money(trade['fee'], trade['quote_currency'])}."
    if trade["reason"]:
        # Rare (a partial fill): the one function that words reasons takes a row.
        reason_row = CopiedTrade(**{name: trade[name] for name in REASON_FIELDS})
        body += f" {sentence(copied_trade_reason_text(reason_row))}"
    return Notice(
        user_id=trade["follower_id"],
        email=trade["follower__email"],
        group_key=fill_group_key(copy_id=trade["copy_id"], leader_trade_id=leader_trade_id),
        title=f"Copied: the {trade['side']} of {trade['symbol']} {whose}",
        body=body,
    )
