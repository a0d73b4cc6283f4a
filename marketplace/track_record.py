"""Audited track records: stored metrics, verification against exchange candles, circuit breakers.

Network calls (candles through `exchanges.marketdata`) happen before any transaction opens;
the writes that follow are short transactions.

- Metrics (`strategy_metrics_recalculate`, `provider_metrics_recalculate`): the daily
  equity curve of `marketplace.metrics.equity_curve_from_trades`, on the strategy's
  declared capital or, for a strategy without one, the leader equity observed at its first
  trade; closes are the exchange's daily candles. As of the last closed UTC day. A
  provider's curve is the sum of its strategies' curves (a strategy counts at its starting
  capital on the days before its first trade).
- Verification (`strategy_track_record_verify`): each leader trade's price must lie within
  its 1-minute candle's [low, high], widened by `settings.VERIFICATION_TOLERANCE_PERCENT`.
  A trade outside is a flag: curators are told, the badge is lost, the provider is marked
  flagged. The badge is earned with `VERIFIED_BADGE_MIN_DAYS` of history,
  `VERIFIED_BADGE_MIN_TRADES` trades and `VERIFIED_BADGE_MIN_PERCENT` of them verified,
  with no open flag.
- Circuit breakers (`strategy_circuit_breaker_check`): a strategy of a provider whose
  current drawdown (from the peak of its whole equity curve to its latest close) exceeds
  the limit of the provider's risk level (`settings.CIRCUIT_BREAKER_MAX_DRAWDOWN`), or
  that has an open verification flag, stops taking new copies; its provider is flagged for
  review; its followers and the curators are told. A breaker trips once: it stays open
  until a curator clears the provider's review flag (or reinstates a suspended provider),
  which reopens its strategies.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from copytrade.models import CopyRelationship, LeaderTrade, Strategy
from core.models import Notification
from core.money import HUNDRED, ZERO, quantize_money
from core.notifications import notification_send_many
from exchanges.errors import ExchangeError
from exchanges.marketdata import candles_between, candles_sync, price_exchange_id
from exchanges.models import PAPER, Candle
from marketplace import metrics
from marketplace.models import (
    MetricsWindow,
    ProviderEvent,
    ProviderMetrics,
    SignalProvider,
    StrategyMetrics,
    TradeVerification,
)
from marketplace.services import curators_notify, provider_event_record

logger = logging.getLogger(__name__)

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
# A trade's 1-minute candle is final (and fetchable) only once its minute has closed.
VERIFY_SETTLE_TIME = timedelta(minutes=2)
# Trades checked per run: each may cost one candle request, and a task has a time limit.
# A run that leaves unchecked trades says so (`remaining`), and the task runs again.
VERIFY_BATCH_SIZE = 200


def strategy_price_exchange(strategy: Strategy) -> str:
    """Where a strategy's prices come from: its leader account's exchange, else the paper source."""
    exchange_id = strategy.leader_account.exchange_id if strategy.leader_account_id else PAPER
    return price_exchange_id(exchange_id)


def last_closed_day(now: datetime) -> date:
    return now.astimezone(UTC).date() - DAY


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- Metrics ---------------------------------------------------------------------------


def _trades_of(strategy: Strategy) -> list[LeaderTrade]:
    return list(LeaderTrade.objects.filter(strategy=strategy).order_by("traded_at", "sequence"))


def _daily_candles_sync(*, exchange_id: str, symbol: str, first_day: date, as_of: date) -> None:
    """Fetch the daily candles [first_day, as_of] that are not stored yet (network; no transaction)."""
    latest = (
        Candle.objects.filter(exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.DAY, open_time__gte=_midnight(first_day))
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    since = _midnight(first_day) if latest is None else latest + DAY
    until = _midnight(as_of + DAY)
    if since >= until:
        return
    try:
        candles_sync(exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.DAY, since=since, until=until)
    except ExchangeError as exc:
        logger.warning("daily candles for %s %s unavailable: %s", exchange_id, symbol, exc)


def _daily_closes(*, exchange_id: str, symbols: set[str], first_day: date, as_of: date) -> dict[str, dict[date, Decimal]]:
    closes: dict[str, dict[date, Decimal]] = {}
    for symbol in symbols:
        candles = candles_between(
            exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.DAY, start=_midnight(first_day), end=_midnight(as_of + DAY)
        )
        closes[symbol] = {open_time.date(): close for open_time, close in candles.values_list("open_time", "close")}
    return closes


def strategy_track_record(*, strategy: Strategy, as_of: date, fetch_candles: bool) -> metrics.TrackRecord | None:
    """The strategy's daily equity curve up to `as_of`; None when it cannot be built (a missing close)."""
    trades = [trade for trade in _trades_of(strategy) if trade.traded_at.astimezone(UTC).date() <= as_of]
    if not trades:
        return metrics.TrackRecord()
    capital = strategy.declared_capital or trades[0].leader_equity
    if capital is None or capital <= 0:
        logger.warning("strategy %s has no positive capital to measure returns on", strategy.pk)
        return None
    exchange_id = strategy_price_exchange(strategy)
    symbols = {trade.symbol for trade in trades}
    first_day = trades[0].traded_at.astimezone(UTC).date()
    if fetch_candles:
        for symbol in sorted(symbols):
            _daily_candles_sync(exchange_id=exchange_id, symbol=symbol, first_day=first_day, as_of=as_of)
    closes = _daily_closes(exchange_id=exchange_id, symbols=symbols, first_day=first_day, as_of=as_of)
    try:
        return metrics.equity_curve_from_trades(trades=trades, daily_closes=closes, starting_capital=capital, as_of=as_of)
    except ValueError as exc:
        logger.warning("strategy %s track record incomplete: %s", strategy.pk, exc)
        return None


def _current_drawdown_percent(equity: list[metrics.EquityPoint]) -> float | None:
    if not equity:
        return None
    peak = max(value for _, value in equity)
    if peak <= 0:
        return None
    # Equity below zero (a short that lost more than its capital) is a total loss: 100 %.
    return float(min((peak - equity[-1][1]) / peak * HUNDRED, HUNDRED))


def _metrics_values(
    *, record: metrics.TrackRecord, as_of: date, follower_count: int, copied_aum: Decimal, computed_at: datetime
) -> dict[str, dict]:
    """Field values of a `PerformanceMetrics` row per window."""
    results = metrics.compute_all(record.equity, record.closed_trade_pnls, as_of)
    current_drawdown = _current_drawdown_percent(record.equity)
    values = {}
    for window, result in results.items():
        profit_factor = metrics.profit_factor_for_api(result.profit_factor)
        series = metrics.windowed(record.equity, window, as_of, with_opening_point=True)
        values[window] = {
            "as_of": as_of,
            "first_day": result.first_day,
            "last_day": result.last_day,
            "returns_count": result.returns_count,
            "total_return": result.total_return,
            "cagr": _finite(result.cagr),
            "volatility": result.volatility,
            "sharpe_ratio": result.sharpe,
            "sortino_ratio": result.sortino,
            "max_drawdown": result.max_drawdown_percent,
            "current_drawdown": current_drawdown,
            "calmar_ratio": _finite(result.calmar),
            "closed_trades": result.closed_trades,
            "win_rate": result.win_rate,
            "profit_factor": profit_factor["profit_factor"],
            "profit_factor_infinite": profit_factor["profit_factor_infinite"],
            "follower_count": follower_count,
            "copied_aum": copied_aum,
            "equity_series": [[day.isoformat(), str(quantize_money(value))] for day, value in series],
            "computed_at": computed_at,
        }
    return values


def _finite(value: float | None) -> float | None:
    """An overflowing CAGR (and the Calmar built on it) is shown as undefined: JSON has no infinity."""
    if value is None or value in (float("inf"), float("-inf")):
        return None
    return value


def _followers(strategy_ids: list[int]) -> tuple[int, Decimal]:
    """(followers, copied AUM). The AUM is money at real exchanges only: a paper (or an
    exchange's test-network) copy can claim any capital, and the public figure would say
    whatever its follower typed."""
    live = CopyRelationship.objects.filter(strategy_id__in=strategy_ids, status__in=CopyRelationship.LIVE_STATUSES)
    real_money = ~Q(exchange_account__exchange_id=PAPER) & Q(exchange_account__sandbox=False)
    totals = live.aggregate(followers=Count("follower", distinct=True), aum=Sum("copy_capital", filter=real_money))
    return totals["followers"], totals["aum"] or ZERO


def strategy_metrics_recalculate(*, strategy_id: int, now: datetime | None = None, fetch_candles: bool = True) -> bool:
    """Recompute and store a strategy's metrics for every window; False (and nothing written)
    when its track record cannot be built yet."""
    now = now or timezone.now()
    strategy = Strategy.objects.select_related("leader_account").filter(id=strategy_id).first()
    if strategy is None:
        return False
    as_of = last_closed_day(now)
    record = strategy_track_record(strategy=strategy, as_of=as_of, fetch_candles=fetch_candles)
    if record is None:
        return False
    follower_count, aum = _followers([strategy.pk])
    values = _metrics_values(record=record, as_of=as_of, follower_count=follower_count, copied_aum=aum, computed_at=now)
    with transaction.atomic():
        for window, defaults in values.items():
            StrategyMetrics.objects.update_or_create(strategy=strategy, window=window, defaults=defaults)
    return True


def strategies_metrics_recalculate(*, strategy_ids, now: datetime | None = None, fetch_candles: bool = True) -> dict[int, bool]:
    """`strategy_metrics_recalculate` for each strategy; whether each was built. One
    strategy's failure is logged and the others go on (it keeps its last metrics)."""
    now = now or timezone.now()
    built = {}
    for strategy_id in strategy_ids:
        try:
            built[strategy_id] = strategy_metrics_recalculate(strategy_id=strategy_id, now=now, fetch_candles=fetch_candles)
        except Exception:
            logger.exception("metrics of strategy %s not recalculated; the other strategies go on", strategy_id)
            built[strategy_id] = False
    return built


def _combined(records: list[metrics.TrackRecord], as_of: date) -> metrics.TrackRecord:
    curves = [record.equity for record in records if record.equity]
    if not curves:
        return metrics.TrackRecord()
    first_day = min(curve[0][0] for curve in curves)
    by_day = [dict(curve) for curve in curves]
    equity = []
    day = first_day
    while day <= as_of:
        total = ZERO
        for curve, points in zip(curves, by_day):
            # Before its first point a strategy sits at its starting capital.
            total += points.get(day, curve[0][1] if day < curve[0][0] else curve[-1][1])
        equity.append((day, total))
        day += DAY
    pnls = sorted((pnl for record in records for pnl in record.closed_trade_pnls), key=lambda item: item[0])
    return metrics.TrackRecord(equity=equity, closed_trade_pnls=pnls)


def provider_metrics_recalculate(*, provider_id: int, now: datetime | None = None) -> bool:
    """Recompute a provider's metrics from its strategies' stored candles (no network)."""
    now = now or timezone.now()
    provider = SignalProvider.objects.filter(id=provider_id).first()
    if provider is None:
        return False
    as_of = last_closed_day(now)
    strategies = list(Strategy.objects.filter(owner_id=provider.user_id).select_related("leader_account").order_by("id"))
    records = []
    for strategy in strategies:
        try:
            record = strategy_track_record(strategy=strategy, as_of=as_of, fetch_candles=False)
        except Exception:
            logger.exception("provider %s metrics not recalculated: strategy %s failed", provider.pk, strategy.pk)
            record = None
        if record is None:
            # The provider's record is the sum of all its strategies: without one, it keeps its last metrics.
            return False
        records.append(record)
    follower_count, aum = _followers([strategy.pk for strategy in strategies])
    values = _metrics_values(
        record=_combined(records, as_of), as_of=as_of, follower_count=follower_count, copied_aum=aum, computed_at=now
    )
    with transaction.atomic():
        for window, defaults in values.items():
            ProviderMetrics.objects.update_or_create(provider=provider, window=window, defaults=defaults)
    return True


# --- Verification ----------------------------------------------------------------------


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


def strategy_track_record_verify(*, strategy_id: int, now: datetime | None = None, fetch_candles: bool = True) -> VerificationOutcome | None:
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
                    "strategy": strategy, "status": status, "exchange_id": exchange_id, "price": trade.price,
                    "candle_low": low, "candle_high": high, "tolerance_percent": tolerance, "checked_at": now,
                },
            )  # fmt: skip
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
        provider=provider, actor=None, action=ProviderEvent.Action.VERIFICATION_FLAG, field="trade_verification",
        from_value="", to_value=f"{len(new_flags)} mismatch(es)", reason=reason,
    )  # fmt: skip
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
            provider=provider, actor=None, action=ProviderEvent.Action.VERIFICATION, field="verification_status",
            from_value=previous, to_value=new,
        )  # fmt: skip
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
    strategy_ids = list(
        Strategy.objects.filter(owner__signal_provider__id=provider_id).order_by("id").values_list("id", flat=True)
    )
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
    trades_after = LeaderTrade.objects.filter(strategy_id__in=strategy_ids, traded_at__gte=_midnight(as_of + DAY)).count()
    return RecordCheck(
        strategies=len(strategy_ids), verified=totals["verified"], mismatches=totals["mismatches"],
        unavailable=totals["unavailable"], remaining=totals["remaining"], metrics=metrics_built, metrics_as_of=as_of,
        trades_after=trades_after,
    )  # fmt: skip


# --- Circuit breakers ------------------------------------------------------------------


def strategy_circuit_breaker_check(*, strategy_id: int) -> str | None:
    """Trip the strategy's breaker if its drawdown or verification says so; the reason, or None."""
    strategy = Strategy.objects.filter(id=strategy_id, accepting_copies=True).first()
    if strategy is None:
        return None
    provider = SignalProvider.objects.filter(user_id=strategy.owner_id).first()
    if provider is None:
        return None
    reason = _breaker_reason(strategy=strategy, provider=provider)
    if reason is None:
        return None
    return reason if strategy_circuit_break(strategy_id=strategy.pk, reason=reason) else None


def _breaker_reason(*, strategy: Strategy, provider: SignalProvider) -> str | None:
    limit = settings.CIRCUIT_BREAKER_MAX_DRAWDOWN[provider.risk_level]
    latest = StrategyMetrics.objects.filter(strategy=strategy, window=MetricsWindow.ALL).first()
    if latest is not None and latest.current_drawdown is not None and Decimal(repr(latest.current_drawdown)) > limit:
        return f"drawdown {latest.current_drawdown:.2f} % exceeds the {limit} % limit of a {provider.risk_level}-risk provider"
    flags = TradeVerification.objects.filter(strategy=strategy, status=TradeVerification.Status.MISMATCH, resolved_at__isnull=True).count()
    if flags:
        return f"{flags} trade(s) failed track-record verification"
    return None


@transaction.atomic
def strategy_circuit_break(*, strategy_id: int, reason: str) -> bool:
    """Stop the strategy taking new copies, flag its provider, tell followers and curators.

    The conditional update makes a breaker trip once: a second run finds it open already.
    """
    owner_id = Strategy.objects.filter(id=strategy_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return False
    # Provider before strategy: the lock order of marketplace.services.
    provider = SignalProvider.objects.select_for_update().filter(user_id=owner_id).first()
    if not Strategy.objects.filter(id=strategy_id, accepting_copies=True).update(accepting_copies=False, updated_at=timezone.now()):
        return False
    strategy = Strategy.objects.get(id=strategy_id)
    if provider is not None:
        provider.needs_review = True
        provider.review_reason = f"circuit breaker on '{strategy.name}': {reason}"[:255]
        provider.save(update_fields=["needs_review", "review_reason", "updated_at"])
        provider_event_record(
            provider=provider, actor=None, action=ProviderEvent.Action.CIRCUIT_BREAKER, field="accepting_copies",
            from_value="True", to_value="False", reason=f"strategy '{strategy.name}' (id {strategy.pk}): {reason}",
        )  # fmt: skip
    follower_ids = CopyRelationship.objects.filter(strategy=strategy, status__in=CopyRelationship.LIVE_STATUSES).values_list(
        "follower_id", flat=True
    )
    notification_send_many(
        users=get_user_model().objects.filter(id__in=set(follower_ids)).order_by("id"),
        kind=Notification.Kind.CIRCUIT_BREAKER,
        title=f"Circuit breaker: {strategy.name} takes no new copies",
        body=f"{reason}. Your copy keeps mirroring the leader's reductions and closes; curators are reviewing the provider.",
    )
    curators_notify(
        kind=Notification.Kind.CIRCUIT_BREAKER,
        title=f"Circuit breaker tripped: {strategy.name}",
        body=f"Provider {provider.display_name if provider else strategy.owner_id}: {reason}. Review the provider in admin.",
    )
    logger.info("circuit breaker on strategy %s: %s", strategy.pk, reason)
    return True
