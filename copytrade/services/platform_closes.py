"""Closes the platform itself starts: the copy stop-loss, and a stop with close_positions."""

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from copytrade.client_order_ids import PLATFORM_CLOSE_PREFIX, platform_close_client_order_id
from copytrade.locks import copy_lock
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderPosition, LeaderTrade, Strategy
from copytrade.positions import position_exit_hit, position_move_percent, stop_loss_hit
from copytrade.reasons import pause_reason_text, position_exit_text, sentence
from copytrade.services import fanout
from core.models import Notification
from core.notifications import notification_send

logger = logging.getLogger(__name__)


@transaction.atomic
def copy_close_positions(*, copy_id: int, kind: str, symbols: list[str] | None = None, details: dict | None = None) -> list[int]:
    """Close everything a copy holds at market (or only `symbols`): one copied trade per
    symbol (kind stop_loss, close_on_stop, take_profit, position_stop), sized when it runs
    (exactly what is held then), enqueued on commit. `details`: per symbol, the numbers its
    row's sentence needs (`reason_detail`).

    Symbols with a copied trade still in flight are included: that trade runs first (lower
    sequence) and may leave a position. Sequence numbers are reserved on the strategy's
    counter, so no later leader trade can take the same number for this copy.
    """
    if kind not in PLATFORM_CLOSE_PREFIX:
        raise ValueError(f"kind must be one of {sorted(PLATFORM_CLOSE_PREFIX)}")
    copy = Copy.objects.get(pk=copy_id)
    held = FollowerPosition.objects.filter(copy_id=copy_id).exclude(quantity=0)
    in_flight = CopiedTrade.objects.filter(copy_id=copy_id, status__in=CopiedTrade.OPEN)
    if symbols is not None:
        held, in_flight = held.filter(symbol__in=symbols), in_flight.filter(symbol__in=symbols)
    sides = {symbol: ("sell" if quantity > 0 else "buy") for symbol, quantity in held.values_list("symbol", "quantity")}
    for symbol in in_flight.values_list("symbol", flat=True):
        sides.setdefault(symbol, "sell")
    if not sides:
        return []
    strategy = Strategy.objects.select_for_update().only("id", "owner_id", "last_sequence").get(pk=copy.strategy_id)
    latest = CopiedTrade.objects.filter(copy_id=copy_id).aggregate(latest=Max("sequence"))["latest"] or 0
    first = max(strategy.last_sequence, latest) + 1
    Strategy.objects.filter(pk=strategy.pk).update(last_sequence=first + len(sides) - 1)
    now = timezone.now()
    rows = [
        CopiedTrade(
            copy_id=copy_id,
            kind=kind,
            sequence=sequence,
            follower_id=copy.follower_id,
            leader_user_id=strategy.owner_id,
            strategy_id=strategy.pk,
            symbol=symbol,
            side=side,
            effect=LeaderTrade.Effect.CLOSE,
            reason_detail=(details or {}).get(symbol, {}),
            client_order_id=platform_close_client_order_id(kind=kind, copy_id=copy_id, sequence=sequence),
            enqueued_at=now,
        )
        for sequence, (symbol, side) in enumerate(sorted(sides.items()), start=first)
    ]
    CopiedTrade.objects.bulk_create(rows)
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: fanout.copied_trades_enqueue(ids))
    logger.info("copy %s: %s close(s) at market (%s)", copy_id, len(ids), kind)
    return ids


@transaction.atomic
def copy_stop_loss_check(*, copy_id: int) -> bool:
    """Trip the copy's stop-loss if its drawdown (as last recorded) reached the limit; under
    the locks in their order (strategy, then copy). True when it tripped now.

    Execution calls this after committing a fill that crossed the limit: the fill's
    transaction holds the copy without its strategy and may not take the strategy after it.
    Were this never to run (a crash between), the next mark-to-market pass trips it."""
    copy = copy_lock(copy_id=copy_id)
    if copy is None or copy.status != Copy.Status.ACTIVE or not stop_loss_hit(copy):
        return False
    stop_loss_trigger(copy)
    return True


def stop_loss_trigger(copy: Copy) -> None:
    """Called with the copy and its strategy locked (`copy_lock`): pause the copy, close what
    it holds, tell the follower."""
    copy.status = Copy.Status.PAUSED
    copy.pause_reason = Copy.PauseReason.STOP_LOSS
    copy.pause_detail = {
        "drawdown_percent": str(copy.current_drawdown_percent),
        "limit_percent": str(copy.max_drawdown_stop),
    }
    copy.save(update_fields=["status", "pause_reason", "pause_detail", "updated_at"])
    closes = copy_close_positions(copy_id=copy.pk, kind=CopiedTrade.Kind.STOP_LOSS)
    notification_send(
        user=copy.follower,
        kind=Notification.Kind.COPY_STOP_LOSS,
        title=f"Your copy of {copy.strategy.name} was paused by its stop-loss",
        body=f"{sentence(pause_reason_text(copy))} {len(closes)} position(s) are being closed at market. "
        "Resume the copy to copy new entries again.",
    )
    logger.warning(
        "copy %s paused by its copy stop-loss (drawdown %s%% past the %s%% limit)",
        copy.pk,
        copy.current_drawdown_percent,
        copy.max_drawdown_stop,
    )


def position_exits_trigger(copy: Copy, *, prices: dict[str, Decimal]) -> list[int]:
    """Called with the copy and its strategy locked (`copy_lock`) by the mark-to-market pass:
    close at market each position whose price reached the copy's take-profit or stop-loss,
    measured from the copy's own average entry; tell the follower. A symbol with a copied
    trade in flight waits for the next pass (that trade may change or close the position).
    The ids of the closes."""
    if copy.take_profit_percent is None and copy.stop_loss_percent is None:
        return []
    busy = set(CopiedTrade.objects.filter(copy=copy, status__in=CopiedTrade.OPEN).values_list("symbol", flat=True))
    hits: dict[str, dict] = {}
    for position in FollowerPosition.objects.filter(copy=copy, symbol__in=list(prices)).exclude(quantity=0):
        if position.symbol in busy:
            continue
        price = prices[position.symbol]
        kind = position_exit_hit(copy, position, price=price)
        if kind is None:
            continue
        limit = copy.take_profit_percent if kind == CopiedTrade.Kind.TAKE_PROFIT else copy.stop_loss_percent
        move = position_move_percent(position, price=price)
        hits.setdefault(kind, {})[position.symbol] = {
            "entry": str(position.average_entry),
            "price": str(price),
            "move_percent": str(move.quantize(Decimal("0.01"))),
            "limit_percent": str(limit),
        }
    closes = []
    for kind, details in sorted(hits.items()):
        closes += copy_close_positions(copy_id=copy.pk, kind=kind, symbols=sorted(details), details=details)
        for symbol, detail in sorted(details.items()):
            notification_send(
                user=copy.follower,
                kind=Notification.Kind.POSITION_CLOSED,
                title=f"Your copy of {copy.strategy.name}: {symbol} is being closed at market",
                body=f"{sentence(position_exit_text(kind=kind, symbol=symbol, detail=detail))} The copy carries on with the "
                "leader's next trades.",
            )
    if closes:
        logger.info("copy %s: %s position(s) closed by their take-profit or stop-loss", copy.pk, len(closes))
    return closes


def copy_start_positions_open(*, copy: Copy) -> list[int]:
    """In the copy start's transaction, under the strategy's row lock: one entry per position
    the leader holds now (kind start_open), sized when it runs as the leader's position at its
    entry against the leader's capital, placed only where the price is not worse than the
    leader's entry by more than the copy's slippage limit (else skipped with the reason; the
    copy follows that market from the leader's next trade). Enqueued on commit."""
    positions = list(LeaderPosition.objects.filter(strategy_id=copy.strategy_id).exclude(quantity=0).order_by("symbol"))
    if not positions:
        return []
    strategy = Strategy.objects.select_for_update().only("id", "owner_id", "last_sequence", "declared_capital").get(pk=copy.strategy_id)
    equity = strategy.declared_capital
    if equity is None:
        equity = LeaderTrade.objects.filter(strategy=strategy).order_by("-sequence").values_list("leader_equity", flat=True).first()
    first = strategy.last_sequence + 1
    Strategy.objects.filter(pk=strategy.pk).update(last_sequence=first + len(positions) - 1)
    kind = CopiedTrade.Kind.START_OPEN
    rows = [
        CopiedTrade(
            copy_id=copy.pk,
            kind=kind,
            sequence=sequence,
            follower_id=copy.follower_id,
            leader_user_id=strategy.owner_id,
            strategy_id=strategy.pk,
            symbol=position.symbol,
            side="buy" if position.quantity > 0 else "sell",
            effect=LeaderTrade.Effect.OPEN,
            leader_size_quote=abs(position.quantity) * position.average_entry,
            reason_detail={
                "leader_entry": str(position.average_entry),
                "leader_notional": str(abs(position.quantity) * position.average_entry),
                "leader_equity": str(equity or 0),
            },
            client_order_id=platform_close_client_order_id(kind=kind, copy_id=copy.pk, sequence=sequence),
            enqueued_at=timezone.now(),
        )
        for sequence, position in enumerate(positions, start=first)
    ]
    CopiedTrade.objects.bulk_create(rows)
    ids = [row.pk for row in rows]
    transaction.on_commit(lambda: fanout.copied_trades_enqueue(ids))
    return ids
