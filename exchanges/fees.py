"""A trading fee in the market's quote currency, whatever currency the exchange charged it in:
the one conversion every recorded fill (a follower's, a leader's) goes through.

- in the quote: as it is;
- in the base coin (Binance spot's default for a buy): × the fill's own price;
- in a third currency (Binance's "pay fees with BNB"): × that currency's price in the quote on
  the same exchange (`<FEE COIN>/<QUOTE>`), what the market said: its ticker for a fill of the
  last few minutes (cached per process and in Redis, so only a third-currency fee pays for the
  lookup), else the close of the 1-minute candle holding the fill;
- not convertible (the exchange lists no `<FEE COIN>/<QUOTE>`, or it cannot price it): zero,
  with a warning naming the fill. The fee is then missing from that fill's P&L.

A transient exchange error propagates: the caller's retry records the fill later.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from core.money import ZERO, to_decimal
from exchanges.errors import PermanentExchangeError
from exchanges.types import MarketRules, OrderResult

logger = logging.getLogger(__name__)

# A fill younger than this is priced at the fee coin's ticker; an older one at its candle.
TICKER_FRESH_FOR = timedelta(minutes=3)


def fee_in_quote(
    *, gateway, market: MarketRules, fee: Decimal, fee_currency: str, price: Decimal, filled_at: datetime | None = None, fill_id: str = ""
) -> Decimal:
    """`fee` (charged in `fee_currency`) in `market.quote`; `price` is the fill's."""
    currency = (fee_currency or market.quote).upper()
    if not fee or currency == market.quote.upper():
        return fee
    if currency == market.base.upper():
        return fee * price
    symbol = f"{currency}/{market.quote.upper()}"
    try:
        if symbol not in gateway.markets():
            why = f"{gateway.exchange_id} lists no {symbol}"
        else:
            return fee * _fee_coin_price(gateway=gateway, symbol=symbol, filled_at=filled_at)
    except PermanentExchangeError as exc:
        why = f"{gateway.exchange_id} cannot price {symbol}: {exc}"
    logger.warning("fill %s on %s: fee of %s %s not convertible (%s); counted as zero", fill_id, market.symbol, fee, currency, why)
    return ZERO


def order_fee_in_quote(*, gateway, market: MarketRules, result: OrderResult, price: Decimal, fill_id: str) -> Decimal:
    """An order's fee (`fee_in_quote`), as the exchange answered it, at the order's fill `price`."""
    return fee_in_quote(
        gateway=gateway,
        market=market,
        fee=result.fee,
        fee_currency=result.fee_currency,
        price=price,
        filled_at=result.timestamp,
        fill_id=fill_id,
    )


def _fee_coin_price(*, gateway, symbol: str, filled_at: datetime | None) -> Decimal:
    fetch_ohlcv = getattr(gateway, "fetch_ohlcv", None)
    if filled_at is not None and fetch_ohlcv is not None and timezone.now() - filled_at > TICKER_FRESH_FOR:
        minute = filled_at.replace(second=0, microsecond=0)
        candles = fetch_ohlcv(symbol=symbol, timeframe="1m", since=minute, limit=1)
        if candles and candles[0][0] == minute:
            return to_decimal(candles[0][4])
    return to_decimal(gateway.ticker_price(symbol))


def fee_kept_from_amount(*, market: MarketRules, side: str, fee: Decimal, fee_currency: str) -> Decimal:
    """What of a buy's filled amount the exchange kept as its fee (Binance spot charges a buy
    in the base coin): the account received the filled amount less this. Zero otherwise."""
    return fee if side == "buy" and (fee_currency or "").upper() == market.base.upper() else ZERO
