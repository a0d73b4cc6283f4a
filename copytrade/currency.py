"""A market's quote currency in the billing currency: P&L is made in the quote currency
(ETH/BTC: in BTC) and billed in settings.BILLING_CURRENCY (USD).

A quote pegged in settings.BILLING_CURRENCY_PEGS (USDT, USDC, BUSD, DAI, USD = 1) converts
at its peg; any other quote at the exchange's price of `<QUOTE>/USDT` (times USDT's peg),
read from the same gateway that filled the order, when it filled. A market whose quote can
be converted neither way is refused when a leader trade on it arrives (400), so no copy ever
holds P&L that cannot be billed.
"""

import logging
from decimal import Decimal

from django.conf import settings

from core.errors import ApplicationError
from core.money import to_decimal
from exchanges.errors import PermanentExchangeError
from exchanges.types import MarketRules

logger = logging.getLogger(__name__)

# The stablecoin other quotes are priced in: the most widely listed quote on the exchanges.
REFERENCE = "USDT"


def pegged_rate(currency: str) -> Decimal | None:
    peg = settings.BILLING_CURRENCY_PEGS.get(currency.upper())
    return None if peg is None else to_decimal(peg)


def conversion_symbol(currency: str) -> str:
    return f"{currency.upper()}/{REFERENCE}"


def market_conversion_check(*, market: MarketRules, markets: dict[str, MarketRules], exchange_id: str) -> None:
    """Refuse (400) a market whose P&L could not be billed: its quote has no peg, and the
    exchange lists no `<QUOTE>/USDT` (or USDT itself has no peg)."""
    quote = market.quote.upper()
    if pegged_rate(quote) is not None:
        return
    if conversion_symbol(quote) in markets and pegged_rate(REFERENCE) is not None:
        return
    billing = settings.BILLING_CURRENCY.upper()
    raise ApplicationError(
        f"{market.symbol} cannot be copied: its profit and loss is in {quote}, which this platform cannot convert to "
        f"{billing} ({quote} has no configured peg and {exchange_id} lists no {conversion_symbol(quote)} market).",
        {"symbol": market.symbol, "quote_currency": quote, "billing_currency": billing},
    )


def quote_rate_at_fill(*, gateway, market: MarketRules) -> Decimal | None:
    """Billing currency per unit of the market's quote, now (call it at the fill). None when
    the follower's exchange cannot price the quote (the fill is then recorded unconverted)."""
    quote = market.quote.upper()
    peg = pegged_rate(quote)
    if peg is not None:
        return peg
    reference_peg = pegged_rate(REFERENCE)
    if reference_peg is None:
        return None
    try:
        return to_decimal(gateway.ticker_price(conversion_symbol(quote))) * reference_peg
    except PermanentExchangeError as exc:
        logger.warning("%s cannot price %s: P&L of %s left unconverted (%s)", gateway.exchange_id, quote, market.symbol, exc)
        return None
