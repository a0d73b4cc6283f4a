"""State and matching rules of the loopback Binance spot simulator; no I/O here.

The server runs every request on one event-loop thread and never awaits inside a state
method, so each state change is atomic with respect to every other request: no locks.
Error codes, messages and HTTP statuses are Binance's own, because ccxt maps them to its
exception classes by code and by message text.
"""

import bisect
import random
import re
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

EIGHT_PLACES = Decimal("0.00000001")
ZERO = Decimal("0")
DEFAULT_COMMISSION_RATE = Decimal("0.001")
# What a fill's commission is paid in. "quote": the market's quote (the simulator's default);
# "received": the asset the fill brings in (a buy pays in the base coin, a sell in the quote:
# real Binance's default); "bnb": BNB at the BNB/<quote> price (Binance's "pay fees with BNB"),
# the quote when the account holds too little BNB or no BNB/<quote> market is listed.
COMMISSION_ASSETS = ("quote", "received", "bnb")
FEE_COIN = "BNB"
DUPLICATE_SCOPES = ("open", "all")
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")
TIMES_IN_FORCE = ("GTC", "IOC", "FOK")
CLIENT_ORDER_ID_FORMAT = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
FAULT_KINDS = ("429", "418", "502", "503", "timeout_after_accept")
FAULT_RATE_KEYS = ("429", "418", "5xx", "timeout_after_accept")
TIMEOUT_MODES = ("delay", "drop")
MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
# Binance's weekly candles open on Monday; the Unix epoch fell on a Thursday.
WEEK_OFFSET_MS = 4 * DAY_MS
INTERVAL_MS = {
    "1s": 1000,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}

# (base, quote, stepSize, tickSize, minQty, maxQty, minNotional, starting price): Binance's
# real filters for these pairs.
DEFAULT_MARKETS = (
    ("BTC", "USDT", "0.00001", "0.01", "0.00001", "9000", "5", "65000"),
    ("ETH", "USDT", "0.0001", "0.01", "0.0001", "9000", "5", "3500"),
    ("SOL", "USDT", "0.001", "0.01", "0.001", "90000", "5", "150"),
    ("XRP", "USDT", "0.1", "0.0001", "0.1", "9222449", "5", "0.5"),
    ("BNB", "USDT", "0.001", "0.01", "0.001", "9000", "5", "600"),
    # A market quoted in a coin, not a stablecoin: its P&L is in BTC (billing converts it).
    ("ETH", "BTC", "0.0001", "0.00001", "0.0001", "100000", "0.0001", "0.054"),
)


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def fmt(value: Decimal) -> str:
    """Binance prints every amount and price with eight decimals."""
    return f"{value:.8f}"


def now_ms() -> int:
    return int(time.time() * 1000)


def to_decimal(value, *, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, not {value!r}")
    return number


def _mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _decimal_param(params: dict[str, str], name: str, *, required: bool) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _mandatory(name)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise BinanceError(
            400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."
        )
    return value


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.") from None


@dataclass
class Market:
    symbol: str
    base: str
    quote: str
    step_size: Decimal
    tick_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_price: Decimal = Decimal("1000000")

    @property
    def min_price(self) -> Decimal:
        # As on Binance: the smallest price is one tick, so valid prices are whole ticks.
        return self.tick_size

    def exchange_info(self) -> dict:
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {"filterType": "LOT_SIZE", "minQty": fmt(self.min_qty), "maxQty": fmt(self.max_qty), "stepSize": fmt(self.step_size)},
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


class PriceSeries:
    """Ticks of one market, sorted by time: parallel lists so bisect stays cheap."""

    __slots__ = ("times", "prices", "volumes")

    def __init__(self):
        self.times: list[int] = []
        self.prices: list[Decimal] = []
        self.volumes: list[Decimal] = []

    def add(self, timestamp: int, price: Decimal, volume: Decimal) -> None:
        if not self.times or timestamp >= self.times[-1]:
            index = len(self.times)
        else:
            index = bisect.bisect_right(self.times, timestamp)
        self.times.insert(index, timestamp)
        self.prices.insert(index, price)
        self.volumes.insert(index, volume)

    @property
    def last(self) -> Decimal:
        return self.prices[-1]

    def window(self, start: int, end: int) -> tuple[int, int]:
        """Indexes [lo, hi) of the ticks with start <= time < end."""
        return bisect.bisect_left(self.times, start), bisect.bisect_left(self.times, end)


@dataclass
class Account:
    api_key: str
    secret: str
    # asset -> [free, locked]
    balances: dict[str, list[Decimal]] = field(default_factory=dict)
    trades: list[dict] = field(default_factory=list)
    # What the key may do, as GET /sapi/v1/account/apiRestrictions tells (set with
    # POST /_sim/accounts/{api_key}/restrictions): a trade-only key, usable from any address.
    enable_withdrawals: bool = False
    ip_restrict: bool = False

    def balance(self, asset: str) -> list[Decimal]:
        return self.balances.setdefault(asset, [ZERO, ZERO])

    def api_restrictions(self) -> dict:
        """Binance's answer for this key (GET /sapi/v1/account/apiRestrictions)."""
        return {
            "ipRestrict": self.ip_restrict,
            "createTime": 1_700_000_000_000,
            "enableReading": True,
            "enableSpotAndMarginTrading": True,
            "enableWithdrawals": self.enable_withdrawals,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enablePortfolioMarginTrading": False,
        }


class Order:
    __slots__ = (
        "order_id",
        "client_order_id",
        "api_key",
        "symbol",
        "side",
        "type",
        "time_in_force",
        "quantity",
        "price",
        "status",
        "executed_qty",
        "quote_qty",
        "created_ms",
        "updated_ms",
        "ack_time",
        "locked",
        "fills",
        "remote",
    )

    def __init__(self, **values):
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def _common(self) -> dict:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price or ZERO),
            "origQty": fmt(self.quantity),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(ZERO),
            "cummulativeQuoteQty": fmt(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def new_order_response(self, response_type: str) -> dict:
        """POST /api/v3/order body for newOrderRespType ACK, RESULT or FULL."""
        if response_type == "ACK":
            return {
                "symbol": self.symbol,
                "orderId": self.order_id,
                "orderListId": -1,
                "clientOrderId": self.client_order_id,
                "transactTime": self.created_ms,
            }
        body = self._common()
        body["transactTime"] = self.created_ms
        body["workingTime"] = self.created_ms
        if response_type == "FULL":
            body["fills"] = self.fills
        return body

    def query_response(self) -> dict:
        """GET /api/v3/order and /api/v3/openOrders: no fills, as on Binance."""
        body = self._common()
        body.update(
            {
                "stopPrice": fmt(ZERO),
                "icebergQty": fmt(ZERO),
                "time": self.created_ms,
                "updateTime": self.updated_ms,
                "isWorking": True,
                "workingTime": self.created_ms,
            }
        )
        return body

    def log_row(self) -> dict:
        return {
            "id": self.order_id,
            "client_order_id": self.client_order_id,
            "api_key": self.api_key,
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "time_in_force": self.time_in_force,
            "amount": str(self.quantity),
            "price": str(self.price) if self.price is not None else None,
            "status": self.status,
            "filled": str(self.executed_qty),
            # What the fill cost (quote) and when the order was taken (the transactTime answered).
            "cost": str(self.quote_qty or ZERO),
            "created_ms": self.created_ms,
            "ack_time": self.ack_time,
            "remote": self.remote,
        }


@dataclass
class FaultConfig:
    """Faults injected into exchange API requests (never into /_sim/ requests).

    `rates`: probability per matching request of each fault kind ("5xx" picks 502 or 503).
    `queue`: fault kinds applied, in order, to the next matching requests, before any rate;
    a way to make exactly the first attempt fail. `match`: "/path" or "METHOD /path"
    entries; faults hit only those requests (all API requests when empty).
    `timeout_after_accept`: the request is processed (an order is recorded), then the
    response is held for `timeout_delay_ms` ("delay") or the connection is dropped ("drop").
    429 and 418 answers carry `Retry-After: retry_after_s`, as Binance's do.
    """

    latency_ms: float = 0.0
    retry_after_s: int = 1
    rates: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FAULT_RATE_KEYS, 0.0))
    queue: list[str] = field(default_factory=list)
    match: list[str] = field(default_factory=list)
    timeout_mode: str = "delay"
    timeout_delay_ms: float = 30_000.0

    def as_dict(self) -> dict:
        return {
            "latency_ms": self.latency_ms,
            "retry_after_s": self.retry_after_s,
            "rates": dict(self.rates),
            "queue": list(self.queue),
            "match": list(self.match),
            "timeout_mode": self.timeout_mode,
            "timeout_delay_ms": self.timeout_delay_ms,
        }

    def update(self, payload: dict) -> None:
        """Partial update; validates everything before changing anything."""
        unknown = set(payload) - {"latency_ms", "retry_after_s", "rates", "queue", "match", "timeout_mode", "timeout_delay_ms"}
        if unknown:
            raise ValueError(f"Unknown fault settings: {sorted(unknown)}")
        latency_ms = _non_negative(payload.get("latency_ms", self.latency_ms), name="latency_ms")
        retry_after_s = int(_non_negative(payload.get("retry_after_s", self.retry_after_s), name="retry_after_s"))
        timeout_delay_ms = _non_negative(payload.get("timeout_delay_ms", self.timeout_delay_ms), name="timeout_delay_ms")
        rates = dict(self.rates)
        for kind, rate in (payload.get("rates") or {}).items():
            if kind not in FAULT_RATE_KEYS:
                raise ValueError(f"Unknown fault rate {kind!r}; use one of {FAULT_RATE_KEYS}")
            rate = float(rate)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"Rate of {kind} must be between 0 and 1, not {rate}")
            rates[kind] = rate
        queue = list(payload.get("queue", self.queue))
        for kind in queue:
            if kind not in FAULT_KINDS:
                raise ValueError(f"Unknown fault {kind!r} in queue; use one of {FAULT_KINDS}")
        match = payload.get("match", self.match) or []
        if isinstance(match, str):
            match = [match]
        timeout_mode = payload.get("timeout_mode", self.timeout_mode)
        if timeout_mode not in TIMEOUT_MODES:
            raise ValueError(f"timeout_mode must be one of {TIMEOUT_MODES}, not {timeout_mode!r}")
        self.latency_ms, self.retry_after_s, self.timeout_delay_ms, self.rates = latency_ms, retry_after_s, timeout_delay_ms, rates
        self.queue, self.match, self.timeout_mode = queue, [str(entry) for entry in match], timeout_mode

    def matches(self, method: str, path: str) -> bool:
        if not self.match:
            return True
        return path in self.match or f"{method} {path}" in self.match


def _non_negative(value, *, name: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, not {value}")
    return number


class SimulatorState:
    def __init__(
        self,
        *,
        seed: int | None = None,
        commission_rate: Decimal = DEFAULT_COMMISSION_RATE,
        duplicate_scope: str = "open",
        latency_ms: float = 0.0,
        markets: tuple = DEFAULT_MARKETS,
    ):
        self.seed = seed
        # Another exchange's side of the simulator lists its own markets (devtools/simulator/bybit.py).
        self.default_markets = markets
        self.default_latency_ms = _non_negative(latency_ms, name="latency_ms")
        self.commission_asset = "quote"
        self.reset(commission_rate=commission_rate, duplicate_scope=duplicate_scope)

    def reset(
        self, *, commission_rate: Decimal | None = None, duplicate_scope: str | None = None, commission_asset: str | None = None
    ) -> None:
        """Forget accounts, orders, faults and price history; keep or replace the run settings.

        Run settings: the commission rate, the asset commissions are paid in
        (COMMISSION_ASSETS), the duplicate client order id scope and the latency given at
        start (faults start from it again).
        """
        if commission_asset is not None:
            if commission_asset not in COMMISSION_ASSETS:
                raise ValueError(f"commission_asset must be one of {COMMISSION_ASSETS}, not {commission_asset!r}")
            self.commission_asset = commission_asset
        if commission_rate is not None:
            commission_rate = to_decimal(commission_rate, name="commission_rate")
            if not ZERO <= commission_rate < 1:
                raise ValueError(f"commission_rate must be in [0, 1), not {commission_rate}")
            self.commission_rate = commission_rate
        if duplicate_scope is not None:
            if duplicate_scope not in DUPLICATE_SCOPES:
                raise ValueError(f"duplicate_scope must be one of {DUPLICATE_SCOPES}, not {duplicate_scope!r}")
            # Binance rejects a newClientOrderId only while an order with it is open ("open");
            # "all" rejects any reuse.
            self.duplicate_scope = duplicate_scope
        self.rng = random.Random(self.seed)
        self.markets: dict[str, Market] = {}
        self.series: dict[str, PriceSeries] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: list[Order] = []
        self.orders_by_id: dict[int, Order] = {}
        self.orders_by_client_id: dict[tuple[str, str, str], Order] = {}
        self.open_orders: dict[str, dict[int, Order]] = {}
        self.client_id_counts: Counter[str] = Counter()
        self.next_order_id = 1
        self.next_trade_id = 1
        self.faults = FaultConfig(latency_ms=self.default_latency_ms)
        # State of the other markets and exchanges the simulator speaks (USDⓈ-M perpetuals:
        # devtools/simulator/futures.py), made on first use and forgotten here.
        self.extensions: dict = {}
        self.stats = {"requests": 0, "orders_accepted": 0, "orders_rejected": 0, "rejected_by_code": Counter(), "faults": Counter()}
        for base, quote, step, tick, min_qty, max_qty, min_notional, price in self.default_markets:
            self.add_market(
                base=base,
                quote=quote,
                step_size=step,
                tick_size=tick,
                min_qty=min_qty,
                max_qty=max_qty,
                min_notional=min_notional,
                price=price,
            )

    # --- admin ------------------------------------------------------------------------

    def add_market(self, *, base: str, quote: str, step_size, tick_size, min_qty, max_qty, min_notional, price) -> Market:
        base, quote = base.upper(), quote.upper()
        market = Market(
            symbol=base + quote,
            base=base,
            quote=quote,
            step_size=to_decimal(step_size, name="step_size"),
            tick_size=to_decimal(tick_size, name="tick_size"),
            min_qty=to_decimal(min_qty, name="min_qty"),
            max_qty=to_decimal(max_qty, name="max_qty"),
            min_notional=to_decimal(min_notional, name="min_notional"),
        )
        if market.step_size <= 0 or market.tick_size <= 0:
            raise ValueError("step_size and tick_size must be positive")
        self.markets[market.symbol] = market
        self.series.setdefault(market.symbol, PriceSeries())
        self.open_orders.setdefault(market.symbol, {})
        self.add_tick(symbol=market.symbol, price=price)
        return market

    def market_for(self, raw: str) -> Market:
        symbol = raw.replace("/", "").upper()
        if symbol not in self.markets:
            raise ValueError(f"Unknown market {raw!r}")
        return self.markets[symbol]

    def add_tick(self, *, symbol: str, price, timestamp: int | None = None, volume="0") -> None:
        market = self.market_for(symbol)
        price = to_decimal(price, name="price")
        if price <= 0:
            raise ValueError(f"Price of {market.symbol} must be positive, not {price}")
        series = self.series[market.symbol]
        series.add(now_ms() if timestamp is None else int(timestamp), price, to_decimal(volume, name="volume"))
        self._fill_resting_orders(market, series.last)

    def add_ticks(self, ticks: list[dict]) -> None:
        """Record many ticks ({symbol, price, timestamp?, volume?}); all or none."""
        parsed = []
        for tick in ticks:
            market = self.market_for(str(tick["symbol"]))
            price = to_decimal(tick["price"], name="price")
            if price <= 0:
                raise ValueError(f"Price of {market.symbol} must be positive, not {price}")
            timestamp = tick.get("timestamp")
            parsed.append(
                (market.symbol, price, None if timestamp is None else int(timestamp), to_decimal(tick.get("volume", "0"), name="volume"))
            )
        for symbol, price, timestamp, volume in parsed:
            self.add_tick(symbol=symbol, price=price, timestamp=timestamp, volume=volume)

    def prices(self) -> dict[str, str]:
        return {symbol: str(series.last) for symbol, series in self.series.items() if series.prices}

    def snapshot(self) -> dict:
        """What another simulator needs to carry on as this one: every account (keys and free
        balances) and every market's price history. Orders and trades are not carried."""
        return {
            "accounts": [
                {"api_key": a.api_key, "api_secret": a.secret, "balances": {asset: str(free) for asset, (free, _) in a.balances.items()}}
                for a in self.accounts.values()
            ],
            "ticks": [
                {"symbol": symbol, "price": str(price), "timestamp": timestamp, "volume": str(volume)}
                for symbol, series in self.series.items()
                for timestamp, price, volume in zip(series.times, series.prices, series.volumes)
            ],
            "prices": self.prices(),
        }

    def restore(self, snapshot: dict) -> None:
        """Take over a snapshot's accounts and price history (into an empty simulator). Each
        market's last price is the snapshot's, from now on (a fresh simulator's own opening
        price would be newer than anything in the snapshot)."""
        self.add_ticks(snapshot.get("ticks", []))
        for symbol, price in snapshot.get("prices", {}).items():
            self.add_tick(symbol=symbol, price=price)
        for account in snapshot.get("accounts", []):
            self.create_account(api_key=account["api_key"], api_secret=account["api_secret"], balances=account["balances"])

    def create_account(self, *, api_key: str | None = None, api_secret: str | None = None, balances: dict | None = None) -> Account:
        api_key = api_key or self._token(64)
        if api_key in self.accounts:
            raise ValueError("An account with this API key exists")
        account = Account(api_key=api_key, secret=api_secret or self._token(64))
        self.accounts[api_key] = account
        self.set_balances(api_key=api_key, balances=balances or {})
        return account

    def set_balances(self, *, api_key: str, balances: dict) -> Account:
        account = self.accounts[api_key]
        parsed = {asset.upper(): to_decimal(amount, name=f"balance of {asset}") for asset, amount in balances.items()}
        for asset, amount in parsed.items():
            if amount < 0:
                raise ValueError(f"Balance of {asset} must not be negative")
        for asset, amount in parsed.items():
            account.balance(asset)[0] = amount
        return account

    def delete_account(self, *, api_key: str) -> None:
        """Revoke an API key: its resting orders go with it."""
        self.accounts.pop(api_key)
        for resting in self.open_orders.values():
            for order in [order for order in resting.values() if order.api_key == api_key]:
                order.status = "CANCELED"
                del resting[order.order_id]

    def account_view(self, account: Account) -> dict:
        return {
            "api_key": account.api_key,
            "balances": {asset: {"free": str(free), "locked": str(locked)} for asset, (free, locked) in account.balances.items()},
        }

    def order_log(self, *, since_id: int = 0, api_key: str | None = None, client_order_id: str | None = None) -> list[dict]:
        # Order ids are 1, 2, 3...: the id after `since_id` sits at index `since_id`.
        return [
            order.log_row()
            for order in self.orders[max(since_id, 0) :]
            if (api_key is None or order.api_key == api_key) and (client_order_id is None or order.client_order_id == client_order_id)
        ]

    def stats_view(self) -> dict:
        stats = dict(self.stats)
        stats["rejected_by_code"] = {str(code): count for code, count in self.stats["rejected_by_code"].items()}
        stats["faults"] = dict(self.stats["faults"])
        stats["orders_open"] = sum(len(orders) for orders in self.open_orders.values())
        return stats

    def pick_fault(self, method: str, path: str) -> str | None:
        faults = self.faults
        if not faults.matches(method, path):
            return None
        if faults.queue:
            kind = faults.queue.pop(0)
        else:
            kind = None
            draw = self.rng.random()
            for rate_key in FAULT_RATE_KEYS:
                rate = faults.rates.get(rate_key, 0.0)
                if draw < rate:
                    kind = self.rng.choice(("502", "503")) if rate_key == "5xx" else rate_key
                    break
                draw -= rate
        if kind is not None:
            self.stats["faults"][kind] += 1
        return kind

    # --- public market data -----------------------------------------------------------

    def require_market(self, params: dict[str, str]) -> Market:
        symbol = params.get("symbol")
        if not symbol:
            raise _mandatory("symbol")
        market = self.markets.get(symbol)
        if market is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market

    def exchange_info(self, params: dict[str, str]) -> dict:
        markets = list(self.markets.values())
        if params.get("symbol"):
            markets = [self.require_market(params)]
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            ],
            "exchangeFilters": [],
            "symbols": [market.exchange_info() for market in markets],
        }

    def ticker_price(self, params: dict[str, str]) -> dict | list:
        if params.get("symbol"):
            market = self.require_market(params)
            return {"symbol": market.symbol, "price": fmt(self.series[market.symbol].last)}
        return [{"symbol": symbol, "price": fmt(series.last)} for symbol, series in self.series.items() if series.prices]

    def ticker_24hr(self, params: dict[str, str]) -> dict | list:
        if params.get("symbol"):
            return self._ticker_24hr(self.require_market(params))
        return [self._ticker_24hr(market) for market in self.markets.values() if self.series[market.symbol].prices]

    def _ticker_24hr(self, market: Market) -> dict:
        series = self.series[market.symbol]
        close_time = now_ms()
        open_time = close_time - DAY_MS
        lo, hi = series.window(open_time, close_time + 1)
        open_price = series.prices[lo - 1] if lo > 0 else series.prices[min(lo, len(series.prices) - 1)]
        window = series.prices[lo:hi] or [open_price]
        last = series.last
        volume = sum(series.volumes[lo:hi], ZERO)
        change = last - open_price
        return {
            "symbol": market.symbol,
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_price * 100):.3f}",
            "weightedAvgPrice": fmt(last),
            "prevClosePrice": fmt(open_price),
            "lastPrice": fmt(last),
            "lastQty": fmt(ZERO),
            "bidPrice": fmt(last),
            "bidQty": fmt(Decimal(1)),
            "askPrice": fmt(last),
            "askQty": fmt(Decimal(1)),
            "openPrice": fmt(open_price),
            "highPrice": fmt(max(max(window), open_price)),
            "lowPrice": fmt(min(min(window), open_price)),
            "volume": fmt(volume),
            "quoteVolume": fmt(volume * last),
            "openTime": open_time,
            "closeTime": close_time,
            "firstId": -1,
            "lastId": -1,
            "count": hi - lo,
        }

    def klines(self, params: dict[str, str]) -> list[list]:
        """OHLC candles from the recorded ticks; a candle without ticks repeats the last close."""
        market = self.require_market(params)
        interval = params.get("interval")
        if not interval:
            raise _mandatory("interval")
        step = INTERVAL_MS.get(interval)
        if step is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = min(max(_int_param(params, "limit") or 500, 1), 1000)
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        series = self.series[market.symbol]
        if not series.times:
            return []
        offset = WEEK_OFFSET_MS if interval == "1w" else 0

        def align(ms: int) -> int:
            return (ms - offset) // step * step + offset

        first_candle = align(series.times[0])
        upper = end if end is not None else max(now_ms(), series.times[-1])
        if start is not None:
            opens_from = max(align(start + step - 1), first_candle)
            opens_to = min(align(upper), opens_from + (limit - 1) * step)
        else:
            opens_to = align(upper)
            opens_from = max(opens_to - (limit - 1) * step, first_candle)
        candles = []
        for open_time in range(opens_from, opens_to + 1, step):
            lo, hi = series.window(open_time, open_time + step)
            if hi > lo:
                prices = series.prices[lo:hi]
                o, h, low, c = prices[0], max(prices), min(prices), prices[-1]
                volume = sum(series.volumes[lo:hi], ZERO)
            else:
                o = h = low = c = series.prices[lo - 1]
                volume = ZERO
            candles.append(
                [
                    open_time,
                    fmt(o),
                    fmt(h),
                    fmt(low),
                    fmt(c),
                    fmt(volume),
                    open_time + step - 1,
                    fmt(volume * c),
                    hi - lo,
                    fmt(ZERO),
                    fmt(ZERO),
                    "0",
                ]
            )
        return candles

    # --- signed endpoints -------------------------------------------------------------

    def account_info(self, account: Account, params: dict[str, str]) -> dict:
        omit_zero = params.get("omitZeroBalances") == "true"
        rate_bps = int(self.commission_rate * 10_000)
        rate = fmt(self.commission_rate)
        return {
            "makerCommission": rate_bps,
            "takerCommission": rate_bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(ZERO), "seller": fmt(ZERO)},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": fmt(free), "locked": fmt(locked)}
                for asset, (free, locked) in account.balances.items()
                if not omit_zero or free or locked
            ],
            "permissions": ["SPOT"],
            "uid": abs(hash(account.api_key)) % 10**9,
        }

    def place_order(self, account: Account, params: dict[str, str], *, remote: str | None = None) -> Order:
        """`remote`: the client's address, kept in the order log (which host sent each order)."""
        try:
            order = self._place_order(account, params)
            order.remote = remote
        except BinanceError as exc:
            self.stats["orders_rejected"] += 1
            self.stats["rejected_by_code"][exc.code] += 1
            raise
        self.stats["orders_accepted"] += 1
        return order

    def _place_order(self, account: Account, params: dict[str, str]) -> Order:
        market = self.require_market(params)
        side = params.get("side")
        if side not in ("BUY", "SELL"):
            raise _mandatory("side")
        order_type = params.get("type")
        if not order_type:
            raise _mandatory("type")
        if order_type not in ("MARKET", "LIMIT"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        current = self.series[market.symbol].last
        quantity = _decimal_param(params, "quantity", required=order_type == "LIMIT")
        price = None
        time_in_force = None
        if order_type == "LIMIT":
            price = _decimal_param(params, "price", required=True)
            time_in_force = params.get("timeInForce")
            if not time_in_force:
                raise _mandatory("timeInForce")
            if time_in_force not in TIMES_IN_FORCE:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            self._check_price_filter(market, price)
        elif quantity is None:
            quote_quantity = _decimal_param(params, "quoteOrderQty", required=False)
            if quote_quantity is None:
                raise BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            quantity = (quote_quantity / current / market.step_size).to_integral_value(ROUND_DOWN) * market.step_size
        self._check_lot_size(market, quantity)
        if quantity * (price if price is not None else current) < market.min_notional:
            raise BinanceError(400, -1013, "Filter failure: NOTIONAL")

        client_order_id = params.get("newClientOrderId") or self._token(22)
        if not CLIENT_ORDER_ID_FORMAT.match(client_order_id):
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'."
            )
        previous = self.orders_by_client_id.get((account.api_key, market.symbol, client_order_id))
        if previous is not None and (self.duplicate_scope == "all" or previous.is_open):
            raise BinanceError(400, -2010, "Duplicate order sent.")

        marketable = order_type == "MARKET" or (current <= price if side == "BUY" else current >= price)
        rests = order_type == "LIMIT" and time_in_force == "GTC" and not marketable
        reserve_price = price if order_type == "LIMIT" else current
        if side == "BUY":
            # Reserved as if the commission were paid in the quote (the most it can take of it).
            needed_asset, needed = market.quote, self._cost(quantity, reserve_price) + self._commission(self._cost(quantity, reserve_price))
        else:
            needed_asset, needed = market.base, quantity
        funds = account.balance(needed_asset)
        if funds[0] < needed:
            raise BinanceError(400, -2010, "Account has insufficient balance for requested action.")

        timestamp = now_ms()
        order = Order(
            order_id=self.next_order_id,
            client_order_id=client_order_id,
            api_key=account.api_key,
            symbol=market.symbol,
            side=side,
            type=order_type,
            time_in_force=time_in_force or "GTC",
            quantity=quantity,
            price=price,
            status="NEW",
            executed_qty=ZERO,
            quote_qty=ZERO,
            created_ms=timestamp,
            updated_ms=timestamp,
            ack_time=time.time(),
            locked=ZERO,
            fills=[],
        )
        self.next_order_id += 1
        self.orders.append(order)
        self.orders_by_id[order.order_id] = order
        self.orders_by_client_id[(account.api_key, market.symbol, client_order_id)] = order
        self.client_id_counts[client_order_id] += 1

        if marketable:
            self._fill(account, market, order, price=current, is_maker=False)
        elif rests:
            funds[0] -= needed
            funds[1] += needed
            order.locked = needed
            self.open_orders[market.symbol][order.order_id] = order
        else:
            order.status = "EXPIRED"
        return order

    def find_order(self, account: Account, params: dict[str, str]) -> Order:
        market = self.require_market(params)
        order_id = _int_param(params, "orderId")
        client_order_id = params.get("origClientOrderId")
        if order_id is None and not client_order_id:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order_id is not None:
            order = self.orders_by_id.get(order_id)
        else:
            order = self.orders_by_client_id.get((account.api_key, market.symbol, client_order_id))
        if order is None or order.api_key != account.api_key or order.symbol != market.symbol:
            raise BinanceError(400, -2013, "Order does not exist.")
        return order

    def cancel_order(self, account: Account, params: dict[str, str]) -> dict:
        try:
            order = self.find_order(account, params)
        except BinanceError as exc:
            if exc.code == -2013:
                raise BinanceError(400, -2011, "Unknown order sent.") from None
            raise
        if not order.is_open:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._release(account, self.markets[order.symbol], order)
        order.status = "CANCELED"
        order.updated_ms = now_ms()
        body = order.new_order_response("RESULT")
        body["origClientOrderId"] = order.client_order_id
        body["clientOrderId"] = params.get("newClientOrderId") or self._token(22)
        body["transactTime"] = order.updated_ms
        body.pop("workingTime", None)
        return body

    def open_orders_of(self, account: Account, params: dict[str, str]) -> list[dict]:
        symbols = [self.require_market(params).symbol] if params.get("symbol") else list(self.open_orders)
        return [
            order.query_response() for symbol in symbols for order in self.open_orders[symbol].values() if order.api_key == account.api_key
        ]

    def my_trades(self, account: Account, params: dict[str, str]) -> list[dict]:
        market = self.require_market(params)
        order_id = _int_param(params, "orderId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        from_id = _int_param(params, "fromId")
        limit = min(max(_int_param(params, "limit") or 500, 1), 1000)
        trades = [
            trade
            for trade in account.trades
            if trade["symbol"] == market.symbol
            and (order_id is None or trade["orderId"] == order_id)
            and (start is None or trade["time"] >= start)
            and (end is None or trade["time"] <= end)
            and (from_id is None or trade["id"] >= from_id)
        ]
        return trades[:limit] if (start is not None or from_id is not None) else trades[-limit:]

    # --- matching ---------------------------------------------------------------------

    def _check_price_filter(self, market: Market, price: Decimal) -> None:
        if price < market.min_price or price > market.max_price or (price - market.min_price) % market.tick_size:
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")

    def _check_lot_size(self, market: Market, quantity: Decimal) -> None:
        if quantity < market.min_qty or quantity > market.max_qty or (quantity - market.min_qty) % market.step_size:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")

    def _cost(self, quantity: Decimal, price: Decimal) -> Decimal:
        return (quantity * price).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)

    def _commission(self, cost: Decimal) -> Decimal:
        return (cost * self.commission_rate).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)

    def _fill(self, account: Account, market: Market, order: Order, *, price: Decimal, is_maker: bool) -> None:
        """Fill the whole order at `price`; the commission is paid as `commission_asset` says."""
        quantity = order.quantity
        cost = self._cost(quantity, price)
        commission_asset, commission = self._commission_of(account, market, side=order.side, quantity=quantity, cost=cost)
        base, quote = account.balance(market.base), account.balance(market.quote)
        self._release(account, market, order)
        if order.side == "BUY":
            quote[0] -= cost
            base[0] += quantity
        else:
            base[0] -= quantity
            quote[0] += cost
        account.balance(commission_asset)[0] -= commission
        timestamp = now_ms()
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        order.fills.append(
            {
                "price": fmt(price),
                "qty": fmt(quantity),
                "commission": fmt(commission),
                "commissionAsset": commission_asset,
                "tradeId": trade_id,
            }
        )
        account.trades.append(
            {
                "symbol": market.symbol,
                "id": trade_id,
                "orderId": order.order_id,
                "orderListId": -1,
                "price": fmt(price),
                "qty": fmt(quantity),
                "quoteQty": fmt(cost),
                "commission": fmt(commission),
                "commissionAsset": commission_asset,
                "time": timestamp,
                "isBuyer": order.side == "BUY",
                "isMaker": is_maker,
                "isBestMatch": True,
            }
        )
        order.executed_qty = quantity
        order.quote_qty = cost
        order.status = "FILLED"
        order.updated_ms = timestamp

    def _commission_of(self, account: Account, market: Market, *, side: str, quantity: Decimal, cost: Decimal) -> tuple[str, Decimal]:
        """(asset, amount) of a fill's commission: the rate of what the fill is worth, in the
        asset `commission_asset` names."""
        in_quote = self._commission(cost)
        if self.commission_asset == "received" and side == "BUY":
            return market.base, self._commission(quantity)
        fee_market = self.markets.get(f"{FEE_COIN}{market.quote}")
        if self.commission_asset == "bnb" and fee_market is not None:
            in_bnb = (in_quote / self.series[fee_market.symbol].last).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
            if account.balance(FEE_COIN)[0] >= in_bnb:
                return FEE_COIN, in_bnb
        return market.quote, in_quote

    def _release(self, account: Account, market: Market, order: Order) -> None:
        """Give back what a resting order had locked."""
        if not order.locked:
            return
        funds = account.balance(market.quote if order.side == "BUY" else market.base)
        funds[1] -= order.locked
        funds[0] += order.locked
        order.locked = ZERO
        self.open_orders[market.symbol].pop(order.order_id, None)

    def _fill_resting_orders(self, market: Market, price: Decimal) -> None:
        resting = self.open_orders.get(market.symbol)
        if not resting:
            return
        crossed = [order for order in resting.values() if (price <= order.price if order.side == "BUY" else price >= order.price)]
        for order in crossed:
            self._fill(self.accounts[order.api_key], market, order, price=order.price, is_maker=True)

    def _token(self, length: int) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self.rng.choice(alphabet) for _ in range(length))
