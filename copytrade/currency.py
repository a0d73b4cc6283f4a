"""A market's quote currency in the billing currency: P&L is made in the quote currency
(ETH/BTC: in BTC) and billed in settings.BILLING_CURRENCY (USD).

A quote pegged in settings.BILLING_CURRENCY_PEGS (USDT, USDC, BUSD, DAI, USD = 1) converts
at its peg; any other quote at the price of `<QUOTE>/USDT` (times USDT's peg) when the order
filled: the follower's own exchange's price where it lists that market, else the billing
price source's (settings.PAPER_PRICE_SOURCE, the market data paper accounts trade on). A
market whose quote none of them can price is refused when a leader trade on it arrives
(400), and a copied trade on a market the follower's exchange and the price source both
cannot price is skipped before its order: no copy ever holds P&L that cannot be billed.
"""

import logging
from decimal import Decimal

from django.conf import settings

from core.errors import ApplicationError
from core.money import to_decimal
from exchanges.errors import PermanentExchangeError
from exchanges.gateways.ccxt_gateway import CcxtGateway
from exchanges.types import MarketRules

logger = logging.getLogger(__name__)

# The stablecoin other quotes are priced in: the most widely listed quote on the exchanges.
REFERENCE = "USDT"


def pegged_rate(currency: str) -> Decimal | None:
    peg = settings.BILLING_CURRENCY_PEGS.get(currency.upper())
    return None if peg is None else to_decimal(peg)


def conversion_symbol(currency: str) -> str:
    return f"{currency.upper()}/{REFERENCE}"


QUOTE_NOT_CONVERTIBLE = "quote_not_convertible"  # CopiedTrade.Reason.QUOTE_NOT_CONVERTIBLE


class QuoteNotConvertible(Exception):
    """A copied trade whose P&L could not be billed: skipped before its order."""

    reason = QUOTE_NOT_CONVERTIBLE

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.detail: dict = {}


def billing_price_source() -> CcxtGateway:
    """Market data for a quote the follower's exchange cannot price: the paper gateway's source."""
    return CcxtGateway.public(settings.PAPER_PRICE_SOURCE)


def quote_convertible(*, market: MarketRules, markets: dict[str, MarketRules]) -> bool:
    """Can the market's P&L be converted to the billing currency: a peg, or `<QUOTE>/USDT`
    listed in `markets` (an exchange's) or by the billing price source."""
    quote = market.quote.upper()
    if pegged_rate(quote) is not None:
        return True
    if pegged_rate(REFERENCE) is None:
        return False
    symbol = conversion_symbol(quote)
    return symbol in markets or symbol in billing_price_source().markets()


def market_conversion_check(*, market: MarketRules, markets: dict[str, MarketRules], exchange_id: str) -> None:
    """Refuse (400) a market whose P&L could not be billed: its quote has no peg, and neither
    the exchange nor the billing price source lists `<QUOTE>/USDT` (or USDT has no peg)."""
    if quote_convertible(market=market, markets=markets):
        return
    quote = market.quote.upper()
    billing = settings.BILLING_CURRENCY.upper()
    raise ApplicationError(
        f"{market.symbol} cannot be copied: its profit and loss is in {quote}, which this platform cannot convert to "
        f"{billing} ({quote} has no configured peg and neither {exchange_id} nor {settings.PAPER_PRICE_SOURCE} lists a "
        f"{conversion_symbol(quote)} market).",
        {"symbol": market.symbol, "quote_currency": quote, "billing_currency": billing},
    )


def follower_market_conversion_check(*, gateway, market: MarketRules) -> None:
    """Before a follower's order: skip it (QuoteNotConvertible) when neither the follower's
    exchange nor the billing price source can price the market's quote."""
    quote = market.quote.upper()
    # A pegged quote (nearly every order) asks no one.
    if pegged_rate(quote) is None and not quote_convertible(market=market, markets=gateway.markets()):
        raise QuoteNotConvertible(
            f"Its profit and loss would be in {quote}, and neither {gateway.exchange_id} nor {settings.PAPER_PRICE_SOURCE} "
            f"prices {quote} in {REFERENCE}, so it could not be billed in {settings.BILLING_CURRENCY.upper()}."
        )


def quote_rate_at_fill(*, gateway, market: MarketRules) -> Decimal | None:
    """Billing currency per unit of the market's quote, now (call it at the fill): the
    follower's exchange's price of `<QUOTE>/USDT` where it lists it, else the billing price
    source's. None only when neither can price it (the order was checked before it was sent,
    so only a market delisted in between)."""
    quote = market.quote.upper()
    peg = pegged_rate(quote)
    if peg is not None:
        return peg
    reference_peg = pegged_rate(REFERENCE)
    if reference_peg is None:
        return None
    symbol = conversion_symbol(quote)
    source = gateway if symbol in gateway.markets() else billing_price_source()
    try:
        return to_decimal(source.ticker_price(symbol)) * reference_peg
    except PermanentExchangeError as exc:
        logger.warning("%s cannot price %s: P&L of %s left unconverted (%s)", source.exchange_id, quote, market.symbol, exc)
        return None
