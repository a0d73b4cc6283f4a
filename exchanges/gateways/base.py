"""The one gateway interface the rest of the code uses.

Implementations: `CcxtGateway` (any ccxt exchange) and `PaperGateway` (a virtual account in
PostgreSQL, priced from live market data). Amounts and prices are `Decimal`; symbols are the
exchange's unified ccxt symbols (`BTC/USDT`, `BTC/USDT:USDT`); resolve user input with
`resolve_symbol` first. Errors are `exchanges.errors` only; the values are exchanges/types.py's.
"""

from abc import ABC, abstractmethod
from datetime import datetime
from decimal import Decimal

from exchanges.errors import UnknownSymbolError
from exchanges.symbols import resolve_symbol
from exchanges.types import (
    AccountEquity,
    Balance,
    FundingPayment,
    FuturesPosition,
    KeyPermissions,
    MarketRules,
    OrderResult,
    Position,
    Trade,
)


class ExchangeGateway(ABC):
    exchange_id: str

    @abstractmethod
    def markets(self) -> dict[str, MarketRules]:
        """All tradable markets, keyed by unified symbol (cached)."""

    def market(self, symbol: str) -> MarketRules:
        markets = self.markets()
        return markets[resolve_symbol(symbol, markets)]

    @abstractmethod
    def ticker_price(self, symbol: str, *, fresh: bool = False) -> Decimal:
        """Last traded price; `fresh`: asked of the exchange now, never a cached one (what a
        leader's record is priced at)."""

    @abstractmethod
    def balance(self) -> dict[str, Balance]: ...

    @abstractmethod
    def equity(self, quote: str = "USDT") -> AccountEquity: ...

    @abstractmethod
    def positions(self) -> list[Position]:
        """Non-zero holdings (spot: base-currency balances; swaps: open positions)."""

    def holding(self, symbol: str) -> Decimal:
        """What the account holds in this market, as the exchange says: spot, the base asset's
        free + used balance; a swap, the signed position in contracts (copy drift checks)."""
        market = self.market(symbol)
        if market.type == "spot":
            balance = self.balance().get(market.base)
            return balance.total if balance else Decimal(0)
        return self.swap_position(market.symbol)

    def swap_position(self, symbol: str) -> Decimal:
        """The signed open position in a swap market, in contracts (> 0 long, < 0 short)."""
        raise NotImplementedError(f"{type(self).__name__} has no swap positions")

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
    def cancel_order(self, *, symbol: str, client_order_id: str) -> OrderResult: ...

    def fetch_my_trades(self, *, symbol: str | None = None, since: datetime | None = None) -> list[Trade]:
        raise NotImplementedError(f"{type(self).__name__} does not support trade sync")

    # --- perpetuals (USDⓈ-M): what a gateway that trades them adds ------------------------

    def _no_perpetuals(self) -> UnknownSymbolError:
        return UnknownSymbolError(f"{type(self).__name__} does not trade perpetuals.")

    def perpetual_settings_apply(self, *, symbol: str, leverage: int, margin_mode: str) -> None:
        """One-way position mode for the account, then `margin_mode` ("isolated" | "cross")
        and `leverage` for `symbol`. Each is idempotent: a setting already in place is success."""
        raise self._no_perpetuals()

    def perpetual_free_margin(self, quote: str = "USDT") -> Decimal:
        """What the futures wallet can still put up as margin for a new position."""
        raise self._no_perpetuals()

    def perpetual_positions(self, *, symbols: list[str] | None = None) -> list[FuturesPosition]:
        """Open perpetual positions (of `symbols`, or all), with leverage and liquidation price."""
        raise self._no_perpetuals()

    def funding_payments(self, *, symbol: str, since: datetime | None = None) -> list[FundingPayment]:
        """Funding paid and received on `symbol`, oldest first."""
        raise self._no_perpetuals()

    def key_permissions(self) -> KeyPermissions | None:
        """What the exchange says this account's key may do; None where it does not tell."""
        return None
