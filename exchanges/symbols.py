"""Turn what a user or a signal sends (`BTCUSDT`, `btc-usdt`, `BTC/USDT:USDT`) into the
exchange's unified ccxt symbol, using the exchange's own market list.

Rules, in order:

1. The input is the unified symbol itself (any case).
2. The input is the exchange's own market id (`exchange_symbol`, e.g. `BTCUSDT`).
3. The input is base and quote, joined by `/`, `-`, `_` or nothing, optionally followed by
   `:SETTLE` (`BTC/USDT:USDT`, a linear swap settled in USDT).

A settle suffix asks for that derivative and nothing else: `BTC/USDT:USDT` never falls back
to the spot market, because trading spot when the signal meant a perpetual (or the other
way round) would silently change what the follower holds. Without a suffix the spot market
is preferred; a derivatives-only market list (e.g. USDⓈ-M futures) resolves to its one
swap on that pair. Several equally good matches (two swaps on one pair with different
settle currencies) are ambiguous and rejected rather than guessed.
"""

from __future__ import annotations

import re

from exchanges.errors import UnknownSymbolError
from exchanges.types import MarketRules

MAX_SYMBOL_LENGTH = 50
# Letters and digits (`1000PEPE`), the separators we understand, and the settle colon.
_ALLOWED = re.compile(r"^[A-Za-z0-9/_:\-]+$")
_SEPARATORS = re.compile(r"[/_\-]")


def resolve_symbol(raw: str, markets: dict[str, MarketRules], *, by_upper_symbol: dict[str, str] | None = None) -> str:
    """`by_upper_symbol`: `symbols_by_upper(markets)`, when the caller keeps it with them."""
    text = _validated(raw)
    upper = text.upper()
    if by_upper_symbol is None:
        by_upper_symbol = symbols_by_upper(markets)
    if upper in by_upper_symbol:
        return by_upper_symbol[upper]

    by_exchange_id = [market for market in markets.values() if market.exchange_symbol and market.exchange_symbol.upper() == upper]
    if by_exchange_id:
        return _pick(raw, by_exchange_id, settle=None)

    pair, _, settle = upper.partition(":")
    if ":" in upper and (not settle or _SEPARATORS.search(settle)):
        raise UnknownSymbolError(f"Malformed symbol '{raw}': expected BASE/QUOTE or BASE/QUOTE:SETTLE.")
    parts = _SEPARATORS.split(pair)
    if len(parts) == 2 and all(parts):
        base, quote = parts
        candidates = [m for m in markets.values() if m.base.upper() == base and m.quote.upper() == quote]
    elif len(parts) == 1:
        candidates = [m for m in markets.values() if (m.base + m.quote).upper() == pair]
    else:
        raise UnknownSymbolError(f"Malformed symbol '{raw}': expected BASE/QUOTE or BASE/QUOTE:SETTLE.")
    return _pick(raw, candidates, settle=settle or None)


def symbols_by_upper(markets: dict[str, MarketRules]) -> dict[str, str]:
    """The markets' symbols by their upper case (the last one of a case-insensitive clash)."""
    return {symbol.upper(): symbol for symbol in markets}


def _validated(raw: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise UnknownSymbolError(f"Empty symbol {raw!r}: send a market such as BTC/USDT.")
    text = raw.strip()
    if len(text) > MAX_SYMBOL_LENGTH:
        raise UnknownSymbolError(f"Symbol '{text[:MAX_SYMBOL_LENGTH]}...' is longer than {MAX_SYMBOL_LENGTH} characters.")
    if not _ALLOWED.match(text):
        raise UnknownSymbolError(f"Symbol {text!r} has characters other than letters, digits, '/', '-', '_' and ':'.")
    return text


def _settle_of(market: MarketRules) -> str | None:
    _, colon, settle = market.symbol.partition(":")
    return settle.split("-")[0].upper() if colon else None


def _pick(raw: str, candidates: list[MarketRules], *, settle: str | None) -> str:
    if settle is not None:
        # A perpetual outranks dated futures on the same pair and settle currency.
        candidates = [m for m in candidates if _settle_of(m) == settle]
        candidates = [m for m in candidates if m.type == "swap"] or candidates
    else:
        spot = [m for m in candidates if m.type == "spot"]
        candidates = spot or candidates
    symbols = sorted({m.symbol for m in candidates})
    if not symbols:
        raise UnknownSymbolError(f"Unknown symbol '{raw}': this exchange has no such market.")
    if len(symbols) > 1:
        raise UnknownSymbolError(f"Ambiguous symbol '{raw}': it matches {', '.join(symbols)}; send one of these.")
    return symbols[0]
