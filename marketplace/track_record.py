"""Audited track records: the stored metrics of strategies and providers.

Network calls (daily candles through `exchanges.marketdata`) happen before any transaction
opens; the writes that follow are short transactions.

`strategy_metrics_recalculate` and `provider_metrics_recalculate` store the daily equity
curve of `marketplace.metrics.equity_curve_from_trades`, on the strategy's declared capital
or, for a strategy without one, the leader equity observed at its first trade; closes are
the exchange's daily candles. As of the last closed UTC day. A provider's curve is the sum
of its strategies' curves (a strategy counts at its starting capital on the days before its
first trade).

Verification of the trades against their candles lives in `marketplace.verification`, the
circuit breakers that act on these metrics in `marketplace.breakers`.
"""

import logging
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from copytrade.models import Copy, LeaderTrade, Strategy
from core.money import HUNDRED, ZERO, quantize_money
from exchanges.errors import ExchangeError
from exchanges.marketdata import candles_between, candles_sync, price_exchange_id
from exchanges.models import PAPER, Candle
from marketplace import metrics
from marketplace.models import ProviderMetrics, SignalProvider, StrategyMetrics

logger = logging.getLogger(__name__)

DAY = timedelta(days=1)


def strategy_price_exchange(strategy: Strategy) -> str:
    """Where a strategy's prices come from: its leader account's exchange, else the paper source."""
    exchange_id = strategy.leader_account.exchange_id if strategy.leader_account_id else PAPER
    return price_exchange_id(exchange_id)


def last_closed_day(now: datetime) -> date:
    return now.astimezone(UTC).date() - DAY


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _trades_of(strategy: Strategy) -> list[LeaderTrade]:
    return list(LeaderTrade.objects.filter(strategy=strategy).order_by("traded_at", "sequence"))


def _daily_candles_sync(*, exchange_id: str, symbol: str, first_day: date, as_of: date) -> None:
    """Fetch the daily candles [first_day, as_of] that are not stored yet (network; no transaction)."""
    latest = (
        Candle.objects.filter(exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.DAY, open_time__gte=midnight(first_day))
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    since = midnight(first_day) if latest is None else latest + DAY
    until = midnight(as_of + DAY)
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
            exchange_id=exchange_id, symbol=symbol, timeframe=Candle.Timeframe.DAY, start=midnight(first_day), end=midnight(as_of + DAY)
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
    live = Copy.objects.filter(strategy_id__in=strategy_ids, status__in=Copy.LIVE_STATUSES)
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
    values = _metrics_values(record=_combined(records, as_of), as_of=as_of, follower_count=follower_count, copied_aum=aum, computed_at=now)
    with transaction.atomic():
        for window, defaults in values.items():
            ProviderMetrics.objects.update_or_create(provider=provider, window=window, defaults=defaults)
    return True
