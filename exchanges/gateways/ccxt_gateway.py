"""Any ccxt exchange behind the `ExchangeGateway` interface.

- `build_client` makes a ccxt client: no ccxt rate limiting (our Redis buckets do that),
  our timeout, and every API URL rebased onto `settings.EXCHANGE_URL_OVERRIDES[exchange_id]`
  when an operator set one (the loopback simulator). Only settings can point a client at
  another URL, never a user.
- `map_ccxt_error` is the one place ccxt exceptions become `exchanges.errors`: the message
  is the kind's sentence for people, the exchange's own text (scrubbed: ccxt puts signed
  URLs and request headers into messages and debug logs) only the log's `detail`.
- `CcxtGateway` keeps, per thread, one signing client per exchange endpoint over one HTTP
  session, and puts an account's credentials on it for each call: building a ccxt client
  costs about 5 ms of CPU (its `describe()` tree), more than placing the order, and a
  worker trades for thousands of accounts. Markets are cached in Redis per exchange and in
  process memory, and handed to clients with `set_markets` instead of `load_markets`.
"""

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import TypeVar
from urllib.parse import urlsplit

import ccxt
import redis
import requests
import urllib3
from django.conf import settings

from core.money import ZERO, to_decimal
from core.redaction import redact
from exchanges.errors import (
    DuplicateClientOrderIdError,
    ExchangeError,
    InsufficientFundsError,
    InvalidCredentialsError,
    OrderNotFoundError,
    OrderRejectedError,
    PermanentExchangeError,
    RateLimitedError,
    TransientExchangeError,
    UnknownOutcomeError,
    UnknownSymbolError,
)
from exchanges.gateways.base import ExchangeGateway
from exchanges.gateways.transport import PooledSession
from exchanges.rules import apply_order_rules
from exchanges.symbols import resolve_symbol, symbols_by_upper
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

T = TypeVar("T")

CLIENT_CACHE_SIZE = 256
DEFAULT_QUOTE = "USDT"
ORDER_TYPES = ("market", "limit")
SIDES = ("buy", "sell")
# The simulator serves Binance spot and USDⓈ-M perpetuals (no COIN-M, no sapi currencies)...
URL_OVERRIDE_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}
# ...and Bybit v5 spot and USDT perpetuals (devtools/simulator/bybit.py, bybit_linear.py).
URL_OVERRIDE_MARKET_TYPES = {"binance": ["spot", "linear"], "bybit": ["spot", "linear"]}
# The exchange's error code inside ccxt messages: Binance `binance {"code":-2015,"msg":"..."}`,
# Bybit v5 `bybit {"retCode":170141,"retMsg":"..."}`.
_EXCHANGE_CODE = re.compile(r'"(?:code|retCode)"\s*:\s*"?(-?\d+)')
# Binance answers -2015 also after a key was revoked; ccxt then reports DDoSProtection
# (it assumes an IP ban once a key has worked), which would retry a dead key forever.
_CREDENTIAL_CODES = {"-2014", "-2015"}
# Codes whose ccxt class is not the kind they mean, per exchange.
_DUPLICATE_CODES = {
    # Bybit: "Duplicate clientOrderId" (spot), "OrderLinkedID is duplicate" (derivatives);
    # ccxt calls both InvalidOrder, but the order with this orderLinkId exists: look it up.
    "bybit": {"170141", "110072"},
    # Binance USDⓈ-M: "ClientOrderId is duplicated."
    "binance": {"-4116"},
}
# Binance USDⓈ-M codes ccxt reports as a bare ExchangeError: margin is insufficient (-2019);
# a reduce-only order that would open (-2022), a notional under the minimum (-4164).
_INSUFFICIENT_MARGIN_CODES = {"binance": {"-2019"}}
_ORDER_REJECTED_CODES = {"binance": {"-2022", "-4164"}}
# "Already so": Binance's "No need to change position side / margin type", Bybit's
# "leverage not modified".
_ALREADY_SET_CODES = {"-4059", "-4046", "110043"}
# Where the platform sets one-way mode and the margin mode itself (the simulator speaks them
# for Binance); elsewhere it sets the leverage only and trades in the account's cross margin.
_MARGIN_MODE_EXCHANGES = {"binance"}
_UNKNOWN_SYMBOL_CODES = {"bybit": {"170121"}}
# Bybit's "System error / Internal error": the order may or may not have been taken
# (ccxt calls it a plain ExchangeError, which would fail the copy for good).
_SERVER_ERROR_CODES = {"bybit": {"10016"}}

logger = logging.getLogger(__name__)


# --- redaction ------------------------------------------------------------------------


class _RedactingLogger(logging.LoggerAdapter):
    """ccxt logs every request (URL with signature, API key header) at DEBUG."""

    def __init__(self, *, secrets: tuple[str, ...]):
        super().__init__(logging.getLogger("exchanges.ccxt"), {})
        self.secrets = secrets

    def log(self, level, msg, *args, **kwargs):
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, redact(text, secrets=self.secrets), **kwargs)


# --- errors ---------------------------------------------------------------------------


def _nothing_was_sent(exc: ccxt.BaseError) -> bool:
    """True when the connection failed before any byte of the request left."""
    cause = exc.__cause__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError) and cause.args:
        return isinstance(getattr(cause.args[0], "reason", None), urllib3.exceptions.NewConnectionError)
    return False


def _retry_after(headers) -> float | None:
    """Seconds to wait: Binance's `Retry-After`, or Bybit's `X-Bapi-Limit-Reset-Timestamp`
    (the epoch milliseconds at which its per-UID window opens again)."""
    headers = {str(name).lower(): value for name, value in (headers or {}).items()}
    value = headers.get("retry-after")
    reset_ms = headers.get("x-bapi-limit-reset-timestamp")
    try:
        if value is not None:
            return float(value)
        if reset_ms is not None:
            return max(0.1, int(reset_ms) / 1000 - time.time())
    except ValueError:
        return None
    return None


def map_ccxt_error(
    exc: ccxt.BaseError,
    *,
    may_have_executed: bool = False,
    response_headers=None,
    secrets: tuple[str, ...] = (),
    exchange_id: str = "",
) -> ExchangeError:
    """The one translation of ccxt exceptions into `exchanges.errors`.

    `may_have_executed`: the call could have changed state at the exchange (placing or
    cancelling an order). A timeout, a dropped connection or a 5xx then means the outcome
    is unknown (Binance: "the execution status is UNKNOWN and could have been a success"),
    so the caller must look the order up by client order id before any retry. The same
    failures on a read are plain transient errors.
    """
    raw = redact(f"{type(exc).__name__}: {exc}", secrets=secrets)
    code_match = _EXCHANGE_CODE.search(raw)
    code = code_match.group(1) if code_match else None
    kind = _error_kind(exc, raw=raw, code=code, may_have_executed=may_have_executed, exchange_id=exchange_id)
    # The person reads the kind's sentence; the exchange's own text (class name, JSON body,
    # codes) is kept as `detail` for the log.
    if kind is RateLimitedError:
        return RateLimitedError(detail=raw, retry_after=_retry_after(response_headers))
    return kind(detail=raw)


def _error_kind(exc: ccxt.BaseError, *, raw: str, code: str | None, may_have_executed: bool, exchange_id: str = "") -> type[ExchangeError]:
    if code in _CREDENTIAL_CODES or isinstance(exc, ccxt.AuthenticationError):
        return InvalidCredentialsError
    if code in _DUPLICATE_CODES.get(exchange_id, ()):
        return DuplicateClientOrderIdError
    if code in _UNKNOWN_SYMBOL_CODES.get(exchange_id, ()):
        return UnknownSymbolError
    if code in _SERVER_ERROR_CODES.get(exchange_id, ()):
        return UnknownOutcomeError if may_have_executed else TransientExchangeError
    if code in _INSUFFICIENT_MARGIN_CODES.get(exchange_id, ()):
        return InsufficientFundsError
    if code in _ORDER_REJECTED_CODES.get(exchange_id, ()):
        return OrderRejectedError
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return RateLimitedError
    if isinstance(exc, ccxt.OnMaintenance | ccxt.InvalidNonce):
        # The exchange refused the request outright: nothing was executed.
        return TransientExchangeError
    if isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed):
        if may_have_executed and not _nothing_was_sent(exc):
            return UnknownOutcomeError
        return TransientExchangeError
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFundsError
    if isinstance(exc, ccxt.DuplicateOrderId) or "Duplicate order sent" in raw:
        return DuplicateClientOrderIdError
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFoundError
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbolError
    if isinstance(exc, ccxt.InvalidOrder) or "Filter failure" in raw:
        return OrderRejectedError
    return PermanentExchangeError


def _guarded(client: ccxt.Exchange, operation: Callable[[ccxt.Exchange], T], *, may_have_executed: bool, secrets: tuple[str, ...]) -> T:
    try:
        return operation(client)
    except ccxt.BaseError as exc:
        mapped = map_ccxt_error(
            exc, may_have_executed=may_have_executed, response_headers=client.last_response_headers, secrets=secrets, exchange_id=client.id
        )
        logger.info("exchange answered %s: %s", mapped.reason, mapped.detail)
        # `from None`: the ccxt exception's message and its cause carry the signed URL.
        raise mapped from None


# --- clients --------------------------------------------------------------------------


def _rebase(urls, base: str):
    """Every URL in ccxt's `urls['api']` structure, moved to `base` with its path kept."""
    if isinstance(urls, dict):
        return {name: _rebase(url, base) for name, url in urls.items()}
    if isinstance(urls, str):
        parts = urlsplit(urls)
        return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return urls


_local = threading.local()


def _thread_session() -> PooledSession:
    """One HTTP session (connection pool) per thread, shared by all of its ccxt clients:
    urllib3 under ccxt without requests' per-call machinery (exchanges/gateways/transport.py)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = PooledSession()
    return session


def build_client(exchange_id: str, *, api_key: str = "", secret: str = "", password: str = "", sandbox: bool = False) -> ccxt.Exchange:
    if exchange_id not in ccxt.exchanges:
        raise PermanentExchangeError(f"Unknown exchange '{exchange_id}'.", reason="unknown_exchange")
    override = settings.EXCHANGE_URL_OVERRIDES.get(exchange_id)
    client = getattr(ccxt, exchange_id)(
        {
            "apiKey": api_key,
            "secret": secret,
            "password": password,
            "enableRateLimit": False,
            "timeout": settings.EXCHANGE_TIMEOUT_MS,
            "options": _override_options(exchange_id) if override else {},
            "session": _thread_session(),
        }
    )
    client.logger = _RedactingLogger(secrets=(api_key, secret, password))
    if sandbox:
        client.set_sandbox_mode(True)
    if override:
        rebased = {"api": _rebase(client.urls["api"], override)}
        if "test" in client.urls:
            rebased["test"] = _rebase(client.urls["test"], override)
        client.urls = {**client.urls, **rebased}
    return client


def _override_options(exchange_id: str) -> dict:
    types = URL_OVERRIDE_MARKET_TYPES.get(exchange_id)
    return {**URL_OVERRIDE_OPTIONS, "fetchMarkets": {"types": types}} if types else dict(URL_OVERRIDE_OPTIONS)


def _endpoint(exchange_id: str, sandbox: bool) -> tuple:
    """What, besides credentials, makes two clients of one exchange differ."""
    return (exchange_id, sandbox, settings.EXCHANGE_URL_OVERRIDES.get(exchange_id, ""), settings.EXCHANGE_TIMEOUT_MS)


@lru_cache(maxsize=64)  # a sha256 per call, five times per order
def _fingerprint(*parts) -> str:
    return hashlib.sha256("\x00".join(str(part) for part in parts).encode()).hexdigest()[:16]


def _cache_scope(exchange_id: str, sandbox: bool) -> str:
    """Redis key part for data shared by all accounts of one exchange endpoint."""
    _, _, override, _ = _endpoint(exchange_id, sandbox)
    return f"{exchange_id}:{_fingerprint(sandbox, override)}"


@dataclass
class _ClientSlot:
    client: ccxt.Exchange
    markets: "_Markets | None" = None
    credentials: tuple[str, str, str] | None = None

    def use(self, credentials: tuple[str, str, str]) -> ccxt.Exchange:
        """The client, signing as `credentials` (the slot is this thread's alone)."""
        if self.credentials != credentials:
            client = self.client
            client.apiKey, client.secret, client.password = credentials
            # Binance-specific memory of the previous key ("has authenticated before").
            client.options.pop("hasAlreadyAuthenticatedSuccessfully", None)
            client.logger = _RedactingLogger(secrets=credentials)
            self.credentials = credentials
        return self.client


def _cached_slot(key: tuple, factory: Callable[[], ccxt.Exchange]) -> _ClientSlot:
    # Per thread: ccxt clients keep per-request state (last response headers, options).
    slots: OrderedDict = getattr(_local, "slots", None)
    if slots is None:
        slots = _local.slots = OrderedDict()
    slot = slots.get(key)
    if slot is None:
        slot = slots[key] = _ClientSlot(client=factory())
        if len(slots) > CLIENT_CACHE_SIZE:
            slots.popitem(last=False)
    else:
        slots.move_to_end(key)
    return slot


# --- markets --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Markets:
    raw: list[dict]
    rules: dict[str, MarketRules]
    expires_at: float  # time.monotonic()
    # resolve_symbol's index, built once per load: per call it was a dict of every market
    # (thousands on a real exchange), two or three times per order.
    by_upper_symbol: dict[str, str] = field(default_factory=dict)


_markets_memory: dict[str, _Markets] = {}
# Last prices read from Redis or the exchange: {key: (price, until time.monotonic())}.
_tickers_memory: dict[str, tuple[Decimal, float]] = {}


@cache
def _redis() -> redis.Redis:
    # One pool per process; redis-py replaces its connections after a fork (Celery prefork).
    return redis.Redis(connection_pool=redis.ConnectionPool.from_url(settings.REDIS_URL))


def clear_caches() -> None:
    """Forget this process's markets and prices and this thread's clients (tests that reset the simulator)."""
    _markets_memory.clear()
    _tickers_memory.clear()
    _local.__dict__.pop("slots", None)


def _step(value, precision_mode: int) -> Decimal:
    if value is None:
        return ZERO
    if precision_mode == ccxt.TICK_SIZE:
        return to_decimal(value)
    if precision_mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    # Significant digits cannot be expressed as a step; the exchange rounds such orders.
    return ZERO


def _optional_decimal(value) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _market_rules(market: dict, precision_mode: int) -> MarketRules | None:
    if market.get("type") not in ("spot", "swap") or market.get("active") is False:
        return None
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    return MarketRules(
        symbol=market["symbol"],
        base=market["base"],
        quote=market["quote"],
        type=market["type"],
        amount_step=_step(precision.get("amount"), precision_mode),
        price_step=_step(precision.get("price"), precision_mode),
        min_amount=_optional_decimal(amount_limits.get("min")) or ZERO,
        min_cost=_optional_decimal(cost_limits.get("min")) or ZERO,
        max_amount=_optional_decimal(amount_limits.get("max")),
        contract_size=_optional_decimal(market.get("contractSize")) or Decimal(1),
        exchange_symbol=market["id"],
        maintenance_margin_rate=_maintenance_margin_rate(market),
    )


def _maintenance_margin_rate(market: dict) -> Decimal | None:
    """Binance lists it in percent on each USDⓈ-M market (`maintMarginPercent`)."""
    percent = (market.get("info") or {}).get("maintMarginPercent")
    return to_decimal(percent) / 100 if market.get("type") == "swap" and percent not in (None, "") else None


def _load_markets(exchange_id: str, sandbox: bool) -> _Markets:
    key = f"exchanges:markets:{_cache_scope(exchange_id, sandbox)}"
    entry = _markets_memory.get(key)
    if entry is not None and entry.expires_at > time.monotonic():
        return entry
    ttl = settings.EXCHANGE_MARKETS_CACHE_SECONDS
    cached, ttl_ms = _redis().pipeline().get(key).pttl(key).execute()
    public = _cached_slot(("public", *_endpoint(exchange_id, sandbox)), lambda: build_client(exchange_id, sandbox=sandbox)).client
    if cached is None:
        # Through the public client: markets are the same for every account, and an
        # account client would also fetch private currency data.
        raw = _guarded(public, lambda client: list(client.load_markets(reload=True).values()), may_have_executed=False, secrets=())
        _redis().set(key, json.dumps(raw), ex=ttl)
    else:
        raw = json.loads(cached)
        ttl = ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else ttl
    rules = {}
    for market in raw:
        market_rules = _market_rules(market, public.precisionMode)
        if market_rules is not None:
            rules[market_rules.symbol] = market_rules
    entry = _markets_memory[key] = _Markets(
        raw=raw, rules=rules, expires_at=time.monotonic() + ttl, by_upper_symbol=symbols_by_upper(rules)
    )
    return entry


# --- conversions ----------------------------------------------------------------------


def _datetime(milliseconds) -> datetime | None:
    return None if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def _fee(entries: list[dict], *, prefer: str) -> tuple[Decimal, str] | None:
    """Total fee of ccxt fee entries, in `prefer` when charged in it, else in the first currency."""
    entries = [entry for entry in entries if entry and entry.get("cost") is not None]
    if not entries:
        return None
    currencies = [entry.get("currency") or prefer for entry in entries]
    currency = prefer if prefer in currencies else currencies[0]
    return sum((to_decimal(e["cost"]) for e, c in zip(entries, currencies, strict=True) if c == currency), ZERO), currency


def _trade(trade: dict) -> Trade:
    fee = _fee([trade.get("fee")], prefer="")
    info = trade.get("info") or {}
    return Trade(
        trade_id=str(trade["id"]),
        order_id=str(trade.get("order") or ""),
        symbol=trade["symbol"],
        side=trade["side"],
        amount=to_decimal(trade["amount"]),
        price=to_decimal(trade["price"]),
        cost=to_decimal(trade["cost"]) if trade.get("cost") is not None else to_decimal(trade["amount"]) * to_decimal(trade["price"]),
        fee=fee[0] if fee else ZERO,
        fee_currency=fee[1] if fee else "",
        timestamp=_datetime(trade["timestamp"]),
        # Bybit's fills carry their order's link id; Binance's carry none (asked for by order).
        client_order_id=str(info.get("clientOrderId") or info.get("orderLinkId") or ""),
    )


def _order_by_client_id(client: ccxt.Exchange, market: MarketRules, client_order_id: str) -> dict:
    """One order by the client order id we gave it, whatever its state.

    Binance: `GET /api/v3/order?origClientOrderId=`. Bybit v5: `orderLinkId` on
    `/v5/order/realtime` (open orders and, on a unified account, recent closed ones), then on
    `/v5/order/history` (closed ones); ccxt's own fetchOrder there takes order ids only.
    """
    if client.id != "bybit":
        return client.fetch_order(None, market.symbol, {"origClientOrderId": client_order_id})
    request = {"category": "spot" if market.type == "spot" else "linear", "symbol": market.exchange_symbol, "orderLinkId": client_order_id}
    for read in (client.privateGetV5OrderRealtime, client.privateGetV5OrderHistory):
        rows = (read(request).get("result") or {}).get("list") or []
        if rows:
            return client.parse_order(rows[0], client.market(market.symbol))
    raise ccxt.OrderNotFound(f"bybit has no order with orderLinkId {client_order_id}")


class CcxtGateway(ExchangeGateway):
    def __init__(self, *, exchange_id: str, slot: _ClientSlot, sandbox: bool, credentials: tuple[str, str, str] = ("", "", "")):
        self.exchange_id = exchange_id
        self._slot = slot
        self._sandbox = sandbox
        self._credentials = credentials
        self._secrets = tuple(part for part in credentials if part)

    @classmethod
    def for_account(cls, account) -> "CcxtGateway":
        """A gateway for this thread: use it in the thread that made it."""
        exchange_id, sandbox = account.exchange_id, account.sandbox
        slot = _cached_slot(("signed", *_endpoint(exchange_id, sandbox)), lambda: build_client(exchange_id, sandbox=sandbox))
        credentials = (account.api_key, account.api_secret, account.api_passphrase)
        return cls(exchange_id=exchange_id, slot=slot, sandbox=sandbox, credentials=credentials)

    @classmethod
    def public(cls, exchange_id: str, *, sandbox: bool = False) -> "CcxtGateway":
        """Market data only (markets, tickers, candles): no credentials."""
        slot = _cached_slot(("public", *_endpoint(exchange_id, sandbox)), lambda: build_client(exchange_id, sandbox=sandbox))
        return cls(exchange_id=exchange_id, slot=slot, sandbox=sandbox)

    def _call(self, operation: Callable[[ccxt.Exchange], T], *, may_have_executed: bool = False) -> T:
        entry = _load_markets(self.exchange_id, self._sandbox)
        if self._slot.markets is not entry:
            self._slot.client.set_markets(entry.raw)
            self._slot.markets = entry
        client = self._slot.use(self._credentials)
        return _guarded(client, operation, may_have_executed=may_have_executed, secrets=self._secrets)

    # --- market data ------------------------------------------------------------------

    def markets(self) -> dict[str, MarketRules]:
        return _load_markets(self.exchange_id, self._sandbox).rules

    def market(self, symbol: str) -> MarketRules:
        entry = _load_markets(self.exchange_id, self._sandbox)
        return entry.rules[resolve_symbol(symbol, entry.rules, by_upper_symbol=entry.by_upper_symbol)]

    def ticker_price(self, symbol: str, *, fresh: bool = False) -> Decimal:
        symbol = self.market(symbol).symbol
        ttl_ms = int(settings.EXCHANGE_TICKER_CACHE_SECONDS * 1000)
        key = f"exchanges:ticker:{_cache_scope(self.exchange_id, self._sandbox)}:{symbol}"
        if ttl_ms > 0 and not fresh:
            # This process keeps the shared entry until the moment Redis expires it: a price is
            # never older than the setting allows, and a fan-out's thousands of orders of one
            # market ask Redis once per process and window, not once per order.
            remembered = _tickers_memory.get(key)
            if remembered is not None and remembered[1] > time.monotonic():
                return remembered[0]
            cached, left_ms = _redis().pipeline().get(key).pttl(key).execute()
            if cached is not None:
                price = Decimal(cached.decode())
                if left_ms and left_ms > 0:
                    _tickers_memory[key] = (price, time.monotonic() + left_ms / 1000)
                return price
        ticker = self._call(lambda client: client.fetch_ticker(symbol))
        last = ticker.get("last") or ticker.get("close")
        if last is None:
            raise TransientExchangeError(f"{self.exchange_id} has no last price for {symbol}.")
        price = to_decimal(last)
        if ttl_ms > 0:
            _redis().set(key, str(price), px=ttl_ms)
            _tickers_memory[key] = (price, time.monotonic() + ttl_ms / 1000)
        return price

    def fetch_ohlcv(
        self, *, symbol: str, timeframe: str = "1m", since: datetime | None = None, limit: int | None = None
    ) -> list[tuple[datetime, Decimal, Decimal, Decimal, Decimal, Decimal]]:
        """Candles (open time, open, high, low, close, volume), oldest first."""
        symbol = self.market(symbol).symbol
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        rows = self._call(lambda client: client.fetch_ohlcv(symbol, timeframe, since_ms, limit))
        return [(_datetime(row[0]), *(to_decimal(value) if value is not None else ZERO for value in row[1:6])) for row in rows]

    # --- account ----------------------------------------------------------------------

    def balance(self) -> dict[str, Balance]:
        raw = self._call(lambda client: client.fetch_balance())
        balances = {}
        for currency, total in (raw.get("total") or {}).items():
            free = to_decimal(raw["free"].get(currency) or 0)
            used = to_decimal(raw["used"].get(currency) or 0)
            total = to_decimal(total) if total is not None else free + used
            if free or used or total:
                balances[currency] = Balance(currency=currency, free=free, used=used, total=total)
        return balances

    def equity(self, quote: str = DEFAULT_QUOTE) -> AccountEquity:
        balances = self.balance()
        markets = self.markets()
        equity = balances[quote].total if quote in balances else ZERO
        for currency, holding in balances.items():
            symbol = f"{currency}/{quote}"
            # Assets without a market in the quote currency cannot be priced; they are
            # left out rather than guessed.
            if currency != quote and symbol in markets:
                equity += holding.total * self.ticker_price(symbol)
        free_quote = balances[quote].free if quote in balances else ZERO
        return AccountEquity(quote=quote, equity=equity, free_quote=free_quote, balances=balances)

    def positions(self) -> list[Position]:
        """Spot holdings priced in USDT, one position per asset with a USDT market."""
        markets = self.markets()
        return [
            Position(symbol=f"{currency}/{DEFAULT_QUOTE}", quantity=holding.total)
            for currency, holding in self.balance().items()
            if currency != DEFAULT_QUOTE and f"{currency}/{DEFAULT_QUOTE}" in markets
        ]

    def swap_position(self, symbol: str) -> Decimal:
        raw = self._call(lambda client: client.fetch_positions([symbol]))
        held = ZERO
        for position in raw:
            if position.get("symbol") == symbol:
                contracts = to_decimal(position.get("contracts") or 0)
                held += -contracts if position.get("side") == "short" else contracts
        return held

    # --- perpetuals --------------------------------------------------------------------

    def perpetual_settings_apply(self, *, symbol: str, leverage: int, margin_mode: str) -> None:
        market = self.market(symbol)
        if not market.is_perpetual:
            raise UnknownSymbolError(f"{market.symbol} is not a perpetual.")
        if margin_mode not in ("isolated", "cross"):
            raise OrderRejectedError(f"Margin mode must be isolated or cross, not {margin_mode!r}.")

        def unless_already_set(change: Callable[[ccxt.Exchange], object]) -> Callable[[ccxt.Exchange], None]:
            def operation(client: ccxt.Exchange) -> None:
                try:
                    change(client)
                except ccxt.ExchangeError as exc:
                    code = _EXCHANGE_CODE.search(str(exc))
                    if not isinstance(exc, ccxt.MarginModeAlreadySet) and (not code or code.group(1) not in _ALREADY_SET_CODES):
                        raise

            return operation

        if self.exchange_id in _MARGIN_MODE_EXCHANGES:
            self._call(unless_already_set(lambda client: client.set_position_mode(False, market.symbol)))
            self._call(unless_already_set(lambda client: client.set_margin_mode(margin_mode, market.symbol)))
        elif margin_mode != "cross":
            raise OrderRejectedError(f"Isolated margin is set on Binance only; {self.exchange_id} trades {market.symbol} in cross margin.")
        self._call(unless_already_set(lambda client: client.set_leverage(int(leverage), market.symbol)))

    def perpetual_free_margin(self, quote: str = DEFAULT_QUOTE) -> Decimal:
        raw = self._call(lambda client: client.fetch_balance({"type": "swap"}))
        return to_decimal((raw.get("free") or {}).get(quote) or 0)

    def perpetual_positions(self, *, symbols: list[str] | None = None) -> list[FuturesPosition]:
        wanted = [self.market(symbol).symbol for symbol in symbols] if symbols else None
        raw = self._call(lambda client: client.fetch_positions(wanted))
        positions = []
        for entry in raw:
            contracts = to_decimal(entry.get("contracts") or 0)
            if not contracts:
                continue
            sign = -1 if entry.get("side") == "short" else 1
            leverage = entry.get("leverage")
            positions.append(
                FuturesPosition(
                    symbol=entry["symbol"],
                    quantity=sign * contracts,
                    entry_price=to_decimal(entry.get("entryPrice") or 0),
                    mark_price=_optional_decimal(entry.get("markPrice")),
                    leverage=int(leverage) if leverage else None,
                    margin_mode=entry.get("marginMode"),
                    liquidation_price=_optional_decimal(entry.get("liquidationPrice")),
                    unrealised_pnl=to_decimal(entry.get("unrealizedPnl") or 0),
                )
            )
        return positions

    def funding_payments(self, *, symbol: str, since: datetime | None = None) -> list[FundingPayment]:
        market = self.market(symbol)
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        raw = self._call(lambda client: client.fetch_funding_history(market.symbol, since_ms))
        return sorted(
            (
                FundingPayment(
                    payment_id=str(entry["id"]),
                    symbol=market.symbol,
                    amount=to_decimal(entry["amount"]),
                    currency=entry.get("code") or market.quote,
                    timestamp=_datetime(entry["timestamp"]),
                )
                for entry in raw
            ),
            key=lambda payment: payment.timestamp,
        )

    def key_permissions(self) -> KeyPermissions | None:
        """Binance tells (GET /sapi/v1/account/apiRestrictions); other exchanges, and Binance's
        testnet (which has no sapi endpoints), do not: None."""
        if self.exchange_id != "binance" or self._sandbox:
            return None
        raw = self._call(lambda client: client.sapiGetAccountApiRestrictions())
        return KeyPermissions(can_withdraw=bool(raw.get("enableWithdrawals")), ip_restricted=bool(raw.get("ipRestrict")))

    # --- orders -----------------------------------------------------------------------

    def create_order(
        self,
        *,
        symbol: str,
        side: str,
        amount: Decimal,
        client_order_id: str,
        type: str = "market",
        price: Decimal | None = None,
        time_in_force: str | None = None,
        reduce_only: bool = False,
        reference_price: Decimal | None = None,
    ) -> OrderResult:
        if side not in SIDES:
            raise OrderRejectedError(f"Order side must be one of {SIDES}, not {side!r}.")
        if type not in ORDER_TYPES:
            raise OrderRejectedError(f"Order type must be one of {ORDER_TYPES}, not {type!r}.")
        if type == "limit" and price is None:
            raise OrderRejectedError("A limit order needs a price.")
        market = self.market(symbol)
        limit_price = price if type == "limit" else None
        if limit_price is not None:
            reference_price = limit_price
        elif reference_price is None:
            reference_price = self.ticker_price(market.symbol)
        amount, limit_price = apply_order_rules(market, amount=amount, price=limit_price, reference_price=reference_price, side=side)
        params = {"clientOrderId": client_order_id}
        if type == "limit" and time_in_force:
            params["timeInForce"] = time_in_force
        if reduce_only and market.type != "spot":
            params["reduceOnly"] = True
        order = self._call(
            lambda client: client.create_order(
                market.symbol, type, side, str(amount), None if limit_price is None else str(limit_price), params
            ),
            may_have_executed=True,
        )
        if order.get("status") is None:
            return self._acknowledged(market=market, side=side, type=type, amount=amount, client_order_id=client_order_id)
        return self._order_result(order, market=market, client_order_id=client_order_id)

    def _acknowledged(self, *, market: MarketRules, side: str, type: str, amount: Decimal, client_order_id: str) -> OrderResult:
        """The exchange took the order and answered with its ids only (Bybit v5): its state is
        read back by client order id. Not listed yet: a working order, looked up again shortly.
        The read failing: the outcome is unknown to the caller, who looks it up before anything."""
        try:
            return self.fetch_order_by_client_id(symbol=market.symbol, client_order_id=client_order_id)
        except OrderNotFoundError:
            return OrderResult(
                exchange_order_id="",
                client_order_id=client_order_id,
                symbol=market.symbol,
                side=side,
                type=type,
                status="open",
                amount=amount,
                filled=ZERO,
                average_price=None,
                cost=ZERO,
                fee=ZERO,
                fee_currency=market.quote,
            )
        except TransientExchangeError as exc:
            raise UnknownOutcomeError(detail=f"the order was taken; reading it back failed: {exc.detail}") from None

    def fetch_order_by_client_id(self, *, symbol: str, client_order_id: str) -> OrderResult:
        market = self.market(symbol)
        order = self._call(lambda client: _order_by_client_id(client, market, client_order_id))
        return self._order_result(order, market=market, client_order_id=client_order_id)

    def cancel_order(self, *, symbol: str, client_order_id: str) -> OrderResult:
        market = self.market(symbol)
        key = "orderLinkId" if self.exchange_id == "bybit" else "origClientOrderId"
        order = self._call(lambda client: client.cancel_order(None, market.symbol, {key: client_order_id}), may_have_executed=True)
        if order.get("status") is None:  # ids only (Bybit): the order as it is now
            return self.fetch_order_by_client_id(symbol=market.symbol, client_order_id=client_order_id)
        return self._order_result(order, market=market, client_order_id=client_order_id)

    def fetch_my_trades(self, *, symbol: str | None = None, since: datetime | None = None) -> list[Trade]:
        """Fills of one market, or (no symbol) of every market the account holds now:
        exchanges such as Binance list trades per market only."""
        symbols = [self.market(symbol).symbol] if symbol else [position.symbol for position in self.positions()]
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        trades = []
        for market_symbol in symbols:
            raw = self._call(lambda client, market_symbol=market_symbol: client.fetch_my_trades(market_symbol, since_ms))
            trades.extend(_trade(trade) for trade in raw)
        return sorted(self._with_client_order_ids(trades), key=lambda trade: trade.timestamp)

    def _with_client_order_ids(self, trades: list[Trade]) -> list[Trade]:
        """Fills whose exchange lists them without their order's client id get it from the
        order (one query per order): exchange sync must tell the platform's own copy orders
        from the leader's."""
        unknown = {(trade.symbol, trade.order_id) for trade in trades if not trade.client_order_id and trade.order_id}
        client_ids = {(symbol, order_id): self._order_client_id(symbol=symbol, order_id=order_id) for symbol, order_id in unknown}
        return [
            replace(trade, client_order_id=client_ids[(trade.symbol, trade.order_id)])
            if (trade.symbol, trade.order_id) in client_ids
            else trade
            for trade in trades
        ]

    def _order_client_id(self, *, symbol: str, order_id: str) -> str:
        # Bybit's unified account reads one order only with `acknowledged` (its last 500 orders).
        params = {"acknowledged": True} if self.exchange_id == "bybit" else {}
        try:
            order = self._call(lambda client: client.fetch_order(order_id, symbol, params))
        except OrderNotFoundError:
            # An order the exchange keeps no more is no order the platform placed just now;
            # failing here would stall the sync on this fill for good.
            return ""
        return str(order.get("clientOrderId") or "")

    def _order_result(self, order: dict, *, market: MarketRules, client_order_id: str) -> OrderResult:
        amount = to_decimal(order.get("amount") or 0)
        filled = to_decimal(order.get("filled") or 0)
        average = to_decimal(order["average"]) if filled and order.get("average") is not None else None
        if order.get("cost") is not None:
            cost = to_decimal(order["cost"])
        else:
            cost = filled * average if average is not None else ZERO
        fee = _fee(order.get("fees") or [order.get("fee")], prefer=market.quote)
        if fee is None and filled:
            # Order queries (unlike order placement) carry no fills: the fee is in the trades.
            trades = self._call(lambda client: client.fetch_my_trades(market.symbol, None, None, {"orderId": order["id"]}))
            fee = _fee([trade.get("fee") for trade in trades], prefer=market.quote)
        fee_amount, fee_currency = fee or (ZERO, market.quote)
        return OrderResult(
            exchange_order_id=str(order["id"]),
            # Binance answers a cancel with the cancel request's own client id; ours is the order's.
            client_order_id=client_order_id,
            symbol=market.symbol,
            side=order.get("side") or "",
            type=order.get("type") or "",
            status=order.get("status") or "open",
            amount=amount,
            filled=filled,
            average_price=average,
            cost=cost,
            fee=fee_amount,
            fee_currency=fee_currency,
            timestamp=_datetime(order.get("timestamp")),
        )
