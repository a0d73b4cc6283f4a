"""The sweeper: what a lost message or a crashed worker left behind, enqueued again."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services import fanout

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOutcome:
    copied_trade_ids: list[int]
    leader_trade_ids: list[int]


def copied_trades_sweep(*, stuck_after: timedelta | None = None) -> SweepOutcome:
    """Re-enqueue what a lost message or a crashed worker left behind: pending copied trades
    enqueued more than `stuck_after` ago, executing ones whose lease expired that long ago,
    and leader trades whose fan-out never finished. Re-running any of them is safe (insert-or-
    ignore, the claim, the client order id lookup)."""
    stuck_after = stuck_after if stuck_after is not None else timedelta(seconds=settings.COPYTRADE_STUCK_AFTER_SECONDS)
    now = timezone.now()
    cutoff = now - stuck_after
    stuck = Q(status=CopiedTrade.Status.PENDING) & (Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, recorded_at__lt=cutoff))
    stuck |= Q(status=CopiedTrade.Status.EXECUTING) & (Q(lease_expires_at__lt=cutoff) | Q(lease_expires_at__isnull=True))
    copied_trade_ids = list(
        CopiedTrade.objects.filter(stuck).order_by("relationship_id", "sequence").values_list("id", flat=True)[: settings.COPYTRADE_SWEEP_BATCH]
    )
    leader_trade_ids = list(
        LeaderTrade.objects.filter(fanout_done_at__isnull=True, recorded_at__lt=cutoff).order_by("strategy_id", "sequence").values_list("id", flat=True)
    )
    if copied_trade_ids:
        CopiedTrade.objects.filter(id__in=copied_trade_ids).update(enqueued_at=now)
        fanout.copied_trades_enqueue(copied_trade_ids)
    for leader_trade_id in leader_trade_ids:
        fanout.leader_trade_fan_out_send(leader_trade_id)
    if copied_trade_ids or leader_trade_ids:
        logger.warning("sweeper re-enqueued %s copied trade(s) and %s fan-out(s)", len(copied_trade_ids), len(leader_trade_ids))
    return SweepOutcome(copied_trade_ids=copied_trade_ids, leader_trade_ids=leader_trade_ids)
