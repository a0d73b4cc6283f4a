"""The sweeper: what a lost message or a crashed worker left behind, enqueued again.

Beat runs it every COPYTRADE_SWEEP_EVERY_SECONDS (5 s). Two kinds of open copied trade are
taken back (copytrade/services/execution.py, "Leases", says who holds a row and how long):

- a row whose lease has ended, at once. A lease is written by every run that picks a row
  up (pending or executing), renewed before each of its exchange calls and, over a wait,
  runs until the re-sent message is due plus a grace. An ended lease therefore means its
  holder is gone: a killed worker (its in-flight runs and the countdown messages it held
  die with it; the broker would give them back only after its visibility timeout, 1 h), or
  a run that failed and released it. A dead worker's rows come back within
  lease + one sweep (~20 s), and are final a few seconds later.
- a row nobody has picked up (no lease) since it was enqueued, when its message must be
  lost: a healthy backlog looks exactly the same (enqueued, not yet picked up) until the
  queue drains to it, and re-sending a backlog every sweep would double it. So:
  - while the broker's execution queue is empty, a row enqueued more than
    COPYTRADE_UNSTARTED_AFTER_SECONDS ago: its message left the queue, so a worker took it,
    and a worker starts what it takes at once (prefetch = its threads); not started by now,
    it died with that worker (a message delivered to a worker that was killed before its
    thread ran the load: the broker would hand it back only after its visibility timeout);
  - whatever the queue holds, a row enqueued more than COPYTRADE_STUCK_AFTER_SECONDS ago
    (longer than a healthy queue takes to drain): lost in the broker (a Redis restart
    without persistence, a failed publish).
  The choice, over a per-message "in-flight" write: the pick-up mark (a lease written by
  the load statement itself, no statement more per follower) and the queue's length (one
  question to the broker per sweep) tell "queued" from "taken by a worker" without adding
  a write per follower; a dead worker's rows come back once the queue has drained.

Taking a row back bumps its `attempts` (the fencing token) and clears its lease in one
statement: a run that outlived its lease can neither send nor record, and a late message of
the replaced chain runs only if nobody has picked the row up by then (one chain per row).
"""

import functools
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from copytrade import rows
from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services import fanout
from core import metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOutcome:
    copied_trade_ids: list[int]
    leader_trade_ids: list[int]


@functools.cache
def _take_back_sql() -> str:
    ct = CopiedTrade
    c = functools.partial(rows.column, ct)
    lost = (
        f"{c('status')} IN ('pending', 'executing') AND ({c('lease_expires_at')} < %(now)s OR ({c('lease_expires_at')} IS NULL AND "
        f"COALESCE({c('enqueued_at')}, {c('recorded_at')}) < %(cutoff)s))"
    )
    return (
        f"UPDATE {rows.table(ct)} SET {c('attempts')} = {c('attempts')} + 1, {c('lease_expires_at')} = NULL, {c('enqueued_at')} = %(now)s "
        f"WHERE {c('id')} IN (SELECT {c('id')} FROM {rows.table(ct)} WHERE {lost} ORDER BY {c('copy')}, {c('sequence')} "
        f"LIMIT %(batch)s FOR UPDATE SKIP LOCKED) AND {rows.unindexed(lost)} "
        f"RETURNING {c('id')}, {c('copy')}, {c('sequence')}"
    )


def copied_trades_sweep(*, stuck_after: timedelta | None = None) -> SweepOutcome:
    """Re-enqueue what a dead worker or a lost message left behind (see the module doc), and
    leader trades whose fan-out never finished. Re-running any of them is safe (insert-or-
    ignore, the claim, the client order id lookup)."""
    stuck_after = stuck_after if stuck_after is not None else timedelta(seconds=settings.COPYTRADE_STUCK_AFTER_SECONDS)
    # Asked before the rows are read: a row enqueued after this answer is newer than the cutoff.
    queued = fanout.execution_queue_length()
    now = timezone.now()
    cutoff = now - stuck_after
    unpicked_cutoff = cutoff
    if queued == 0:  # every message left the queue: an unpicked row's message is with a worker, or lost
        unpicked_cutoff = max(cutoff, now - timedelta(seconds=settings.COPYTRADE_UNSTARTED_AFTER_SECONDS))
    with connection.cursor() as cursor:
        cursor.execute(_take_back_sql(), {"now": now, "cutoff": unpicked_cutoff, "batch": settings.COPYTRADE_SWEEP_BATCH})
        taken = sorted(cursor.fetchall(), key=lambda row: (row[1], row[2]))
    copied_trade_ids = [row[0] for row in taken]
    leader_trade_ids = list(
        LeaderTrade.objects.filter(fanout_done_at__isnull=True, recorded_at__lt=cutoff)
        .order_by("strategy_id", "sequence")
        .values_list("id", flat=True)
    )
    if copied_trade_ids:
        fanout.copied_trades_enqueue(copied_trade_ids)
    for leader_trade_id in leader_trade_ids:
        fanout.leader_trade_fan_out_send(leader_trade_id)
    if copied_trade_ids or leader_trade_ids:
        metrics.sweeper_took_back(copied_trades=len(copied_trade_ids), fan_outs=len(leader_trade_ids))
        logger.warning("sweeper re-enqueued %s copied trade(s) and %s fan-out(s)", len(copied_trade_ids), len(leader_trade_ids))
    return SweepOutcome(copied_trade_ids=copied_trade_ids, leader_trade_ids=leader_trade_ids)
