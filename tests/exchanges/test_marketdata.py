import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exchanges import marketdata
from exchanges.marketdata import candles_between, candles_sync, ticker_price
from exchanges.models import Candle

MINUTE = timedelta(minutes=1)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def start() -> datetime:
    """A whole hour well in the past: every candle in it is closed."""
    return (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def history(simulated_binance, start):
    """BTC/USDT ticks on the simulator: minute 0 moves, minute 1 has one trade, then quiet."""
    simulated_binance.add_ticks(
        ticks=[
            {"symbol": "BTC/USDT", "price": "100", "timestamp": _ms(start + timedelta(seconds=10)), "volume": "1"},
            {"symbol": "BTC/USDT", "price": "110", "timestamp": _ms(start + timedelta(seconds=40)), "volume": "2"},
            {"symbol": "BTC/USDT", "price": "95", "timestamp": _ms(start + timedelta(seconds=50)), "volume": "1.5"},
            {"symbol": "BTC/USDT", "price": "96", "timestamp": _ms(start + timedelta(seconds=65)), "volume": "0.25"},
        ]
    )
    return simulated_binance


def _ohlcv(candle: Candle) -> tuple:
    return candle.open, candle.high, candle.low, candle.close, candle.volume


def test_it_syncs_candles_from_the_exchange_into_the_table(db, history, start):
    written = candles_sync(exchange_id="binance", symbol="BTCUSDT", timeframe="1m", since=start, until=start + 5 * MINUTE)

    candles = list(candles_between(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", start=start, end=start + 5 * MINUTE))
    assert written == 5
    assert [candle.open_time for candle in candles] == [start + n * MINUTE for n in range(5)]
    assert _ohlcv(candles[0]) == (Decimal("100"), Decimal("110"), Decimal("95"), Decimal("95"), Decimal("4.5"))
    assert _ohlcv(candles[1]) == (Decimal("96"), Decimal("96"), Decimal("96"), Decimal("96"), Decimal("0.25"))
    assert _ohlcv(candles[4]) == (Decimal("96"), Decimal("96"), Decimal("96"), Decimal("96"), Decimal("0"))
    assert candles[0].open_time.tzinfo is not None


def test_it_pages_through_a_range_longer_than_one_request(db, history, start, monkeypatch):
    monkeypatch.setattr(marketdata, "CANDLE_PAGE_SIZE", 7)
    requests_before = history.stats()["requests"]

    written = candles_sync(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", since=start, until=start + 60 * MINUTE)

    assert written == 60
    assert Candle.objects.filter(exchange_id="binance", symbol="BTC/USDT", timeframe="1m").count() == 60
    # 9 pages of 7 candles, not one request per candle (plus the market list).
    assert history.stats()["requests"] - requests_before <= 11


def test_syncing_a_range_again_updates_candles_instead_of_duplicating_them(db, history, start):
    candles_sync(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", since=start, until=start + 2 * MINUTE)
    history.add_ticks(ticks=[{"symbol": "BTC/USDT", "price": "120", "timestamp": _ms(start + timedelta(seconds=55)), "volume": "1"}])

    written = candles_sync(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", since=start, until=start + 2 * MINUTE)

    first = Candle.objects.get(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", open_time=start)
    assert written == 2
    assert Candle.objects.count() == 2
    assert (first.high, first.close, first.volume) == (Decimal("120"), Decimal("120"), Decimal("5.5"))


def test_it_stores_hourly_candles_and_reads_back_only_the_asked_range(db, history, start):
    candles_sync(
        exchange_id="binance", symbol="BTC/USDT", timeframe="1h", since=start - timedelta(hours=1), until=start + timedelta(hours=2)
    )

    candles = list(candles_between(exchange_id="binance", symbol="BTC/USDT", timeframe="1h", start=start, end=start + timedelta(hours=1)))

    assert [(candle.open_time, candle.high, candle.low) for candle in candles] == [(start, Decimal("110"), Decimal("95"))]


def test_it_leaves_out_the_candle_still_forming(db, simulated_binance):
    since = timezone.now().replace(second=0, microsecond=0) - 3 * MINUTE
    simulated_binance.add_ticks(ticks=[{"symbol": "BTC/USDT", "price": "100", "timestamp": _ms(since + timedelta(seconds=5))}])

    candles_sync(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", since=since, until=since + timedelta(hours=1))

    synced_at = timezone.now()
    open_times = list(Candle.objects.order_by("open_time").values_list("open_time", flat=True))
    assert open_times[0] == since
    assert open_times[-1] + MINUTE <= synced_at
    assert open_times[-1] >= synced_at.replace(second=0, microsecond=0) - 2 * MINUTE
    assert open_times == [since + n * MINUTE for n in range(len(open_times))]


def test_paper_candles_are_those_of_the_paper_price_source(db, history, start, settings):
    settings.PAPER_PRICE_SOURCE = "binance"

    candles_sync(exchange_id="paper", symbol="BTC/USDT", timeframe="1m", since=start, until=start + MINUTE)

    assert Candle.objects.get().exchange_id == "binance"
    assert candles_between(exchange_id="paper", symbol="BTC/USDT", timeframe="1m", start=start, end=start + MINUTE).count() == 1


def test_it_refuses_an_unsupported_timeframe_or_a_naive_datetime(db, simulated_binance, start):
    with pytest.raises(ValueError, match="timeframe must be one of 1m, 1h, 1d"):
        candles_sync(exchange_id="binance", symbol="BTC/USDT", timeframe="5m", since=start, until=start + MINUTE)
    with pytest.raises(ValueError, match="timezone-aware"):
        candles_sync(exchange_id="binance", symbol="BTC/USDT", timeframe="1m", since=datetime(2024, 1, 1), until=datetime(2024, 1, 2))
    assert not Candle.objects.exists()


def test_a_ticker_price_is_served_from_the_cache_until_it_expires(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0.5
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    assert ticker_price(exchange_id="binance", symbol="BTCUSDT") == Decimal("65000")

    simulated_binance.set_price(symbol="BTC/USDT", price="66000")
    changed_at = time.monotonic()

    assert ticker_price(exchange_id="binance", symbol="BTC/USDT") == Decimal("65000")
    deadline = changed_at + 5
    while (price := ticker_price(exchange_id="binance", symbol="BTC/USDT")) == Decimal("65000"):
        assert time.monotonic() < deadline, "the cached price never expired"
        time.sleep(0.05)
    assert price == Decimal("66000")


def test_one_cached_price_serves_every_caller(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 60
    ticker_price(exchange_id="binance", symbol="ETH/USDT")
    requests_before = simulated_binance.stats()["requests"]

    prices = {ticker_price(exchange_id="binance", symbol="ETH/USDT") for _ in range(20)}

    assert prices == {Decimal("3500")}
    assert simulated_binance.stats()["requests"] == requests_before


def test_a_paper_ticker_price_is_the_price_source_price(simulated_binance, settings):
    settings.PAPER_PRICE_SOURCE = "binance"
    simulated_binance.set_price(symbol="SOL/USDT", price="151.25")

    assert ticker_price(exchange_id="paper", symbol="SOL/USDT") == Decimal("151.25")
