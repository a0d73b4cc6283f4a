"""Billing test data (from tests/factories.py): strategies, copies, finished copied trades, months."""

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

from copytrade.models import CopiedTrade, Copy, Strategy
from marketplace.models import SignalProvider
from tests.factories import CopiedTradeFactory, CopyFactory, SignalProviderFactory, StrategyFactory, make_user

__all__ = ["add_trade", "at", "make_copy", "make_provider", "make_strategy", "make_user", "month"]

_sequence = itertools.count(1)


def at(year: int, month: int, day: int = 1, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def month(year: int, month_number: int) -> date:
    return date(year, month_number, 1)


def make_strategy(owner, *, kind: str = Strategy.Kind.AI, override: str = "15", name: str | None = None) -> Strategy:
    return StrategyFactory(
        owner=owner,
        name=name or f"{owner.username} {kind} {next(_sequence)}",
        kind=kind,
        copy_override_percent=Decimal(override),
        declared_capital=Decimal("100000"),
        is_public_leader=False,
    )


def make_provider(user, *, subscription: str = "0", performance_percent: str = "0") -> SignalProvider:
    return SignalProviderFactory(
        user=user,
        display_name=user.username,
        subscription_fee_monthly=Decimal(subscription),
        performance_fee_percent=Decimal(performance_percent),
    )


def make_copy(follower, strategy, *, started_at: datetime, ended_at: datetime | None = None, fee_terms: bool = True) -> Copy:
    """A copy of 10,000 on a paper account of its own (its fee terms recorded unless `fee_terms=False`)."""
    return CopyFactory(
        follower=follower,
        strategy=strategy,
        copy_capital=Decimal("10000"),
        started_at=started_at,
        ended_at=ended_at,
        status=Copy.Status.STOPPED if ended_at else Copy.Status.ACTIVE,
        fee_terms=fee_terms,
    )


def add_trade(copy: Copy, *, pnl: str, finished_at: datetime) -> CopiedTrade:
    """A filled copied trade whose realised net P&L is `pnl`."""
    return CopiedTradeFactory(copy=copy, pnl_billing=Decimal(pnl), finished_at=finished_at)
