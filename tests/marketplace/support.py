"""Data builders for the marketplace tests."""

from datetime import datetime
from decimal import Decimal

from copytrade.models import Copy, LeaderTrade, Strategy
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider
from marketplace.services import curators_group
from tests.factories import CopyFactory, LeaderTradeFactory, SignalProviderFactory, StrategyFactory, make_user

__all__ = ["make_copy", "make_curator", "make_provider", "make_strategy", "make_trade", "make_user", "pending_provider_with_record"]


def make_curator(username: str = "curator"):
    user = make_user(username, is_staff=True)
    user.groups.add(curators_group())
    return user


def make_provider(user, *, status=SignalProvider.Status.APPROVED, **fields) -> SignalProvider:
    return SignalProviderFactory(user=user, status=status, **fields)


def make_strategy(owner, *, name: str = "Trend", **fields) -> Strategy:
    return StrategyFactory(owner=owner, name=name, **fields)


def make_copy(follower, strategy, *, status=Copy.Status.ACTIVE, copy_capital=Decimal("1000"), exchange_id: str = "paper") -> Copy:
    """Every copy of a follower here shares one account per exchange (a paper one unless told)."""
    account, _ = ExchangeAccount.objects.get_or_create(owner=follower, label=exchange_id, defaults={"exchange_id": exchange_id})
    return CopyFactory(follower=follower, strategy=strategy, exchange_account=account, status=status, copy_capital=copy_capital)


def make_trade(
    strategy,
    *,
    sequence: int,
    side: str,
    amount: str,
    price: str,
    traded_at: datetime,
    symbol: str = "BTC/USDT",
    effect: str = LeaderTrade.Effect.OPEN,
    position_after: str = "0",
) -> LeaderTrade:
    return LeaderTradeFactory(
        strategy=strategy,
        sequence=sequence,
        symbol=symbol,
        side=side,
        amount=Decimal(amount),
        price=Decimal(price),
        effect=effect,
        position_after=Decimal(position_after),
        traded_at=traded_at,
    )


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
        user,
        status=SignalProvider.Status.PENDING,
        display_name=display_name,
        trading_strategy="BTC breakouts, one position at a time",
        subscription_fee_monthly=Decimal("29"),
        performance_fee_percent=Decimal("20"),
    )
    strategy = make_strategy(user, name="Breakouts", declared_capital=Decimal("10000"))
    make_trade(strategy, sequence=1, side="buy", amount="0.1", price="59700", traded_at=bought_at, position_after="0.1")
    make_trade(strategy, sequence=2, side="sell", amount="0.1", price="61050", traded_at=sold_at, effect=LeaderTrade.Effect.CLOSE)
    LeaderTrade.objects.filter(strategy=strategy, sequence=2).update(realized_pnl=Decimal("135"))
    return provider
