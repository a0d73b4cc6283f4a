"""Marking live copies to market between fills."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from copytrade.locks import copy_lock
from copytrade.models import CopyRelationship, FollowerPosition
from copytrade.positions import relationship_apply_pnl, stop_loss_hit, unrealised_pnl
from copytrade.services.platform_closes import stop_loss_trigger
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


def copies_mark_to_market() -> MarkOutcome:
    outcome = MarkOutcome()
    holding = (
        FollowerPosition.objects.exclude(quantity=0)
        .filter(relationship__status=CopyRelationship.Status.ACTIVE)
        .select_related("relationship__exchange_account")
        .order_by("relationship_id", "symbol")
    )
    symbols_by_copy: dict[int, list[str]] = defaultdict(list)
    accounts = {}
    for position in holding:
        symbols_by_copy[position.relationship_id].append(position.symbol)
        accounts[position.relationship_id] = position.relationship.exchange_account
    marks: dict[tuple, tuple[Decimal, Decimal]] = {}  # (price source, symbol) -> (price, contract size)
    for copy_id, symbols in symbols_by_copy.items():
        account = accounts[copy_id]
        try:
            prices = {symbol: _mark(marks, account=account, symbol=symbol) for symbol in symbols}
        except ExchangeError as exc:
            outcome.unpriced += 1
            logger.warning("copy %s not marked: no price (%s)", copy_id, exc.reason)
            continue
        if _remark(copy_id, prices=prices):
            outcome.stop_losses.append(copy_id)
        outcome.copies_marked += 1
    return outcome


def _mark(marks: dict, *, account, symbol: str) -> tuple[Decimal, Decimal]:
    key = (account.exchange_id, account.sandbox, symbol)
    if key not in marks:
        gateway = gateway_for_account(account)
        marks[key] = (gateway.ticker_price(symbol), gateway.market(symbol).contract_size)
    return marks[key]


def _remark(copy_id: int, *, prices: dict[str, tuple[Decimal, Decimal]]) -> bool:
    """Re-mark one copy under its row lock (a fill being recorded waits, or is waited for)."""
    with transaction.atomic():
        relationship = copy_lock(relationship_id=copy_id)
        if relationship is None or relationship.status != CopyRelationship.Status.ACTIVE:
            return False
        unrealised = ZERO
        for position in FollowerPosition.objects.filter(relationship=relationship).exclude(quantity=0):
            if position.symbol in prices:
                price, contract_size = prices[position.symbol]
                unrealised += unrealised_pnl(position, price=price, contract_size=contract_size)
        relationship_apply_pnl(relationship, pnl=ZERO, unrealised=unrealised)
        relationship.save(update_fields=["copy_equity", "peak_equity", "current_drawdown_percent", "updated_at"])
        if stop_loss_hit(relationship):
            stop_loss_trigger(relationship)
            return True
    return False
