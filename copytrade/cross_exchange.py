"""Copying a leader who trades on another exchange than the follower's.

A leader's trade names its market by ccxt's unified symbol (`BTC/USDT`, `BTC/USDT:USDT`),
the same on every exchange ccxt speaks; the follower's gateway resolves that symbol against
its own exchange's market list (exchanges/symbols.py), so the order is sized with the
follower's exchange's precision, minimums and contract size (exchanges/rules.py), never the
leader's. A market the follower's exchange does not list is skipped, before anything is
sent, with `CopiedTrade.Reason.MARKET_NOT_LISTED` and the exchange's name beside it.
"""

from copytrade.models import CopiedTrade
from copytrade.sizing import SizingSkip
from exchanges.errors import UnknownSymbolError
from exchanges.models import ConnectableExchange


def exchange_name(exchange_id: str) -> str:
    """The exchange as people call it: "Bybit" for "bybit"; the ccxt id when we have no name."""
    return str(ConnectableExchange(exchange_id).label) if exchange_id in ConnectableExchange.values else exchange_id


def market_not_listed(*, account, symbol: str, error: UnknownSymbolError) -> SizingSkip:
    name = exchange_name(account.exchange_id)
    return SizingSkip(
        CopiedTrade.Reason.MARKET_NOT_LISTED,
        f"{name} does not list {symbol}: {error.detail}",
        detail={"exchange": name, "symbol": symbol},
    )
