"""Data builders for the marketplace tests."""

from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model

from copytrade.models import CopyRelationship, LeaderTrade, Strategy
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider
from marketplace.services import curators_group


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(
        username=username, password=f"{username}-pass-123", email=f"{username}@example.com", **extra
    )


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


def pending_provider_with_record(simulator, *, username: str = "paula", display_name: str = "Paula's Breakouts") -> SignalProvider:
    """A pending provider whose strategy bought 0.1 BTC five days ago and sold it two days ago,
    with the exchange's price history on the simulator: a tick at each trade and a close at
    23:59 UTC every day since, so verification and metrics can be computed on demand."""
    from datetime import UTC, timedelta

    from django.utils import timezone

    today = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    bought_at, sold_at = today - timedelta(days=5, hours=-10), today - timedelta(days=2, hours=-15)
    closes = [(today - timedelta(days=days, minutes=1), Decimal("60000") + 400 * (5 - days)) for days in range(5, -1, -1)]
    simulator.add_ticks(
        ticks=[
            {"symbol": "BTCUSDT", "price": str(price), "timestamp": int(moment.timestamp() * 1000), "volume": "1"}
            for moment, price in [*closes, (bought_at, Decimal("59700")), (sold_at, Decimal("61050"))]
        ]
    )
    user = make_user(username)
    provider = make_provider(
        user, status=SignalProvider.Status.PENDING, display_name=display_name, trading_strategy="BTC breakouts, one position at a time",
        subscription_fee_monthly=Decimal("29"), performance_fee_percent=Decimal("20"),
    )  # fmt: skip
    strategy = make_strategy(user, name="Breakouts", declared_capital=Decimal("10000"))
    make_trade(strategy, sequence=1, side="buy", amount="0.1", price="59700", traded_at=bought_at, position_after="0.1")
    make_trade(strategy, sequence=2, side="sell", amount="0.1", price="61050", traded_at=sold_at, effect=LeaderTrade.Effect.CLOSE)
    LeaderTrade.objects.filter(strategy=strategy, sequence=2).update(realized_pnl=Decimal("135"))
    return provider
