"""What the exchanges answer, as values: markets and their order rules, balances, equity,
positions, orders and fills. The gateway interface (exchanges/gateways/base.py) and the code
that sizes, checks and records orders all speak these."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


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
    # Perpetuals: the maintenance margin rate of the first bracket (0.004 = 0.4 %), when the
    # exchange lists it; the liquidation price is computed from it.
    maintenance_margin_rate: Decimal | None = None

    @property
    def is_perpetual(self) -> bool:
        return self.type == "swap"


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
class FuturesPosition:
    """An open perpetual position as the exchange reports it (one-way mode)."""

    symbol: str
    quantity: Decimal  # signed contracts: > 0 long, < 0 short
    entry_price: Decimal
    mark_price: Decimal | None
    leverage: int | None
    margin_mode: str | None  # "isolated" | "cross"
    liquidation_price: Decimal | None
    unrealised_pnl: Decimal


@dataclass(frozen=True)
class FundingPayment:
    """One funding settlement of a perpetual position: received (> 0) or paid (< 0)."""

    payment_id: str  # the exchange's id, unique per account
    symbol: str
    amount: Decimal
    currency: str
    timestamp: datetime


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
    fee: Decimal  # in fee_currency; in the quote: exchanges.fees.fee_in_quote
    fee_currency: str
    timestamp: datetime | None = None

    @property
    def is_fully_filled(self) -> bool:
        return self.filled >= self.amount and self.filled > 0


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
    fee: Decimal  # in fee_currency; in the quote: exchanges.fees.fee_in_quote
    timestamp: datetime
    # The currency the exchange charged the fee in ("" when it said none: the quote).
    fee_currency: str = ""
    # The client order id of the order this fill belongs to ("" when the exchange has none).
    client_order_id: str = ""


@dataclass(frozen=True)
class KeyPermissions:
    """What an exchange says an API key may do (Binance: GET /sapi/v1/account/apiRestrictions)."""

    can_withdraw: bool
    ip_restricted: bool
