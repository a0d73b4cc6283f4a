"""Marking live copies to market between fills."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from copytrade.locks import copy_lock
from copytrade.models import Copy, FollowerPosition
from copytrade.positions import copy_apply_pnl, stop_loss_hit, unrealised_pnl
from copytrade.services.platform_closes import position_exits_trigger, stop_loss_trigger
from core.money import ZERO
from exchanges.errors import (
    ExchangeError,
)
from exchanges.gateways import gateway_for_account

logger = logging.getLogger(__name__)


@dataclass
class MarkOutcome:
    copies_marked: int = 0
    stop_losses: list[int] = field(default_factory=list)
    unpriced: int = 0
    position_closes: list[int] = field(default_factory=list)  # copied trades closing one position each


def copies_mark_to_market() -> MarkOutcome:
    """Active copies: re-marked (equity, drawdown, the copy stop-loss) and their positions'
    own take-profit and stop-loss watched. Paused copies with a take-profit or stop-loss: only
    those (a paused copy still exits; its equity is left as it was when it paused)."""
    outcome = MarkOutcome()
    watched_while_paused = Q(copy__status=Copy.Status.PAUSED) & (
        Q(copy__take_profit_percent__isnull=False) | Q(copy__stop_loss_percent__isnull=False)
    )
    holding = (
        FollowerPosition.objects.exclude(quantity=0)
        .filter(Q(copy__status=Copy.Status.ACTIVE) | watched_while_paused)
        .select_related("copy__exchange_account")
        .order_by("copy_id", "symbol")
    )
    symbols_by_copy: dict[int, list[str]] = defaultdict(list)
    accounts = {}
    for position in holding:
        symbols_by_copy[position.copy_id].append(position.symbol)
        accounts[position.copy_id] = position.copy.exchange_account
    marks: dict[tuple, tuple[Decimal, Decimal]] = {}  # (price source, symbol) -> (price, contract size)
    for copy_id, symbols in symbols_by_copy.items():
        account = accounts[copy_id]
        try:
            prices = {symbol: _mark(marks, account=account, symbol=symbol) for symbol in symbols}
        except ExchangeError as exc:
            outcome.unpriced += 1
            logger.warning("copy %s not marked: no price (%s)", copy_id, exc.reason)
            continue
        marked, stopped, closes = _remark(copy_id, prices=prices)
        if stopped:
            outcome.stop_losses.append(copy_id)
        outcome.copies_marked += marked
        outcome.position_closes += closes
    return outcome


def _mark(marks: dict, *, account, symbol: str) -> tuple[Decimal, Decimal]:
    key = (account.exchange_id, account.sandbox, symbol)
    if key not in marks:
        gateway = gateway_for_account(account)
        marks[key] = (gateway.ticker_price(symbol), gateway.market(symbol).contract_size)
    return marks[key]


def _remark(copy_id: int, *, prices: dict[str, tuple[Decimal, Decimal]]) -> tuple[bool, bool, list[int]]:
    """Re-mark one copy under its row lock (a fill being recorded waits, or is waited for):
    (marked, its copy stop-loss tripped, the ids of positions' own closes)."""
    with transaction.atomic():
        copy = copy_lock(copy_id=copy_id)
        if copy is None or copy.status not in Copy.LIVE_STATUSES:
            return False, False, []
        marks = {symbol: price for symbol, (price, _) in prices.items()}
        if copy.status == Copy.Status.PAUSED:
            return False, False, position_exits_trigger(copy, prices=marks)
        unrealised = ZERO
        for position in FollowerPosition.objects.filter(copy=copy).exclude(quantity=0):
            if position.symbol in prices:
                price, contract_size = prices[position.symbol]
                unrealised += unrealised_pnl(position, price=price, contract_size=contract_size)
        copy_apply_pnl(copy, pnl=ZERO, unrealised=unrealised)
        copy.save(update_fields=["copy_equity", "peak_equity", "current_drawdown_percent", "updated_at"])
        if stop_loss_hit(copy):
            stop_loss_trigger(copy)  # closes every position: no position's own exit is needed
            return True, True, []
        return True, False, position_exits_trigger(copy, prices=marks)
