"""Late entries never placed (issue 27): how long after the leader's trade an order goes out,
and the rule that an entry past COPY_MAX_ENTRY_DELAY_SECONDS is skipped "too late".

The clock starts at the leader trade's `traded_at`: the leader's fill (a linked account, or
exchange sync) or, for a signal-only leader, the moment the signal arrived (the intake
records it then). Only a mirror of the leader's entry (open, increase) can be too late: an
exit is always placed, however late, since a follower must never keep a position the leader
has left; the platform's own orders (stop-loss, close on stop, resync) follow no leader trade.

Execution asks right before an order is sent (after any rate-limit wait, on every attempt),
never once the order may have been sent: an order whose outcome is unknown is looked up by
its client order id first (copytrade/services/execution.py).
"""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from copytrade import sizing
from copytrade.models import CopiedTrade
from copytrade.risk import RiskSkip

_TENTH = Decimal("0.1")


def delay_seconds(trade: CopiedTrade, *, now: datetime) -> Decimal | None:
    """Seconds from the leader's trade to `now` (None: the row follows no leader trade)."""
    if trade.leader_trade_id is None or trade.leader_trade is None:
        return None
    return Decimal(str((now - trade.leader_trade.traded_at).total_seconds())).quantize(_TENTH, rounding=ROUND_HALF_UP)


def limit_seconds() -> Decimal:
    return Decimal(str(settings.COPY_MAX_ENTRY_DELAY_SECONDS))


def is_late(trade: CopiedTrade, *, now: datetime) -> bool:
    """Whether an order of this row sent `now` goes out past the limit (entry or exit)."""
    delay = delay_seconds(trade, now=now)
    return delay is not None and delay > limit_seconds()


def check_entry_in_time(trade: CopiedTrade, *, now: datetime) -> None:
    """Raise RiskSkip(too_late) for a mirrored entry whose leader trade is older than the limit."""
    if trade.kind != CopiedTrade.Kind.MIRROR or not sizing.is_entry(trade.effect) or not is_late(trade, now=now):
        return
    delay, limit = delay_seconds(trade, now=now), limit_seconds()
    raise RiskSkip(
        CopiedTrade.Reason.TOO_LATE,
        f"The entry would go out {delay} s after the leader's trade, past the {limit} s limit (COPY_MAX_ENTRY_DELAY_SECONDS).",
        detail={"delay_seconds": str(delay), "limit_seconds": str(limit)},
    )
