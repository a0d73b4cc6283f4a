"""Reads for strategies, leader trades, copies and copied trades.

Visibility: a strategy's own settings, secret rotation and trade recording are its
owner's; its public face (leaderboard, leader page) is anyone's once it is a public
leader; copies and copied trades are their follower's only. Anything a user may not see
is "not found", so ids of other users' objects reveal nothing.
"""

import logging
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from copytrade.models import CopiedTrade, CopyRelationship, FollowerPosition, LeaderTrade, Strategy
from core.errors import NotFoundError
from core.money import ZERO
from exchanges.errors import ExchangeError
from exchanges.gateways import gateway_for_account

logger = logging.getLogger(__name__)

COPY_RECENT_TRADES = 5


def strategy_list_owned(*, owner) -> QuerySet[Strategy]:
    return Strategy.objects.filter(owner=owner).select_related("leader_account").order_by("id")


def strategy_get_owned(*, owner, strategy_id: int) -> Strategy:
    strategy = strategy_list_owned(owner=owner).filter(id=strategy_id).first()
    if strategy is None:
        raise NotFoundError("Strategy not found.")
    return strategy


def leader_trade_list(*, strategy: Strategy, closed_only: bool = False) -> QuerySet[LeaderTrade]:
    """A strategy's trades, newest first; `closed_only`: reductions and closes, the trades
    that realise a profit or a loss."""
    trades = LeaderTrade.objects.filter(strategy=strategy)
    if closed_only:
        trades = trades.filter(effect__in=[LeaderTrade.Effect.REDUCE, LeaderTrade.Effect.CLOSE])
    return trades.order_by("-sequence")


def strategy_list_public() -> QuerySet[Strategy]:
    """Every strategy anyone may see and copy: public leaders that are running."""
    return Strategy.objects.filter(is_public_leader=True, status=Strategy.Status.RUNNING)


def copy_list(*, follower, include_stopped: bool = False) -> QuerySet[CopyRelationship]:
    """A follower's copies with everything `my-copies` shows, in a fixed number of queries."""
    copies = CopyRelationship.objects.filter(follower=follower)
    if not include_stopped:
        copies = copies.filter(status__in=CopyRelationship.LIVE_STATUSES)
    return (
        copies.select_related("strategy", "exchange_account")
        .prefetch_related(
            Prefetch("positions", queryset=FollowerPosition.objects.exclude(quantity=0).order_by("symbol"), to_attr="open_positions"),
            # A sliced prefetch is one window-function query for all copies, not one per copy.
            Prefetch(
                "copied_trades",
                queryset=CopiedTrade.objects.order_by("-sequence")[:COPY_RECENT_TRADES],
                to_attr="recent_copied_trades",
            ),
        )
        .order_by("-started_at", "-id")
    )


def copy_get(*, follower, relationship_id: int) -> CopyRelationship:
    relationship = copy_list(follower=follower, include_stopped=True).filter(id=relationship_id).first()
    if relationship is None:
        raise NotFoundError("Copy not found.")
    return relationship


def copied_trade_list(*, follower, relationship_id: int | None = None) -> QuerySet[CopiedTrade]:
    trades = CopiedTrade.objects.filter(follower=follower)
    if relationship_id is not None:
        if not CopyRelationship.objects.filter(id=relationship_id, follower=follower).exists():
            raise NotFoundError("Copy not found.")
        trades = trades.filter(relationship_id=relationship_id)
    return trades.order_by("-recorded_at", "-id")


class PositionMarker:
    """Marks follower positions at the gateways' cached ticker prices, one price look-up per
    (account, symbol) per request. A price that cannot be had is None, never an error:
    a dashboard must render while an exchange is down."""

    def __init__(self):
        self._gateways = {}
        self._prices: dict[tuple[int, str], Decimal | None] = {}

    def price(self, *, account, symbol: str) -> Decimal | None:
        key = (account.pk, symbol)
        if key not in self._prices:
            self._prices[key] = self._lookup(account=account, symbol=symbol)
        return self._prices[key]

    def _lookup(self, *, account, symbol: str) -> Decimal | None:
        try:
            if account.pk not in self._gateways:
                self._gateways[account.pk] = gateway_for_account(account)
            return self._gateways[account.pk].ticker_price(symbol)
        except ExchangeError as exc:
            logger.info("no mark price for %s on account %s: %s", symbol, account.pk, exc.reason)
            return None

    def unrealized_pnl(self, relationship: CopyRelationship) -> Decimal | None:
        total = ZERO
        for position in relationship.open_positions:
            price = self.price(account=relationship.exchange_account, symbol=position.symbol)
            if price is None:
                return None
            total += (price - position.average_entry) * position.quantity
        return total
