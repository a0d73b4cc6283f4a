"""Tell followers their copies of a leader trade filled: one notification per copy per
leader trade (a partial fill is one outcome, not several), written in a batch once the
fan-out is done, never on the execution's hot path (bench/RESULTS.md counts its statements).

Skips and failures are told as they happen (copytrade/services/execution.py); a fill is
good news that can wait a few seconds for its neighbours.
"""

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.reasons import copied_trade_reason_text, sentence
from core.models import Notification
from core.money import format_money, format_quantity
from core.notifications import Notice, notifications_send_once

FILLED = (CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED)


def leader_trade_fills_notify(*, leader_trade_id: int) -> bool:
    """Notify every copy of the leader trade that filled and has not been told yet; True while
    some of its copied trades are still open (call again: those told are not told twice)."""
    leader_trade = LeaderTrade.objects.select_related("strategy").filter(pk=leader_trade_id).first()
    if leader_trade is None:
        return False
    rows = CopiedTrade.objects.filter(leader_trade_id=leader_trade_id)
    filled = rows.filter(status__in=FILLED).select_related("follower", "copy__exchange_account").order_by("id")
    notifications_send_once(kind=Notification.Kind.COPIED_TRADE_FILLED, notices=[_notice(trade, leader_trade) for trade in filled])
    return rows.filter(status__in=CopiedTrade.OPEN).exists()


def _notice(trade: CopiedTrade, leader_trade: LeaderTrade) -> Notice:
    verb = "Bought" if trade.side == "buy" else "Sold"
    body = f"{verb} {format_quantity(trade.filled_amount)} {trade.symbol} at {format_quantity(trade.average_price)}"
    body += f" on '{trade.copy.exchange_account.label}'; fee {format_money(trade.fee, trade.quote_currency)}."
    if trade.reason:
        body += f" {sentence(copied_trade_reason_text(trade))}"
    return Notice(
        user=trade.follower,
        group_key=f"fill:{trade.copy_id}:{leader_trade.pk}",
        title=f"Copied: the {trade.side} of {trade.symbol} by {leader_trade.strategy.name} (trade #{leader_trade.sequence})",
        body=body,
    )
