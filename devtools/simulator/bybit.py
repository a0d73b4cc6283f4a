"""Bybit v5 (spot, unified trading account) for ccxt's real `bybit` class, on the simulator.

The Bybit side keeps its own `SimulatorState` (accounts, balances, markets, order book,
faults, stats): its markets have Bybit's own lot sizes (BTCUSDT in 0.0001 BTC steps, not
Binance's 0.00001), it lists no BNB/USDT and no ETH/BTC, and an `orderLinkId` is unique
for good (Bybit refuses any reuse, not only while the order is open). The matching rules
are the shared ones; this module speaks Bybit over them:

- the envelope `{retCode, retMsg, result, retExtInfo, time}`, HTTP 200 even for errors;
- signing: `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`, `X-BAPI-RECV-WINDOW`, and `X-BAPI-SIGN`,
  the HMAC-SHA256 of timestamp + key + recv window + (query string | JSON body);
- Bybit's codes (10001 params, 10002 clock, 10003/10004 key and signature, 10006 rate limit,
  170121 symbol, 170131 balance, 170136/170137/170140 order limits, 170141 duplicate
  orderLinkId, 170213 no such order) for the shared state's Binance-coded refusals;
- its own order limit per UID (`ORDER_LIMIT_PER_SECOND` creates a second, Bybit spot's),
  answered with 10006 and the `X-Bapi-Limit-*` headers, as the fault knob "429" is.

The control API for this side is `/_sim/bybit/...` (the same routes as Binance's `/_sim/`);
its snapshot carries the order book too (bybit_snapshot.py), and the Binance side's `/_sim/snapshot`
includes it under "bybit", so `exchange_simulator --state` restores both sides.
"""

import asyncio
import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web

from devtools.simulator.bybit_linear import LinearBook, LinearError
from devtools.simulator.bybit_snapshot import bybit_snapshot
from devtools.simulator.state import ZERO, Account, BinanceError, Order, SimulatorState, now_ms

# (base, quote, basePrecision (lot step), tickSize, minOrderQty, maxOrderQty, minOrderAmt, starting price)
BYBIT_MARKETS = (
    ("BTC", "USDT", "0.0001", "0.1", "0.0001", "100", "5", "65000"),
    ("ETH", "USDT", "0.001", "0.01", "0.001", "1000", "5", "3500"),
    ("SOL", "USDT", "0.01", "0.01", "0.01", "10000", "5", "150"),
    ("XRP", "USDT", "1", "0.0001", "1", "1000000", "5", "0.5"),
)
ORDER_LIMIT_PER_SECOND = 20
DEFAULT_RECV_WINDOW_MS = 5000
CLOCK_TOLERANCE_MS = 5000
STATUSES = {
    "NEW": "New",
    "PARTIALLY_FILLED": "PartiallyFilled",
    "FILLED": "Filled",
    "CANCELED": "Cancelled",
    "EXPIRED": "Cancelled",
}
KLINE_INTERVALS = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h", "240": "4h", "D": "1d", "W": "1w"}

BYBIT_STATE = web.AppKey("bybit_state", SimulatorState)


class BybitError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code
        self.msg = msg


def bybit_state(*, seed: int | None = None, latency_ms: float = 0.0, commission_rate=None) -> SimulatorState:
    kwargs = {"commission_rate": commission_rate} if commission_rate is not None else {}
    state = SimulatorState(seed=seed, latency_ms=latency_ms, duplicate_scope="all", markets=BYBIT_MARKETS, **kwargs)
    state.bybit_linear = LinearBook(state)  # USDT perpetuals beside spot (bybit_linear.py)
    return state


def _linear(state: SimulatorState) -> LinearBook:
    return state.bybit_linear.current()


def _translated(exc: BinanceError) -> BybitError:
    """The shared state's refusal (Binance's code) as Bybit would word it."""
    if exc.code == -1121:
        return BybitError(170121, "Invalid symbol.")
    if exc.code == -2010 and "Duplicate" in exc.msg:
        return BybitError(170141, "Duplicate clientOrderId.")
    if exc.code == -2010:
        return BybitError(170131, "Insufficient balance.")
    if exc.code in (-2011, -2013):
        return BybitError(170213, "Order does not exist.")
    if exc.code == -1013 and "NOTIONAL" in exc.msg:
        return BybitError(170140, "Order value exceeded lower limit.")
    if exc.code == -1013 and "LOT_SIZE" in exc.msg:
        return BybitError(170137, "Order quantity has too many decimals or is out of range.")
    if exc.code == -1013:
        return BybitError(170134, "Order price has too many decimals.")
    return BybitError(10001, f"params error: {exc.msg}")


def _envelope(result, *, code: int = 0, msg: str = "OK", headers: dict | None = None) -> web.Response:
    body = {"retCode": code, "retMsg": msg, "result": result if result is not None else {}, "retExtInfo": {}, "time": now_ms()}
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), headers=headers, content_type="application/json")


def _rate_limited(state: SimulatorState, *, limit: int) -> web.Response:
    reset_ms = now_ms() + state.faults.retry_after_s * 1000
    headers = {"X-Bapi-Limit-Status": "0", "X-Bapi-Limit": str(limit), "X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}
    return _envelope({}, code=10006, msg="Too many visits. Exceeded the API Rate Limit.", headers=headers)


def _fault_response(kind: str, state: SimulatorState) -> web.Response:
    if kind == "429":
        return _rate_limited(state, limit=ORDER_LIMIT_PER_SECOND)
    if kind == "418":
        # Bybit's IP limit: HTTP 403 with a plain body.
        return web.Response(text="access too frequent", status=403, content_type="text/plain")
    if kind == "502":
        return web.Response(text="<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html")
    return web.Response(text="Service Unavailable.", status=503, content_type="text/plain")


def _authenticate(state: SimulatorState, request: web.Request, payload: str, arrived_ms: int) -> Account:
    headers = request.headers
    account = state.accounts.get(headers.get("X-BAPI-API-KEY", ""))
    if account is None:
        raise BybitError(10003, "API key is invalid.")
    try:
        timestamp = int(headers.get("X-BAPI-TIMESTAMP", ""))
        recv_window = int(headers.get("X-BAPI-RECV-WINDOW") or DEFAULT_RECV_WINDOW_MS)
    except ValueError:
        raise BybitError(10002, "invalid request, please check your server timestamp or recv_window param") from None
    signed = f"{timestamp}{account.api_key}{headers.get('X-BAPI-RECV-WINDOW', '')}{payload}"
    expected = hmac.new(account.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("X-BAPI-SIGN", "").lower()):
        raise BybitError(10004, "error sign! origin_string[...]")
    if timestamp > arrived_ms + CLOCK_TOLERANCE_MS or arrived_ms - timestamp > recv_window:
        raise BybitError(10002, "invalid request, please check your server timestamp or recv_window param")
    return account


class _OrderLimits:
    """Bybit's per-UID order limit: creates per second, per API key (`POST /_sim/bybit/order-limit`
    {"per_second": n} changes it for a test)."""

    def __init__(self):
        self.per_second = ORDER_LIMIT_PER_SECOND
        self.sent: dict[str, deque] = defaultdict(deque)

    def allow(self, api_key: str) -> bool:
        now = time.monotonic()
        window = self.sent[api_key]
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.per_second:
            return False
        window.append(now)
        return True


ORDER_LIMITS = web.AppKey("bybit_order_limits", _OrderLimits)


def _api(handler, *, signed: bool):
    async def endpoint(request: web.Request) -> web.StreamResponse:
        state = request.app[BYBIT_STATE]
        arrived_ms = now_ms()
        state.stats["requests"] += 1
        fault = state.pick_fault(request.method, request.path)
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        if fault is not None and fault != "timeout_after_accept":
            return _fault_response(fault, state)
        body = await request.text() if request.body_exists else ""
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        if request.method == "POST" and body:
            try:
                params.update({name: value for name, value in json.loads(body).items() if value is not None})
            except (ValueError, AttributeError):
                return _envelope({}, code=10001, msg="params error: the body is not a JSON object")
        try:
            if signed:
                account = _authenticate(state, request, body if request.method == "POST" else request.query_string, arrived_ms)
                if request.path == "/v5/order/create" and not request.app[ORDER_LIMITS].allow(account.api_key):
                    response = _rate_limited(state, limit=request.app[ORDER_LIMITS].per_second)
                else:
                    response = _envelope(handler(state, account, params))
            else:
                response = _envelope(handler(state, params))
        except (BybitError, LinearError) as exc:
            response = _envelope({}, code=exc.code, msg=exc.msg)
        except BinanceError as exc:
            translated = _translated(exc)
            response = _envelope({}, code=translated.code, msg=translated.msg)
        if fault == "timeout_after_accept":
            if state.faults.timeout_mode == "drop":
                if request.transport is not None:
                    request.transport.abort()
                return response
            await asyncio.sleep(state.faults.timeout_delay_ms / 1000)
        return response

    return endpoint


# --- views ----------------------------------------------------------------------------


def _category(params: dict[str, str]) -> str:
    category = params.get("category")
    if not category:
        raise BybitError(10001, "params error: category is required")
    if category not in ("spot", "linear"):
        raise BybitError(10001, f"params error: category {category} is not served by this simulator")
    return category


def _market(state: SimulatorState, params: dict[str, str]):
    symbol = params.get("symbol")
    if not symbol:
        raise BybitError(10001, "params error: symbol is required")
    market = state.markets.get(symbol)
    if market is None:
        raise BybitError(10001, "Not supported symbols")
    return market


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def instruments_info(state: SimulatorState, params: dict[str, str]) -> dict:
    category = _category(params)
    if category == "linear":
        book = _linear(state)
        listed = [] if params.get("status") == "PreLaunch" or params.get("cursor") else list(book.markets.values())
        if params.get("symbol"):
            listed = [book.market(params)]
        # No nextPageCursor: ccxt pages through linear instruments while one is given.
        return {"category": category, "list": [market.instrument() for market in listed]}
    markets = [_market(state, params)] if params.get("symbol") else list(state.markets.values())
    rows = [
        {
            "symbol": market.symbol,
            "baseCoin": market.base,
            "quoteCoin": market.quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "none",
            "lotSizeFilter": {
                "basePrecision": _num(market.step_size),
                "quotePrecision": "0.00000001",
                "minOrderQty": _num(market.min_qty),
                "maxOrderQty": _num(market.max_qty),
                "minOrderAmt": _num(market.min_notional),
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": _num(market.tick_size)},
        }
        for market in markets
    ]
    return {"category": category, "list": rows, "nextPageCursor": ""}


def tickers(state: SimulatorState, params: dict[str, str]) -> dict:
    category = _category(params)
    if category == "linear":
        book = _linear(state)
        markets = [book.market(params)] if params.get("symbol") else list(book.markets.values())
    else:
        markets = [_market(state, params)] if params.get("symbol") else list(state.markets.values())
    rows = []
    for market in markets:
        day = state.ticker_24hr({"symbol": market.symbol})
        rows.append(
            {
                "symbol": market.symbol,
                "bid1Price": day["bidPrice"],
                "bid1Size": "1",
                "ask1Price": day["askPrice"],
                "ask1Size": "1",
                "lastPrice": day["lastPrice"],
                "prevPrice24h": day["openPrice"],
                "price24hPcnt": str(Decimal(day["priceChangePercent"]) / 100),
                "highPrice24h": day["highPrice"],
                "lowPrice24h": day["lowPrice"],
                "turnover24h": day["quoteVolume"],
                "volume24h": day["volume"],
                **({"markPrice": day["lastPrice"], "indexPrice": day["lastPrice"], "fundingRate": "0"} if category == "linear" else {}),
            }
        )
    return {"category": category, "list": rows}


def kline(state: SimulatorState, params: dict[str, str]) -> dict:
    category = _category(params)
    market = _market(state, params)
    interval = KLINE_INTERVALS.get(params.get("interval", ""))
    if interval is None:
        raise BybitError(10001, "params error: interval invalid")
    binance = {"symbol": market.symbol, "interval": interval}
    for ours, theirs in (("start", "startTime"), ("end", "endTime"), ("limit", "limit")):
        if params.get(ours):
            binance[theirs] = params[ours]
    candles = state.klines(binance)
    # Bybit lists the newest candle first: [start, open, high, low, close, volume, turnover].
    return {"category": category, "symbol": market.symbol, "list": [[str(row[0]), *row[1:6], row[7]] for row in reversed(candles)]}


def query_api(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    """The key's own description: ccxt asks it (with account/info) whether the account is unified."""
    return {
        "id": str(abs(hash(account.api_key)) % 10**8),
        "note": "simulator",
        "apiKey": account.api_key,
        "readOnly": 0,
        "secret": "",
        "permissions": {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"], "ContractTrade": ["Order", "Position"]},
        "ips": ["*"],
        "type": 1,
        "unified": 0,
        "uta": 1,
        "userID": abs(hash(account.api_key)) % 10**8,
        "isMaster": True,
    }


def account_info(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    return {"marginMode": "REGULAR_MARGIN", "updatedTime": str(now_ms()), "unifiedMarginStatus": 5, "dcpStatus": "OFF", "timeWindow": 10}


def wallet_balance(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    if params.get("accountType") not in ("UNIFIED", None):
        raise BybitError(10001, "accountType only support UNIFIED.")
    # Linear positions' margin is out of the free USDT and in totalPositionIM.
    margin = _linear(state).margin_of(account.api_key)
    coins = [
        {
            "coin": asset,
            "walletBalance": _num(free + locked + (margin if asset == "USDT" else ZERO)),
            "locked": _num(locked),
            "totalOrderIM": "0",
            "totalPositionIM": _num(margin) if asset == "USDT" else "0",
        }
        for asset, (free, locked) in account.balances.items()
        if free or locked or (asset == "USDT" and margin)
    ]
    return {"list": [{"accountType": "UNIFIED", "accountIMRate": "0", "totalEquity": "0", "coin": coins}]}


def coin_info(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    """Currencies (ccxt's load_markets asks when it has credentials): no chains, no transfers."""
    coins = sorted({coin for market in state.markets.values() for coin in (market.base, market.quote)})
    return {"rows": [{"name": coin, "coin": coin, "remainAmount": "0", "chains": []} for coin in coins]}


def _order_view(state: SimulatorState, order: Order) -> dict:
    market = state.markets[order.symbol]
    fee = sum((Decimal(fill["commission"]) for fill in order.fills), ZERO)
    executed = order.executed_qty or ZERO
    return {
        "orderId": str(order.order_id),
        "orderLinkId": order.client_order_id,
        "blockTradeId": "",
        "symbol": order.symbol,
        "price": _num(order.price or ZERO),
        "qty": _num(order.quantity),
        "side": order.side.capitalize(),
        "isLeverage": "0",
        "positionIdx": 0,
        "orderStatus": STATUSES.get(order.status, order.status),
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": _num(order.quote_qty / executed) if executed else "",
        "leavesQty": _num(order.quantity - executed) if order.is_open else "0",
        "leavesValue": "0",
        "cumExecQty": _num(executed),
        "cumExecValue": _num(order.quote_qty or ZERO),
        "cumExecFee": _num(fee),
        "cumFeeDetail": {market.quote: _num(fee)} if fee else {},
        "timeInForce": "IOC" if order.type == "MARKET" else order.time_in_force,
        "orderType": order.type.capitalize(),
        "marketUnit": "baseCoin" if order.type == "MARKET" else "",
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "triggerDirection": 0,
        "reduceOnly": False,
        "closeOnTrigger": False,
        "smpType": "None",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
    }


def order_create(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    if _category(params) == "linear":
        order = _linear(state).create(account, params)
        return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}
    market = _market(state, params)
    side, order_type = params.get("side", ""), params.get("orderType", "")
    if side not in ("Buy", "Sell") or order_type not in ("Market", "Limit"):
        raise BybitError(10001, "params error: side or orderType invalid")
    link_id = params.get("orderLinkId") or ""
    if len(link_id) > 36:
        raise BybitError(10001, "params error: orderLinkId is longer than 36 characters")
    binance = {"symbol": market.symbol, "side": side.upper(), "type": order_type.upper()}
    if link_id:
        binance["newClientOrderId"] = link_id
    unit = params.get("marketUnit") or ("quoteCoin" if order_type == "Market" and side == "Buy" else "baseCoin")
    if order_type == "Market" and unit == "quoteCoin":
        binance["quoteOrderQty"] = params.get("qty", "")
    else:
        binance["quantity"] = params.get("qty", "")
    if order_type == "Limit":
        binance["price"] = params.get("price", "")
        binance["timeInForce"] = params.get("timeInForce") or "GTC"
        if binance["timeInForce"] == "PostOnly":
            raise BybitError(10001, "params error: PostOnly is not served by this simulator")
    if binance.get("quantity") and Decimal(binance["quantity"]) < market.min_qty:
        raise BybitError(170136, "Order quantity exceeded lower limit.")
    order = state.place_order(account, binance)
    return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}


def _find(state: SimulatorState, account: Account, params: dict[str, str]) -> list[Order]:
    """The account's orders of the request's category, by orderId, by orderLinkId, or all."""
    linear = _category(params) == "linear"
    book = _linear(state)
    found = _found(state, account, params, linear=linear)
    return [order for order in found if order is not None and (order.order_id in book.order_ids) == linear]


def _found(state: SimulatorState, account: Account, params: dict[str, str], *, linear: bool) -> list:
    if linear:
        market = _linear(state).market(params) if params.get("symbol") else None
    else:
        market = _market(state, params) if params.get("symbol") else None
    order_id, link_id = params.get("orderId"), params.get("orderLinkId")
    if order_id:
        found = [state.orders_by_id.get(int(order_id))] if order_id.isdigit() else []
    elif link_id and market is not None and linear:
        found = [_linear(state).by_link.get((account.api_key, market.symbol, link_id))]
    elif link_id and market is not None:
        found = [state.orders_by_client_id.get((account.api_key, market.symbol, link_id))]
    elif link_id:
        found = [order for order in state.orders if order.client_order_id == link_id]
    else:
        found = [order for order in state.orders if market is None or order.symbol == market.symbol]
    return [
        order
        for order in found
        if order is not None and order.api_key == account.api_key and (market is None or order.symbol == market.symbol)
    ]


def order_realtime(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    """Open orders, and (UTA) any order asked for by its id or orderLinkId, whatever its state."""
    category = _category(params)
    orders = _find(state, account, params)
    if not (params.get("orderId") or params.get("orderLinkId")):
        orders = [order for order in orders if order.is_open]
    limit = min(int(params.get("limit") or 20), 50)
    return {"category": category, "list": [_order_view(state, order) for order in orders[-limit:][::-1]], "nextPageCursor": ""}


def order_history(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    category = _category(params)
    wanted = params.get("orderStatus")
    orders = [
        order for order in _find(state, account, params) if not order.is_open and (not wanted or STATUSES.get(order.status) == wanted)
    ]
    limit = min(int(params.get("limit") or 20), 50)
    return {"category": category, "list": [_order_view(state, order) for order in orders[-limit:][::-1]], "nextPageCursor": ""}


def order_cancel(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    if _category(params) == "linear":
        raise BybitError(110001, "Order does not exist.")  # linear orders fill at once here; none rests
    market = _market(state, params)
    orders = _find(state, account, {**params, "symbol": market.symbol})
    if not orders or not (params.get("orderId") or params.get("orderLinkId")):
        raise BybitError(170213, "Order does not exist.")
    order = orders[0]
    state.cancel_order(account, {"symbol": market.symbol, "orderId": str(order.order_id)})
    return {"orderId": str(order.order_id), "orderLinkId": order.client_order_id}


def execution_list(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    category = _category(params)
    linear_trades = _linear(state).trade_ids
    market = (_linear(state).market(params) if category == "linear" else _market(state, params)) if params.get("symbol") else None
    order_id, link_id = params.get("orderId"), params.get("orderLinkId")
    start, end = params.get("startTime"), params.get("endTime")
    rows = []
    for trade in account.trades:
        if (trade["id"] in linear_trades) != (category == "linear"):
            continue
        order = state.orders_by_id.get(trade["orderId"])
        if market is not None and trade["symbol"] != market.symbol:
            continue
        if (order_id and str(trade["orderId"]) != order_id) or (link_id and (order is None or order.client_order_id != link_id)):
            continue
        if (start and trade["time"] < int(start)) or (end and trade["time"] > int(end)):
            continue
        rows.append(
            {
                "symbol": trade["symbol"],
                "orderId": str(trade["orderId"]),
                "orderLinkId": order.client_order_id if order is not None else "",
                "side": "Buy" if trade["isBuyer"] else "Sell",
                "orderPrice": trade["price"],
                "orderQty": trade["qty"],
                "leavesQty": "0",
                "orderType": order.type.capitalize() if order is not None else "Market",
                "stopOrderType": "",
                "execFee": trade["commission"],
                "feeCoin": trade["commissionAsset"],
                "execId": str(trade["id"]),
                "execPrice": trade["price"],
                "execQty": trade["qty"],
                "execType": "Trade",
                "execValue": trade["quoteQty"],
                "execTime": str(trade["time"]),
                "isMaker": trade["isMaker"],
                "feeRate": str(state.commission_rate),
            }
        )
    limit = min(int(params.get("limit") or 50), 100)
    return {"category": category, "list": rows[-limit:][::-1], "nextPageCursor": ""}


API_ROUTES = (
    ("GET", "/v5/market/time", lambda state, params: {"timeSecond": str(now_ms() // 1000), "timeNano": str(time.time_ns())}, False),
    ("GET", "/v5/market/instruments-info", instruments_info, False),
    ("GET", "/v5/market/tickers", tickers, False),
    ("GET", "/v5/market/kline", kline, False),
    ("GET", "/v5/user/query-api", query_api, True),
    ("GET", "/v5/account/info", account_info, True),
    ("GET", "/v5/account/wallet-balance", wallet_balance, True),
    ("GET", "/v5/asset/coin/query-info", coin_info, True),
    ("POST", "/v5/order/create", order_create, True),
    ("GET", "/v5/order/realtime", order_realtime, True),
    ("GET", "/v5/order/history", order_history, True),
    ("POST", "/v5/order/cancel", order_cancel, True),
    ("GET", "/v5/execution/list", execution_list, True),
    ("GET", "/v5/position/list", lambda state, account, params: _linear(state).position_list(account, params), True),
    ("POST", "/v5/position/set-leverage", lambda state, account, params: _linear(state).set_leverage(account, params), True),
)


def _set_order_limit(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    per_second = int(payload.get("per_second", ORDER_LIMIT_PER_SECOND))
    if per_second < 1:
        raise ValueError("per_second must be at least 1")
    limits = request.app[ORDER_LIMITS]
    limits.per_second = per_second
    limits.sent.clear()
    return {"per_second": per_second}


def add_bybit_routes(app: web.Application, state: SimulatorState, *, admin_routes, admin) -> None:
    """Bybit's API under /v5, and the control API for its state under /_sim/bybit/."""
    app[BYBIT_STATE] = state
    app[ORDER_LIMITS] = _OrderLimits()
    for method, path, handler, signed in API_ROUTES:
        app.router.add_route(method, path, _api(handler, signed=signed))
    app.router.add_route("POST", "/_sim/bybit/order-limit", admin(_set_order_limit, key=BYBIT_STATE))
    # This side's snapshot carries its order book too (bybit_snapshot.py).
    app.router.add_route("GET", "/_sim/bybit/snapshot", admin(lambda state, request, payload: bybit_snapshot(state), key=BYBIT_STATE))
    for method, path, handler in admin_routes:
        if path != "/_sim/snapshot":
            app.router.add_route(method, "/_sim/bybit/" + path.removeprefix("/_sim/"), admin(handler, key=BYBIT_STATE))
