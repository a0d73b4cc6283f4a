"""Billing test data, made with the models directly: strategies, copies, finished copied trades."""

import itertools
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model

from copytrade.models import CopiedTrade, CopyRelationship, Strategy
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider

_sequence = itertools.count(1)


def at(year: int, month: int, day: int = 1, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def month(year: int, month_number: int) -> date:
    return date(year, month_number, 1)


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(
        username=username, password=f"{username}-pass-123", email=f"{username}@example.com", **extra
    )


def make_strategy(owner, *, kind: str = Strategy.Kind.AI, override: str = "15", name: str | None = None) -> Strategy:
    return Strategy.objects.create(
        owner=owner,
        name=name or f"{owner.username} {kind} {next(_sequence)}",
        kind=kind,
        copy_override_percent=Decimal(override),
        declared_capital=Decimal("100000"),
    )


def make_provider(user, *, subscription: str = "0", performance_percent: str = "0") -> SignalProvider:
    return SignalProvider.objects.create(
        user=user,
        display_name=user.username,
        status=SignalProvider.Status.APPROVED,
        subscription_fee_monthly=Decimal(subscription),
        performance_fee_percent=Decimal(performance_percent),
    )


def make_copy(follower, strategy, *, started_at: datetime, ended_at: datetime | None = None) -> CopyRelationship:
    account = ExchangeAccount.objects.create(owner=follower, exchange_id="paper", label=f"paper {next(_sequence)}")
    return CopyRelationship.objects.create(
        follower=follower,
        strategy=strategy,
        exchange_account=account,
        allocation_percent=Decimal("10"),
        copy_capital=Decimal("10000"),
        status=CopyRelationship.Status.STOPPED if ended_at else CopyRelationship.Status.ACTIVE,
        started_at=started_at,
        ended_at=ended_at,
    )


def add_trade(relationship: CopyRelationship, *, pnl: str, finished_at: datetime) -> CopiedTrade:
    """A filled copied trade whose realised net P&L is `pnl`."""
    return CopiedTrade.objects.create(
        relationship=relationship,
        kind=CopiedTrade.Kind.MIRROR,
        sequence=next(_sequence),
        follower=relationship.follower,
        leader_user=relationship.strategy.owner,
        strategy=relationship.strategy,
        symbol="BTC/USDT",
        side="sell",
        effect="close",
        pnl_usd=Decimal(pnl),
        status=CopiedTrade.Status.FILLED,
        client_order_id=str(uuid.uuid4()),
        finished_at=finished_at,
    )
