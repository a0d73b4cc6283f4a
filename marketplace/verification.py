"""Track-record verification: each leader trade's price against its exchange's 1-minute candle.

A trade's price must lie within its candle's [low, high], widened by
`settings.VERIFICATION_TOLERANCE_PERCENT`. A trade outside is a flag: curators are told,
the badge is lost, the provider is marked flagged. The badge is earned with
`VERIFIED_BADGE_MIN_DAYS` of history, `VERIFIED_BADGE_MIN_TRADES` trades and
`VERIFIED_BADGE_MIN_PERCENT` of them verified, with no open flag.

Candles are fetched before any transaction opens; the writes that follow are short
transactions.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from copytrade.models import LeaderTrade, Strategy
from core.models import Notification
from core.money import HUNDRED
from exchanges.errors import ExchangeError
from exchanges.marketdata import candles_sync
from exchanges.models import Candle
from marketplace.models import ProviderEvent, SignalProvider, TradeVerification
from marketplace.services import curators_notify, provider_event_record
from marketplace.track_record import (
    DAY,
    last_closed_day,
    midnight,
    provider_metrics_recalculate,
    strategies_metrics_recalculate,
    strategy_price_exchange,
)

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
# A trade's 1-minute candle is final (and fetchable) only once its minute has closed.
VERIFY_SETTLE_TIME = timedelta(minutes=2)
# Trades checked per run: each may cost one candle request, and a task has a time limit.
# A run that leaves unchecked trades says so (`remaining`), and the task runs again.
VERIFY_BATCH_SIZE = 200


@dataclass(frozen=True)
class VerificationOutcome:
    checked: int
    verified: int
    mismatches: int
    unavailable: int
    badge: bool
    # Never-checked trades left for another run (over VERIFY_BATCH_SIZE).
    remaining: int = 0


def _minute_candle(*, exchange_id: str, symbol: str, minute: datetime, fetch: bool) -> Candle | None:
    candle = Candle.objects.filter(exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.MINUTE, open_time=minute).first()
    if candle is None and fetch:
        try:
            candles_sync(exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.MINUTE, since=minute, until=minute + MINUTE)
        except ExchangeError as exc:
            logger.warning("1m candle %s %s %s unavailable: %s", exchange_id, symbol, minute, exc)
            return None
        candle = Candle.objects.filter(exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.MINUTE, open_time=minute).first()
    return candle


def price_within_candle(*, price: Decimal, low: Decimal, high: Decimal, tolerance_percent: Decimal) -> bool:
    tolerance = tolerance_percent / HUNDRED
    return low * (1 - tolerance) <= price <= high * (1 + tolerance)


def strategy_track_record_verify(
    *, strategy_id: int, now: datetime | None = None, fetch_candles: bool = True
) -> VerificationOutcome | None:
    """Check the strategy's unchecked trades (and those whose candle was unavailable) against
    their 1-minute candles, then award or withdraw the verified badge."""
    now = now or timezone.now()
    strategy = Strategy.objects.select_related("leader_account").filter(id=strategy_id).first()
    if strategy is None:
        return None
    exchange_id = strategy_price_exchange(strategy)
    tolerance = settings.VERIFICATION_TOLERANCE_PERCENT
    settled = LeaderTrade.objects.filter(strategy=strategy, traded_at__lte=now - VERIFY_SETTLE_TIME)
    unchecked = settled.filter(verification__isnull=True).order_by("traded_at", "sequence")
    to_check = list(unchecked[:VERIFY_BATCH_SIZE])
    remaining = max(0, unchecked.count() - len(to_check))
    if len(to_check) < VERIFY_BATCH_SIZE:
        # Trades whose candle was missing last time are tried again after the new ones.
        to_check += list(
            settled.filter(verification__status=TradeVerification.Status.UNAVAILABLE).order_by("traded_at", "sequence")[
                : VERIFY_BATCH_SIZE - len(to_check)
            ]
        )
    findings = []
    for trade in to_check:
        minute = trade.traded_at.astimezone(UTC).replace(second=0, microsecond=0)
        candle = _minute_candle(exchange_id=exchange_id, symbol=trade.symbol, minute=minute, fetch=fetch_candles)
        if candle is None:
            findings.append((trade, TradeVerification.Status.UNAVAILABLE, None, None))
        elif price_within_candle(price=trade.price, low=candle.low, high=candle.high, tolerance_percent=tolerance):
            findings.append((trade, TradeVerification.Status.VERIFIED, candle.low, candle.high))
        else:
            findings.append((trade, TradeVerification.Status.MISMATCH, candle.low, candle.high))

    new_flags = [finding for finding in findings if finding[1] == TradeVerification.Status.MISMATCH]
    with transaction.atomic():
        for trade, status, low, high in findings:
            TradeVerification.objects.update_or_create(
                leader_trade=trade,
                defaults={
                    "strategy": strategy,
                    "status": status,
                    "exchange_id": exchange_id,
                    "price": trade.price,
                    "candle_low": low,
                    "candle_high": high,
                    "tolerance_percent": tolerance,
                    "checked_at": now,
                },
            )
        # Provider before strategy: the lock order of marketplace.services.
        provider = SignalProvider.objects.select_for_update().filter(user_id=strategy.owner_id).first()
        badge = _strategy_badge_update(strategy=strategy, now=now)
        if new_flags and provider is not None:
            _provider_flag(provider=provider, strategy=strategy, new_flags=new_flags)
        if provider is not None:
            provider_verification_status_refresh(provider=provider)
    counts = defaultdict(int)
    for _, status, _, _ in findings:
        counts[status] += 1
    return VerificationOutcome(
        checked=len(findings),
        verified=counts[TradeVerification.Status.VERIFIED],
        mismatches=counts[TradeVerification.Status.MISMATCH],
        unavailable=counts[TradeVerification.Status.UNAVAILABLE],
        badge=badge,
        remaining=remaining,
    )


def _strategy_badge_update(*, strategy: Strategy, now: datetime) -> bool:
    trades = LeaderTrade.objects.filter(strategy=strategy)
    summary = trades.aggregate(count=Count("id"), first=Min("traded_at"))
    checks = TradeVerification.objects.filter(strategy=strategy)
    verified = checks.filter(status=TradeVerification.Status.VERIFIED).count()
    open_flags = checks.filter(status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True).exists()
    count = summary["count"]
    earned = (
        count >= settings.VERIFIED_BADGE_MIN_TRADES
        and summary["first"] is not None
        and now - summary["first"] >= timedelta(days=settings.VERIFIED_BADGE_MIN_DAYS)
        and Decimal(verified) * HUNDRED >= settings.VERIFIED_BADGE_MIN_PERCENT * count
        and not open_flags
    )
    # copytrade owns the Strategy model; the badge is the marketplace's to set.
    Strategy.objects.filter(id=strategy.pk).exclude(verified_badge=earned).update(verified_badge=earned, updated_at=now)
    return earned


def _provider_flag(*, provider: SignalProvider, strategy: Strategy, new_flags: list) -> None:
    details = "; ".join(
        f"trade #{trade.sequence} {trade.side} {trade.symbol} at {trade.price} {trade.traded_at:%Y-%m-%d %H:%M} UTC "
        f"outside candle [{low}, {high}]"
        for trade, _, low, high in new_flags[:20]
    )
    reason = f"{len(new_flags)} trade(s) of strategy '{strategy.name}' failed verification: {details}"
    provider.needs_review = True
    provider.review_reason = reason[:255]
    provider.save(update_fields=["needs_review", "review_reason", "updated_at"])
    provider_event_record(
        provider=provider,
        actor=None,
        action=ProviderEvent.Action.VERIFICATION_FLAG,
        field="trade_verification",
        from_value="",
        to_value=f"{len(new_flags)} mismatch(es)",
        reason=reason,
    )
    curators_notify(
        kind=Notification.Kind.VERIFICATION_FLAG,
        title=f"Verification flag: {provider.display_name} / {strategy.name}",
        body=reason,
    )


def provider_verification_status_refresh(*, provider: SignalProvider) -> str:
    """flagged with any open flag on its strategies; verified when one of them has the badge."""
    strategies = Strategy.objects.filter(owner_id=provider.user_id)
    if TradeVerification.objects.filter(
        strategy__owner_id=provider.user_id, status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True
    ).exists():
        new = SignalProvider.VerificationStatus.FLAGGED
    elif strategies.filter(verified_badge=True).exists():
        new = SignalProvider.VerificationStatus.VERIFIED
    else:
        new = SignalProvider.VerificationStatus.UNVERIFIED
    previous = provider.verification_status
    if new != previous:
        provider.verification_status = new
        provider.save(update_fields=["verification_status", "updated_at"])
        provider_event_record(
            provider=provider,
            actor=None,
            action=ProviderEvent.Action.VERIFICATION,
            field="verification_status",
            from_value=previous,
            to_value=new,
        )
    return new


@transaction.atomic
def trade_verification_resolve(*, verification_id: int, actor, note: str) -> TradeVerification:
    """A curator accepts a mismatch after review: it stops counting as an open flag."""
    owner_id = TradeVerification.objects.filter(id=verification_id).values_list("strategy__owner_id", flat=True).get()
    # Provider before strategy: the lock order of marketplace.services.
    provider = SignalProvider.objects.select_for_update().filter(user_id=owner_id).first()
    verification = TradeVerification.objects.select_for_update(of=("self",)).select_related("strategy").get(id=verification_id)
    if verification.is_open_flag:
        now = timezone.now()
        verification.resolved_at = now
        verification.resolved_by = actor
        verification.resolution_note = note[:255]
        verification.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
        _strategy_badge_update(strategy=verification.strategy, now=now)
        if provider is not None:
            provider_verification_status_refresh(provider=provider)
    return verification


# --- On demand -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordCheck:
    strategies: int
    verified: int
    mismatches: int
    unavailable: int
    # Trades left unchecked (over VERIFY_BATCH_SIZE per strategy): the daily run takes them.
    remaining: int
    # False when a strategy's equity curve cannot be built yet (a daily close is missing).
    metrics: bool
    # The metrics' last day (the last full UTC day), and the trades after it they leave out.
    metrics_as_of: date
    trades_after: int


def provider_record_check(*, provider_id: int, now: datetime | None = None) -> RecordCheck:
    """What the nightly jobs do for a provider's strategies, now (a curator reviewing an
    application has no record to look at until they ran): verify the trades against their
    candles and compute the metrics. Candles come from the exchange first, outside any
    transaction; an unreachable exchange raises its ExchangeError."""
    now = now or timezone.now()
    strategy_ids = list(Strategy.objects.filter(owner__signal_provider__id=provider_id).order_by("id").values_list("id", flat=True))
    totals = defaultdict(int)
    for strategy_id in strategy_ids:
        outcome = strategy_track_record_verify(strategy_id=strategy_id, now=now)
        if outcome is not None:
            totals["verified"] += outcome.verified
            totals["mismatches"] += outcome.mismatches
            totals["unavailable"] += outcome.unavailable
            totals["remaining"] += outcome.remaining
    metrics_built = all(strategies_metrics_recalculate(strategy_ids=strategy_ids, now=now).values())
    metrics_built = provider_metrics_recalculate(provider_id=provider_id, now=now) and metrics_built
    as_of = last_closed_day(now)
    trades_after = LeaderTrade.objects.filter(strategy_id__in=strategy_ids, traded_at__gte=midnight(as_of + DAY)).count()
    return RecordCheck(
        strategies=len(strategy_ids),
        verified=totals["verified"],
        mismatches=totals["mismatches"],
        unavailable=totals["unavailable"],
        remaining=totals["remaining"],
        metrics=metrics_built,
        metrics_as_of=as_of,
        trades_after=trades_after,
    )
