"""Public market data: last prices and stored candles.

Prices and candles come through the public ccxt gateway (no credentials). A paper
account's prices are those of `settings.PAPER_PRICE_SOURCE`, so asking for `"paper"`
market data reads that exchange.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from exchanges.gateways.ccxt_gateway import CcxtGateway
from exchanges.models import PAPER, Candle

TIMEFRAMES = {
    Candle.Timeframe.MINUTE: timedelta(minutes=1),
    Candle.Timeframe.HOUR: timedelta(hours=1),
    Candle.Timeframe.DAY: timedelta(days=1),
}
# Binance's largest kline page; exchanges with smaller pages return fewer and we page on.
CANDLE_PAGE_SIZE = 1000


def price_exchange_id(exchange_id: str) -> str:
    return settings.PAPER_PRICE_SOURCE if exchange_id == PAPER else exchange_id


def ticker_price(*, exchange_id: str, symbol: str) -> Decimal:
    """Last price of `symbol` (any spelling `resolve_symbol` accepts).

    Cached in Redis for `settings.EXCHANGE_TICKER_CACHE_SECONDS` by the gateway, one entry
    per exchange and market shared by every worker: a fan-out to many followers of one
    market asks the exchange once.
    """
    return CcxtGateway.public(price_exchange_id(exchange_id)).ticker_price(symbol)


def candles_sync(*, exchange_id: str, symbol: str, timeframe: str, since: datetime, until: datetime) -> int:
    """Fetch the closed candles opening in [since, until) and upsert them; returns how many.

    A candle still forming is left out: stored, it would keep a partial close that the
    metrics and verification would read as final. Re-syncing a range overwrites it, so an
    exchange correcting a candle is picked up.
    """
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe must be one of {', '.join(TIMEFRAMES)}, not {timeframe!r}")
    if timezone.is_naive(since) or timezone.is_naive(until):
        raise ValueError("since and until must be timezone-aware (UTC)")
    exchange_id = price_exchange_id(exchange_id)
    gateway = CcxtGateway.public(exchange_id)
    symbol = gateway.market(symbol).symbol
    duration = TIMEFRAMES[timeframe]
    closed_by = timezone.now()
    written = 0
    cursor = since
    while cursor < until and cursor + duration <= closed_by:
        page = gateway.fetch_ohlcv(symbol=symbol, timeframe=timeframe, since=cursor, limit=CANDLE_PAGE_SIZE)
        if not page:
            break
        candles = [
            Candle(
                exchange_id=exchange_id,
                symbol=symbol,
                timeframe=timeframe,
                open_time=open_time,
                open=open_,
                high=high,
                low=low,
                close=close,
                volume=volume,
            )
            for open_time, open_, high, low, close, volume in page
            if since <= open_time < until and open_time + duration <= closed_by
        ]
        if candles:
            Candle.objects.bulk_create(
                candles,
                update_conflicts=True,
                unique_fields=["exchange_id", "symbol", "timeframe", "open_time"],
                update_fields=["open", "high", "low", "close", "volume"],
            )
            written += len(candles)
        next_cursor = page[-1][0] + duration
        if next_cursor <= cursor:
            break
        cursor = next_cursor
    return written


def candles_between(*, exchange_id: str, symbol: str, timeframe: str, start: datetime, end: datetime) -> QuerySet[Candle]:
    """Stored candles opening in [start, end), oldest first. `symbol` is the unified symbol."""
    return Candle.objects.filter(
        exchange_id=price_exchange_id(exchange_id),
        symbol=symbol,
        timeframe=timeframe,
        open_time__gte=start,
        open_time__lt=end,
    ).order_by("open_time")
