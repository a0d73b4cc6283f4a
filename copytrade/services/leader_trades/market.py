"""A signal's market, resolved once and passed on: the gateway that knows it (the leader
account's exchange, or the paper price source's), the exchange errors of its lookups in the
API's words, and the declared price held against the market's."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from copytrade.models import Strategy
from core.errors import ApplicationError
from core.money import HUNDRED
from exchanges.errors import ExchangeError, PermanentExchangeError, UnknownSymbolError
from exchanges.gateways import gateway_for_account
from exchanges.symbols import resolve_symbol
from exchanges.types import MarketRules


@dataclass(frozen=True)
class SignalMarket:
    """One lookup's answer: the market a symbol names and all the exchange's markets (the
    conversion check prices the market's quote against them)."""

    market: MarketRules
    markets: dict[str, MarketRules]


def signal_market_resolve(*, gateway, symbol: str) -> SignalMarket:
    """The market `symbol` names on `gateway`'s exchange (the caller wraps the lookup in
    `exchange_call`, naming what it was doing)."""
    markets = gateway.markets()
    return SignalMarket(market=markets[resolve_symbol(symbol, markets)], markets=markets)


def market_gateway(strategy: Strategy):
    """Where the strategy's markets are looked up: its leader account's exchange, or the
    paper price source's for a signal-only strategy."""
    if strategy.leader_account is not None:
        return gateway_for_account(strategy.leader_account)
    from exchanges.gateways.ccxt_gateway import CcxtGateway

    return CcxtGateway.public(settings.PAPER_PRICE_SOURCE)


class exchange_call:
    """Exchange errors → the API's: a refusal is 400 with the exchange's reason, anything
    retryable (transient, unknown outcome) is 503 and recorded nothing."""

    def __init__(self, exchange_id: str, doing: str):
        self.exchange_id = exchange_id
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, ExchangeError):
            return False
        if isinstance(exc, UnknownSymbolError):
            raise ApplicationError(exc.message, {"reason": exc.reason}) from None
        if isinstance(exc, PermanentExchangeError):
            raise ApplicationError(f"{self.exchange_id} refused {self.doing}: {exc.message}", {"reason": exc.reason}) from None
        raise ApplicationError(
            f"{self.exchange_id} is not answering ({exc.reason}) to {self.doing}; nothing was recorded. Send the same signal again.",
            {"reason": exc.reason},
            status_code=503,
        ) from None


def declared_price_check(*, declared: Decimal, market_price: Decimal, symbol: str) -> None:
    """A price the leader sends must lie within SIGNAL_PRICE_TOLERANCE_PERCENT of the market's:
    further off is a typo or a stale quote, and followers must not trade on it."""
    if market_price <= 0:
        return  # a price too small to record: the recording refuses the trade, whatever was declared
    tolerance = settings.SIGNAL_PRICE_TOLERANCE_PERCENT
    gap_percent = abs(declared - market_price) / market_price * HUNDRED
    if gap_percent > tolerance:
        raise ApplicationError(
            f"Your price {_plain(declared)} is {gap_percent.quantize(Decimal('0.01'))} % away from the market's "
            f"{_plain(market_price)} for {symbol}; signals more than {_plain(tolerance)} % from the market are refused. "
            "Send no price to trade at the market's.",
            {"declared_price": _plain(declared), "market_price": _plain(market_price), "tolerance_percent": _plain(tolerance)},
        )


def _plain(value: Decimal) -> str:
    """A price as its digits: no exponent, no trailing zeros."""
    return f"{value.normalize():f}"
