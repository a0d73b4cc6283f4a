"""Data builders for the marketplace tests."""

import importlib
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from copytrade.models import CopyRelationship, LeaderTrade, Strategy
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider
from marketplace.services import CURATORS_GROUP


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(
        username=username, password=f"{username}-pass-123", email=f"{username}@example.com", **extra
    )


def curators_group() -> Group:
    """The data migration's group; a transactional test's flush before this one may have
    removed it, and the migration's own function puts it back."""
    group = Group.objects.filter(name=CURATORS_GROUP).first()
    if group is None:
        # The permissions the migrations gave it, under today's app labels (notifications
        # moved to core after 0004 was written).
        migration = importlib.import_module("marketplace.migrations.0004_curators_group")
        group = Group.objects.create(name=CURATORS_GROUP)
        for app_label, model, actions in migration.PERMISSIONS:
            app_label = "core" if model == "notification" else app_label
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, content_type__model=model, codename__in=[f"{action}_{model}" for action in actions]))
    return group


def make_curator(username: str = "curator"):
    user = make_user(username, is_staff=True)
    user.groups.add(curators_group())
    return user


def make_provider(user, *, status=SignalProvider.Status.APPROVED, **fields) -> SignalProvider:
    fields.setdefault("display_name", f"{user.username} signals")
    return SignalProvider.objects.create(user=user, status=status, **fields)


def make_strategy(owner, *, name: str = "Trend", **fields) -> Strategy:
    fields.setdefault("declared_capital", Decimal("10000"))
    fields.setdefault("is_public_leader", True)
    return Strategy.objects.create(owner=owner, name=name, **fields)


def make_copy(follower, strategy, *, status=CopyRelationship.Status.ACTIVE, copy_capital=Decimal("1000")) -> CopyRelationship:
    account, _ = ExchangeAccount.objects.get_or_create(owner=follower, label="paper", defaults={"exchange_id": "paper"})
    return CopyRelationship.objects.create(
        follower=follower,
        strategy=strategy,
        exchange_account=account,
        allocation_percent=Decimal("10"),
        copy_capital=copy_capital,
        status=status,
        started_at=datetime(2026, 1, 1, tzinfo=strategy.created_at.tzinfo),
    )


def make_trade(
    strategy, *, sequence: int, side: str, amount: str, price: str, traded_at: datetime, symbol: str = "BTC/USDT",
    effect: str = LeaderTrade.Effect.OPEN, position_after: str = "0",
) -> LeaderTrade:
    amount_d, price_d = Decimal(amount), Decimal(price)
    return LeaderTrade.objects.create(
        strategy=strategy, external_id=f"t{sequence}", sequence=sequence, symbol=symbol, side=side, amount=amount_d,
        price=price_d, notional=amount_d * price_d, leader_equity=strategy.declared_capital or Decimal("10000"),
        effect=effect, position_after=Decimal(position_after), source=Strategy.Source.API, traded_at=traded_at,
    )  # fmt: skip
