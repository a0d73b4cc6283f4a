"""Fan-out: one copied trade per eligible copy of a leader trade, one execution task each."""

import functools
import logging
import random
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import connection
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from copytrade import rows, sizing
from copytrade.client_order_ids import copied_trade_client_order_id
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade

logger = logging.getLogger(__name__)


FAN_OUT_BATCH = 1000
FAN_OUT_TASK = "copytrade.tasks.fan_out_leader_trade"
EXECUTE_TASK = "copytrade.tasks.execute_copied_trade"


@dataclass(frozen=True)
class FanOutOutcome:
    copied_trade_ids: list[int]
    retry_in: float | None = None  # the strategy's previous fan-out is not done yet


def leader_trade_fan_out(*, leader_trade_id: int, after: int | None = None, until: int | None = None) -> FanOutOutcome:
    """One copied trade per eligible copy, then one execution task per pending row.

    Entries go to active copies; reductions and closes to active and paused copies that hold
    the symbol or have a copied trade in it still in flight (exits are never blocked). A
    copy started after the leader trade was recorded does not mirror it.

    Every row is inserted by the first run, but only the first COPYTRADE_FANOUT_CHUNK places are
    enqueued by it; the rest follow in chunks, each run of this task (`after`: the last place
    enqueued; `until`: the fan-out's last place) enqueuing one and sending the next to the back
    of the fan-out queue ("Fair across leaders" below).
    """
    if after is not None:
        return _fan_out_chunk(leader_trade_id=leader_trade_id, after=after, until=until)
    leader_trade = LeaderTrade.objects.select_related("strategy").filter(id=leader_trade_id).first()
    if leader_trade is None or leader_trade.fanout_done_at is not None:
        return FanOutOutcome(copied_trade_ids=[])
    previous = (
        LeaderTrade.objects.filter(strategy_id=leader_trade.strategy_id, sequence__lt=leader_trade.sequence)
        .order_by("-sequence")
        .values("fanout_done_at")
        .first()
    )
    if previous is not None and previous["fanout_done_at"] is None:
        return FanOutOutcome(copied_trade_ids=[], retry_in=settings.COPYTRADE_ORDERING_RETRY_SECONDS)

    now = timezone.now()
    eligible = _fair_order(list(_eligible_copies(leader_trade).order_by("id").values_list("id", "follower_id")), leader_trade=leader_trade)
    chunk = settings.COPYTRADE_FANOUT_CHUNK
    pending = []
    # In batches, the first chunk's enqueued as soon as they are inserted: the first
    # followers' orders go out while the rest are still being written. The first batches are
    # small, so the first order leaves within milliseconds of the fan-out starting.
    start = 0
    for size in _fan_out_batch_sizes(len(eligible)):
        batch = eligible[start : start + size]
        # Insert-or-ignore: a re-run (redelivery, sweeper) finds its rows already there.
        rows = [_mirror_row(leader_trade, *pair, now=now, place=start + offset + 1) for offset, pair in enumerate(batch)]
        CopiedTrade.objects.bulk_create(rows, ignore_conflicts=True)
        batch_pending = list(
            CopiedTrade.objects.filter(
                leader_trade=leader_trade,
                copy_id__in=[copy_id for copy_id, _ in batch],
                status=CopiedTrade.Status.PENDING,
            )
            .order_by("fanout_place", "id")
            .values_list("id", "fanout_place")
        )
        copied_trades_enqueue([row_id for row_id, place in batch_pending if place is None or place <= chunk])
        pending.extend(row_id for row_id, _ in batch_pending)
        start += size
    if len(eligible) > chunk:
        # The last place of any row of the trade, not len(eligible): a re-run after a copy
        # stopped leaves the stopped copy's row at its place, and a gap below it.
        until = CopiedTrade.objects.filter(leader_trade_id=leader_trade.pk).aggregate(last=Max("fanout_place"))["last"]
        leader_trade_fan_out_send(leader_trade.pk, after=chunk, until=until)
    else:
        _fan_out_done(leader_trade.pk)
    logger.info("leader trade %s fanned out to %s copies (%s rows pending)", leader_trade.pk, len(eligible), len(pending))
    return FanOutOutcome(copied_trade_ids=pending)


# Fair across leaders (docs/ENGINE.md). The execution queue is one FIFO: a fan-out that
# enqueued all its followers at once put every one of them ahead of the next leader trade's
# (10 leaders x 1,000 followers fanned out at once were served in blocks, two leaders at a
# time as the fan-out worker has two threads: per-leader p50 delays from 14 s to 186 s,
# bench/RESULTS.md). So a fan-out enqueues COPYTRADE_FANOUT_CHUNK orders per run of its task
# and sends itself to the back of the fan-out queue for the rest: leader trades fanned out at
# once take turns, chunk by chunk, and a lone one goes on at once. It works the same on
# Redis and RabbitMQ (plain FIFO queues, no priorities). A lost or killed link leaves its
# rows pending with their enqueue time and the leader trade without `fanout_done_at`: the
# sweeper re-enqueues both (copytrade/services/sweeper.py); a link run twice enqueues its
# chunk twice, and the claim runs each row once.
def _fan_out_chunk(*, leader_trade_id: int, after: int, until: int | None) -> FanOutOutcome:
    """The places after `after` (up to COPYTRADE_FANOUT_CHUNK of them) enqueued, and the next chunk sent
    while places up to `until` remain; or, none left, the fan-out marked done."""
    last = after + settings.COPYTRADE_FANOUT_CHUNK
    # One statement: the pending rows of the chunk, marked enqueued now, not at insertion (the
    # sweeper tells a lost message by this time). Three ORM statements per chunk were 60% of
    # the fan-out's statements, each with its compile cost.
    with connection.cursor() as cursor:
        rows.execute(cursor, _chunk_sql(), [timezone.now(), leader_trade_id, after, last])
        enqueued = sorted(cursor.fetchall(), key=lambda row: (row[1], row[0]))
    ids = [row_id for row_id, _ in enqueued]
    copied_trades_enqueue(ids)
    if until is None:
        # A link sent before links carried `until` (in the broker over a deploy): asked. Places
        # are 1 to N, but a re-run after a copy stopped can leave a gap: any place beyond.
        more = CopiedTrade.objects.filter(leader_trade_id=leader_trade_id, fanout_place__gt=last).exists()
    else:
        more = until > last
    if more:
        leader_trade_fan_out_send(leader_trade_id, after=last, until=until)
    else:
        _fan_out_done(leader_trade_id)
    return FanOutOutcome(copied_trade_ids=ids)


@functools.cache
def _chunk_sql() -> str:
    c = functools.partial(rows.column, CopiedTrade)
    # Found by leader trade and place (their index), never by the open rows' partial index (rows.unindexed).
    pending = rows.unindexed(f"{c('status')} = 'pending'")
    return (
        f"UPDATE {rows.table(CopiedTrade)} SET {c('enqueued_at')} = %s WHERE {c('leader_trade')} = %s AND {c('fanout_place')} > %s "
        f"AND {c('fanout_place')} <= %s AND {pending} RETURNING {c('id')}, {c('fanout_place')}"
    )


def _fan_out_done(leader_trade_id: int) -> None:
    # Only once every row is enqueued: the next leader trade's fan-out waits for this mark,
    # so its rows can never exist, nor be enqueued, before this trade's rows are.
    LeaderTrade.objects.filter(pk=leader_trade_id, fanout_done_at__isnull=True).update(fanout_done_at=timezone.now())


def _fair_order(eligible: list[tuple[int, int]], *, leader_trade: LeaderTrade) -> list[tuple[int, int]]:
    """The copies in the order their orders go out: shuffled, seeded by the leader trade's id.

    Earlier orders get earlier fills and usually better prices; enqueuing by copy id gave the
    same followers the first fills and the same ones the last on every trade. A fresh
    permutation per leader trade makes every follower's expected place the middle. Seeded
    by the trade, not random: a re-run of the fan-out (redelivery, sweeper) sends in the
    same order, and the order of any past trade can be recomputed from its id.
    """
    random.Random(leader_trade.pk).shuffle(eligible)
    return eligible


def _fan_out_batch_sizes(total: int):
    size, sent = 32, 0
    while sent < total:
        yield min(size, total - sent)
        sent += size
        size = min(size * 4, FAN_OUT_BATCH)


def _mirror_row(leader_trade: LeaderTrade, copy_id: int, follower_id: int, *, now, place: int) -> CopiedTrade:
    """`place`: 1 for the first copy in the fan-out's (shuffled) order: what copy quality's
    capacity note compares price gaps by (copytrade/quality.py)."""
    return CopiedTrade(
        copy_id=copy_id,
        leader_trade_id=leader_trade.pk,
        kind=CopiedTrade.Kind.MIRROR,
        sequence=leader_trade.sequence,
        follower_id=follower_id,
        leader_user_id=leader_trade.strategy.owner_id,
        strategy_id=leader_trade.strategy_id,
        symbol=leader_trade.symbol,
        side=leader_trade.side,
        effect=leader_trade.effect,
        leader_size_quote=leader_trade.notional,
        client_order_id=copied_trade_client_order_id(leader_trade_id=leader_trade.pk, copy_id=copy_id),
        enqueued_at=now,
        fanout_place=place,
    )


def _eligible_copies(leader_trade: LeaderTrade):
    copies = Copy.objects.filter(strategy_id=leader_trade.strategy_id, started_at__lte=leader_trade.recorded_at)
    if sizing.is_entry(leader_trade.effect):
        return copies.filter(status=Copy.Status.ACTIVE)
    holds = FollowerPosition.objects.filter(copy=OuterRef("pk"), symbol=leader_trade.symbol).exclude(quantity=0)
    in_flight = CopiedTrade.objects.filter(copy=OuterRef("pk"), symbol=leader_trade.symbol, status__in=CopiedTrade.OPEN)
    return copies.filter(status__in=Copy.LIVE_STATUSES).filter(Exists(holds) | Exists(in_flight))


def copied_trades_enqueue(copied_trade_ids: list[int]) -> None:
    """One execution task per id over one broker connection (the fan-out's hot loop); sent
    by name: the tasks module calls into this one, never the other way round."""
    if not copied_trade_ids:
        return
    with current_app.producer_or_acquire() as producer:
        # The first message declares the execution queue (as every message did); the rest
        # skip kombu's per-message declare check, and their argument repr (what Celery's
        # saferepr gives for one id) is written here: 795 -> 610 us of the fan-out's CPU per
        # order (bench/RESULTS.md, "Performance III").
        declare = None
        for copied_trade_id in copied_trade_ids:
            current_app.send_task(
                EXECUTE_TASK, args=(copied_trade_id,), producer=producer, declare=declare, argsrepr=f"({copied_trade_id},)", kwargsrepr="{}"
            )
            declare = []


EXECUTION_QUEUE = "execution"


def execution_queue_length() -> int | None:
    """Messages waiting in the broker's execution queue (not yet delivered to a worker), or
    None when the broker cannot say (it is down)."""
    return queue_length(EXECUTION_QUEUE)


def queue_length(name: str) -> int | None:
    """Messages waiting in the broker's queue `name`, or None when the broker cannot say.
    Redis and RabbitMQ both answer a passive declare; Redis deletes an empty list, so "no
    such queue" there means 0."""
    from kombu.exceptions import ChannelError, OperationalError

    try:
        with current_app.connection_for_write() as connection:
            queue = current_app.amqp.queues[name]
            try:
                _, count, _ = queue.bind(connection.default_channel).queue_declare(passive=True)
            except ChannelError:
                return 0
            return int(count)
    except (OperationalError, OSError, ConnectionError):
        return None


def leader_trade_fan_out_send(leader_trade_id: int, *, after: int | None = None, until: int | None = None) -> None:
    """The fan-out task of a leader trade (with `after`, its next chunk, up to the place
    `until`), sent by name (the tasks module calls into this package, never the other way round)."""
    current_app.send_task(FAN_OUT_TASK, args=(leader_trade_id,), kwargs={"after": after, "until": until} if after is not None else {})
