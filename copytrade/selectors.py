"""Reads for strategies, leader trades, copies and copied trades.

Visibility: a strategy's own settings, secret rotation and trade recording are its
owner's; its public face (leaderboard, leader page) is anyone's once it is a public
leader; copies and copied trades are their follower's only. Anything a user may not see
is "not found", so ids of other users' objects reveal nothing.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal

from django.db.models import F, Prefetch, QuerySet, Sum
from django.db.models.functions import TruncDate

from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, PositionDrift, Strategy
from copytrade.positions import unrealised_pnl
from copytrade.sizing import copy_capital
from core.errors import NotFoundError
from core.money import HUNDRED, ZERO, to_decimal, to_money
from exchanges.errors import ExchangeError
from exchanges.gateways import gateway_for_account
from exchanges.models import ExchangeAccount

logger = logging.getLogger(__name__)

COPY_RECENT_TRADES = 5
COPY_RECENT_DRIFTS = 5


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


def copy_list(*, follower, include_stopped: bool = False) -> QuerySet[Copy]:
    """A follower's copies with everything `my-copies` shows, in a fixed number of queries."""
    copies = Copy.objects.filter(follower=follower)
    if not include_stopped:
        copies = copies.filter(status__in=Copy.LIVE_STATUSES)
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
            # Open drifts first, then the latest mended ones (copytrade/services/drift.py).
            Prefetch(
                "drifts",
                queryset=PositionDrift.objects.order_by(F("resolved_at").desc(nulls_first=True), "-found_at", "-id")[:COPY_RECENT_DRIFTS],
                to_attr="recent_drifts",
            ),
        )
        .order_by("-started_at", "-id")
    )


def copy_get(*, follower, copy_id: int) -> Copy:
    copy = copy_list(follower=follower, include_stopped=True).filter(id=copy_id).first()
    if copy is None:
        raise NotFoundError("Copy not found.")
    return copy


def copy_live_of_strategy(*, follower, strategy_id: int) -> Copy | None:
    """The follower's live copy of the strategy, if any (one at most: a database constraint)."""
    return (
        Copy.objects.filter(follower=follower, strategy_id=strategy_id, status__in=Copy.LIVE_STATUSES)
        .select_related("exchange_account")
        .first()
    )


def copied_trade_list(*, follower, copy_id: int | None = None) -> QuerySet[CopiedTrade]:
    trades = CopiedTrade.objects.filter(follower=follower)
    if copy_id is not None:
        if not Copy.objects.filter(id=copy_id, follower=follower).exists():
            raise NotFoundError("Copy not found.")
        trades = trades.filter(copy_id=copy_id)
    return trades.order_by("-recorded_at", "-id")


class PositionMarker:
    """Marks follower positions at the gateways' cached ticker prices, one price look-up per
    (account, symbol) per request. A price that cannot be had is None, never an error:
    a dashboard must render while an exchange is down."""

    def __init__(self):
        self._gateways = {}
        self._marks: dict[tuple[int, str], tuple[Decimal, Decimal] | None] = {}
        self._perpetuals: dict[int, dict] = {}

    def price(self, *, account, symbol: str) -> Decimal | None:
        mark = self._mark(account=account, symbol=symbol)
        return None if mark is None else mark[0]

    def _mark(self, *, account, symbol: str) -> tuple[Decimal, Decimal] | None:
        """(price, contract size) of the symbol on the account's exchange."""
        key = (account.pk, symbol)
        if key not in self._marks:
            self._marks[key] = self._lookup(account=account, symbol=symbol)
        return self._marks[key]

    def _lookup(self, *, account, symbol: str) -> tuple[Decimal, Decimal] | None:
        try:
            if account.pk not in self._gateways:
                self._gateways[account.pk] = gateway_for_account(account)
            gateway = self._gateways[account.pk]
            return gateway.ticker_price(symbol), gateway.market(symbol).contract_size
        except ExchangeError as exc:
            logger.info("no mark price for %s on account %s: %s", symbol, account.pk, exc.reason)
            return None

    def liquidation_price(self, position: FollowerPosition) -> Decimal | None:
        """A perpetual position's liquidation price as the exchange states it for the account's
        position in that market (one read of the account's positions per request): under
        cross margin it depends on the whole wallet, and the account's position may hold other
        copies' too, so only the exchange's figure is shown. None on spot, when flat, when the
        exchange gives none or cannot be asked."""
        account = position.copy.exchange_account
        if position.quantity == 0 or self._mark(account=account, symbol=position.symbol) is None:
            return None
        gateway = self._gateways[account.pk]
        if not gateway.market(position.symbol).is_perpetual:
            return None
        if account.pk not in self._perpetuals:
            try:
                self._perpetuals[account.pk] = {entry.symbol: entry for entry in gateway.perpetual_positions()}
            except ExchangeError as exc:
                logger.info("no perpetual positions on account %s: %s", account.pk, exc.reason)
                self._perpetuals[account.pk] = {}
        on_exchange = self._perpetuals[account.pk].get(gateway.market(position.symbol).symbol)
        price = on_exchange.liquidation_price if on_exchange is not None else None
        return to_money(price) if price else None

    def unrealized_pnl(self, copy: Copy) -> Decimal | None:
        total = ZERO
        for position in copy.open_positions:
            mark = self._mark(account=copy.exchange_account, symbol=position.symbol)
            if mark is None:
                return None
            price, contract_size = mark
            total += unrealised_pnl(position, price=price, contract_size=contract_size)
        return total


def copy_allocation_used(*, exchange_account_id: int, excluding_id: int | None = None) -> Decimal:
    """The % of one exchange account its live proportional copies take: each account's copies
    may take at most 100 % of it, whatever other accounts the follower has."""
    live = Copy.objects.filter(
        exchange_account_id=exchange_account_id,
        status__in=Copy.LIVE_STATUSES,
        sizing_mode=Copy.SizingMode.PROPORTIONAL,
    )
    if excluding_id is not None:
        live = live.exclude(id=excluding_id)
    return live.aggregate(total=Sum("allocation_percent"))["total"] or ZERO


def copy_capital_in_use(*, copies: list[Copy]) -> Decimal:
    """The money `copies` work with, each account counted once: proportional copies take
    disjoint shares of their account, while a multiplier or fixed copy's capital is its whole
    account, which another copy on it shares."""
    by_account: dict[int, list[Copy]] = {}
    for copy in copies:
        by_account.setdefault(copy.exchange_account_id, []).append(copy)
    total = ZERO
    for on_account in by_account.values():
        shares = sum((c.copy_capital for c in on_account if c.sizing_mode == Copy.SizingMode.PROPORTIONAL), ZERO)
        whole = max((c.copy_capital for c in on_account if c.sizing_mode != Copy.SizingMode.PROPORTIONAL), default=ZERO)
        total += max(shares, whole)
    return total


@dataclass(frozen=True)
class CopyStartPreview:
    """What a copy would start with, before it is started: `equity` is None when the exchange
    did not answer (the preview says so; starting re-reads it anyway)."""

    equity: Decimal | None
    allocation_percent: Decimal
    copy_capital: Decimal | None
    used_percent: Decimal

    @property
    def available_percent(self) -> Decimal:
        return HUNDRED - self.used_percent

    @property
    def remaining_percent(self) -> Decimal:
        return HUNDRED - self.used_percent - self.allocation_percent

    @property
    def over_limit(self) -> bool:
        return self.remaining_percent < 0


def copy_start_preview(*, follower, exchange_account_id: int, allocation_percent: Decimal, quote: str) -> CopyStartPreview:
    """Copy capital as `copy_start` computes it (allocation % of the account's equity now), and
    the share of the account's 100 % its other live copies already use."""
    account = ExchangeAccount.objects.filter(id=exchange_account_id, owner=follower).first()
    if account is None:
        raise NotFoundError("Exchange account not found.")
    try:
        equity = to_decimal(gateway_for_account(account).equity(quote).equity)
    except ExchangeError as exc:
        logger.info("no equity for the copy preview of account %s: %s", account.pk, exc.reason)
        equity = None
    capital = (
        None
        if equity is None
        else copy_capital(equity=equity, sizing_mode=Copy.SizingMode.PROPORTIONAL, allocation_percent=allocation_percent)
    )
    return CopyStartPreview(
        equity=equity,
        allocation_percent=allocation_percent,
        copy_capital=capital,
        used_percent=copy_allocation_used(exchange_account_id=account.pk),
    )


def copy_pnl_series(*, copy: Copy) -> list[tuple[date, Decimal]]:
    """The copy's realised P&L in its quote currency (as its realized_pnl), cumulative, at the
    end of each UTC day it changed, from the start (0) on: the points of its P&L chart."""
    daily = (
        CopiedTrade.objects.filter(copy=copy, finished_at__isnull=False)
        .exclude(pnl_quote=0)
        .annotate(day=TruncDate("finished_at", tzinfo=UTC))
        .values("day")
        .annotate(pnl=Sum("pnl_quote"))
        .order_by("day")
    )
    series = [(copy.started_at.astimezone(UTC).date(), ZERO)]
    total = ZERO
    for row in daily:
        total += row["pnl"]
        if row["day"] == series[-1][0]:
            series[-1] = (row["day"], total)
        else:
            series.append((row["day"], total))
    return series


def exchange_accounts_traded_outside_copies(*, owner) -> set[int]:
    """The owner's exchange accounts on which a live copy's recorded position and the account's
    holding differ now (an open drift, copytrade/services/drift.py): used by hand, or by another app."""
    return set(
        PositionDrift.objects.filter(copy__follower=owner, copy__status__in=Copy.LIVE_STATUSES, resolved_at__isnull=True).values_list(
            "copy__exchange_account_id", flat=True
        )
    )
