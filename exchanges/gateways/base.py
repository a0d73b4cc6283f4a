"""The one gateway interface the rest of the code uses.

Implementations: `CcxtGateway` (any ccxt exchange) and `PaperGateway` (a virtual account in
PostgreSQL, priced from live market data). Amounts and prices are `Decimal`; symbols are the
exchange's unified ccxt symbols (`BTC/USDT`, `BTC/USDT:USDT`); resolve user input with
`resolve_symbol` first. Errors are `exchanges.errors` only.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from exchanges.symbols import resolve_symbol


@dataclass(frozen=True)
class MarketRules:
    symbol: str  # unified, e.g. "BTC/USDT" or "BTC/USDT:USDT"
    base: str
    quote: str
    type: str  # "spot" | "swap"
    amount_step: Decimal  # amounts are truncated to a multiple of this
    price_step: Decimal
    min_amount: Decimal = Decimal("0")
    min_cost: Decimal = Decimal("0")  # minimum notional (price × amount) in quote
    max_amount: Decimal | None = None
    contract_size: Decimal = Decimal("1")
    exchange_symbol: str = ""  # the exchange's own id, e.g. "BTCUSDT"


@dataclass(frozen=True)
class Balance:
    currency: str
    free: Decimal
    used: Decimal
    total: Decimal


@dataclass(frozen=True)
class AccountEquity:
    """Equity in the quote currency (USDT): cash plus holdings marked at the last price."""

    quote: str
    equity: Decimal
    free_quote: Decimal
    balances: dict[str, Balance] = field(default_factory=dict)


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: Decimal  # signed: > 0 long, < 0 short (swaps only)
    entry_price: Decimal | None = None


@dataclass(frozen=True)
class OrderResult:
    exchange_order_id: str
    client_order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    type: str  # "market" | "limit"
    status: str  # "open" | "closed" (filled, maybe partially) | "canceled" | "expired" | "rejected"
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    cost: Decimal  # quote spent/received
    fee: Decimal  # in fee_currency
    fee_currency: str
    timestamp: datetime | None = None

    @property
    def is_fully_filled(self) -> bool:
        return self.filled >= self.amount and self.filled > 0

    def fee_in_quote(self, *, market: "MarketRules", price: Decimal) -> Decimal:
        """The fee in the market's quote currency. A fee paid in a third currency (BNB
        discounts) would need another price lookup and counts as zero."""
        if self.fee_currency == market.quote:
            return self.fee
        if self.fee_currency == market.base:
            return self.fee * price
        return Decimal(0)


@dataclass(frozen=True)
class Trade:
    """One fill of the account (for exchange sync)."""

    trade_id: str
    order_id: str
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    cost: Decimal
    fee: Decimal
    timestamp: datetime
    # The client order id of the order this fill belongs to ("" when the exchange has none).
    client_order_id: str = ""


class ExchangeGateway(ABC):
    exchange_id: str

    @abstractmethod
    def markets(self) -> dict[str, MarketRules]:
        """All tradable markets, keyed by unified symbol (cached)."""

    def market(self, symbol: str) -> MarketRules:
        markets = self.markets()
        return markets[resolve_symbol(symbol, markets)]

    @abstractmethod
    def ticker_price(self, symbol: str) -> Decimal:
        """Last traded price."""

    @abstractmethod
    def balance(self) -> dict[str, Balance]:
        ...

    @abstractmethod
    def equity(self, quote: str = "USDT") -> AccountEquity:
        ...

    @abstractmethod
    def positions(self) -> list[Position]:
        """Non-zero holdings (spot: base-currency balances; swaps: open positions)."""

    @abstractmethod
    def create_order(
        self,
        *,
        symbol: str,
        side: str,
        amount: Decimal,
        client_order_id: str,
        type: str = "market",
        price: Decimal | None = None,
        time_in_force: str | None = None,  # "IOC" for guarded entries
        reduce_only: bool = False,
        reference_price: Decimal | None = None,
    ) -> OrderResult:
        """Place an order after applying the market's rules (see `exchanges.rules`).

        Raises BelowExchangeMinimumError before sending anything when the truncated
        amount or its cost is under the market minimum. `reference_price`: the price a
        market order's cost is checked at, when the caller has just read it (the copy
        engine sized the order with it); the last price is asked for otherwise. A gateway
        that fills orders itself (paper) fills at its own current price either way.
        """

    @abstractmethod
    def fetch_order_by_client_id(self, *, symbol: str, client_order_id: str) -> OrderResult:
        """Raises OrderNotFoundError when the exchange has no such order."""

    @abstractmethod
    def cancel_order(self, *, symbol: str, client_order_id: str) -> OrderResult:
        ...

    def fetch_my_trades(self, *, symbol: str | None = None, since: datetime | None = None) -> list[Trade]:
        raise NotImplementedError(f"{type(self).__name__} does not support trade sync")
