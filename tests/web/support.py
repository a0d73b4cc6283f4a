"""Data builders for the page tests: members with display names and verified emails,
leaders with stored metrics, closed trades, verifications and ratings."""

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.utils import timezone

from billing.models import FeeAssessment, Invoice, InvoiceLine, Payout
from copytrade.models import Copy, LeaderTrade, Strategy
from core.profiles import profile_create
from marketplace.models import Rating, SignalProvider, StrategyMetrics, TradeVerification
from tests.factories import LeaderTradeFactory, SignalProviderFactory, StrategyFactory, make_user, password_of
from tests.marketplace.support import make_copy

__all__ = [
    "AS_OF",
    "billed_month",
    "closed_trade",
    "equity_series",
    "make_leader",
    "make_member",
    "make_provider",
    "password_of",
    "rate",
    "verify",
]

_sequence = itertools.count(1)
AS_OF = date(2026, 3, 31)


def make_member(username: str, display_name: str | None = None, **extra):
    """A user who signed up: a display name and a verified primary email."""
    user = make_user(username, **extra)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if display_name:
        profile_create(user=user, display_name=display_name)
    return user


def equity_series(days: int, *, start: str = "10000", daily_change: str = "0.004") -> list[list[str]]:
    """`days` daily returns (days + 1 points) ending on AS_OF, compounding `daily_change`."""
    value = Decimal(start)
    first = AS_OF - timedelta(days=days)
    series = []
    for offset in range(days + 1):
        series.append([(first + timedelta(days=offset)).isoformat(), str(value.quantize(Decimal("0.01")))])
        value *= 1 + Decimal(daily_change)
    return series


def make_leader(
    owner,
    *,
    name: str,
    kind: str = Strategy.Kind.MANUAL,
    days: int = 120,
    closed_trades: int = 40,
    total_return: float = 0.12,
    sharpe: float = 1.5,
    max_drawdown: float = 8.0,
    copiers: int = 0,
    verified: bool = False,
    override: str = "15",
) -> Strategy:
    """A public running strategy with metrics for every window (coverage capped by `days`)."""
    strategy = StrategyFactory(
        owner=owner,
        name=name,
        kind=kind,
        copiers_count=copiers,
        verified_badge=verified,
        copy_override_percent=Decimal(override),
    )
    for window, window_days in (("7d", 7), ("30d", 30), ("90d", 90), ("all", days)):
        covered = min(days, window_days)
        series = equity_series(covered, daily_change="0.004" if total_return >= 0 else "-0.004")
        StrategyMetrics.objects.create(
            strategy=strategy,
            window=window,
            as_of=AS_OF,
            first_day=AS_OF - timedelta(days=covered - 1) if covered else None,
            last_day=AS_OF if covered else None,
            returns_count=covered,
            total_return=total_return,
            sharpe_ratio=sharpe,
            max_drawdown=max_drawdown,
            closed_trades=min(closed_trades, covered),
            win_rate=0.6,
            equity_series=series,
            computed_at=timezone.now(),
        )
    return strategy


def check_trades(strategy: Strategy, *statuses: str) -> None:
    """One opening trade of the strategy per status, each checked against the exchange with that outcome."""
    for status in statuses:
        verify(LeaderTradeFactory(strategy=strategy, sequence=next(_sequence)), status=status)


def make_provider(user, *, performance_percent: str = "15", subscription: str = "0", display_name: str = "") -> SignalProvider:
    # Display names are unique among providers: by default the user's own.
    return SignalProviderFactory(
        user=user,
        display_name=display_name or user.username.title(),
        performance_fee_percent=Decimal(performance_percent),
        subscription_fee_monthly=Decimal(subscription),
    )


def rate(provider: SignalProvider, user, *, stars: int, comment: str = "") -> Rating:
    rating = Rating.objects.create(provider=provider, user=user, stars=stars, comment=comment)
    ratings = list(Rating.objects.filter(provider=provider).values_list("stars", flat=True))
    SignalProvider.objects.filter(pk=provider.pk).update(average_rating=Decimal(sum(ratings)) / len(ratings), ratings_count=len(ratings))
    return rating


def closed_trade(strategy: Strategy, *, pnl: str, price: str = "65000", effect: str = LeaderTrade.Effect.CLOSE) -> LeaderTrade:
    sequence = next(_sequence)
    return LeaderTradeFactory(
        strategy=strategy,
        sequence=sequence,
        side="sell",
        price=Decimal(price),
        effect=effect,
        reduce_fraction=Decimal("1") if effect == LeaderTrade.Effect.CLOSE else Decimal("0.4"),
        realized_pnl=Decimal(pnl),
        traded_at=datetime(2026, 3, 30, 12, sequence % 60, tzinfo=UTC),
    )


def verify(trade: LeaderTrade, *, status: str = TradeVerification.Status.VERIFIED) -> TradeVerification:
    return TradeVerification.objects.create(
        leader_trade=trade,
        strategy=trade.strategy,
        status=status,
        exchange_id="binance",
        price=trade.price,
        candle_low=trade.price,
        candle_high=trade.price,
        tolerance_percent=Decimal("0.1"),
        checked_at=timezone.now(),
    )


def billed_month(follower, strategy, *, period: date = date(2026, 10, 1), paid: bool = True) -> Invoice:
    """`follower` was billed for copying `strategy` in `period`: a performance fee and a
    subscription line, paid or awaiting payment; the strategy's owner awaits a manual payout."""
    copy = Copy.objects.filter(follower=follower, strategy=strategy).first() or make_copy(follower, strategy)
    payee = strategy.owner
    assessment = FeeAssessment.objects.create(
        copy=copy,
        follower=follower,
        strategy=strategy,
        payee=payee,
        program="marketplace",
        period=period,
        period_net_pnl=Decimal("199.45"),
        cumulative_pnl=Decimal("199.45"),
        hwm_before=0,
        hwm_after=Decimal("199.45"),
        rate_percent=Decimal("20"),
        payee_share=Decimal("0.80"),
        performance_fee=Decimal("39.89"),
        subscription_fee_monthly=Decimal("29"),
        live_days=31,
        days_in_period=31,
        subscription_fee=Decimal("29"),
        total=Decimal("68.89"),
    )
    invoice = Invoice.objects.create(
        follower=follower,
        period=period,
        currency="usd",
        total=Decimal("68.89"),
        status="paid" if paid else "open",
        stripe_invoice_id=f"in_{follower.pk}_{strategy.pk}",
        paid_at=timezone.now() if paid else None,
    )
    payout = Payout.objects.create(
        payee=payee,
        period=period,
        currency="usd",
        gross=Decimal("68.89"),
        payee_amount=Decimal("55.11"),
        platform_amount=Decimal("13.78"),
        status="awaiting_manual" if paid else "pending",
    )
    for kind, amount, payee_amount in (("performance_fee", "39.89", "31.91"), ("subscription", "29.00", "23.20")):
        InvoiceLine.objects.create(
            invoice=invoice,
            assessment=assessment,
            kind=kind,
            description=f"{kind} {strategy.name}",
            amount=Decimal(amount),
            payee=payee,
            program="marketplace",
            payee_amount=Decimal(payee_amount),
            platform_amount=Decimal(amount) - Decimal(payee_amount),
            payout=payout,
        )
    return invoice
