"""HTTP side of the loopback Binance spot simulator (aiohttp).

`/api/v3/...` answers ccxt's real `binance` class exactly as Binance does for the calls we
make (markets, tickers, klines, balance, orders, trades), and `/sapi/v1/account/apiRestrictions`
what each key may do (withdraw, IP restriction). `/_sim/...` is the unsigned JSON
control API for tests, benchmarks and the demo; it answers loopback clients only.

Async on purpose: injected latency is a sleep, so thousands of orders can be in flight on
one core without a thread each.
"""

import asyncio
import contextvars
import hashlib
import hmac
import ipaddress
import json
import re
import threading
from collections.abc import Callable
from urllib.parse import parse_qsl

from aiohttp import web

from devtools.simulator import futures
from devtools.simulator.bybit import BYBIT_STATE, add_bybit_routes, bybit_state
from devtools.simulator.bybit_snapshot import bybit_snapshot
from devtools.simulator.state import DEFAULT_COMMISSION_RATE, Account, BinanceError, SimulatorState, now_ms

STATE = web.AppKey("state", SimulatorState)
# Networks besides loopback whose clients may use the control API (the multi-host run's
# private namespaces, devtools/multihost.py); empty: loopback only.
CONTROL_NETWORKS = web.AppKey("control_networks", tuple)
# The address of the client whose exchange API request is being handled (the order log keeps it).
REMOTE: contextvars.ContextVar[str | None] = contextvars.ContextVar("remote", default=None)
API_KEY_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
# Loose clock check: client and simulator share a machine, but a busy event loop delays us.
CLOCK_AHEAD_TOLERANCE_MS = 5000
BAD_GATEWAY_HTML = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
STARTUP_TIMEOUT_SECONDS = 10.0

Handler = Callable[..., object]


def _json(body, *, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(), status=status, headers=headers, content_type="application/json"
    )


def _binance_error(exc: BinanceError) -> web.Response:
    return _json({"code": exc.code, "msg": exc.msg}, status=exc.status)


def _fault_response(kind: str, state: SimulatorState) -> web.Response:
    retry_after = {"Retry-After": str(state.faults.retry_after_s)}
    if kind == "429":
        msg = (
            "Too many requests; current limit of IP(127.0.0.1) request weight is 6000 per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        )
        return _json({"code": -1003, "msg": msg}, status=429, headers=retry_after)
    if kind == "418":
        banned_until = now_ms() + state.faults.retry_after_s * 1000
        msg = f"Way too much request weight used; IP banned until {banned_until}. Please use WebSocket Streams for live updates to avoid bans."
        return _json({"code": -1003, "msg": msg}, status=418, headers=retry_after)
    if kind == "502":
        return web.Response(text=BAD_GATEWAY_HTML, status=502, content_type="text/html")
    return web.Response(text="Service Unavailable.", status=503, content_type="text/plain")


def _split_signature(raw: str) -> tuple[str, str | None]:
    """(the signed part of a query string or body, the signature sent in it)."""
    if "signature=" not in raw:
        return raw, None
    kept, signature = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def _authenticate(
    state: SimulatorState, request: web.Request, params: dict[str, str], payload: str, signature: str | None, arrived_ms: int
) -> Account:
    api_key = request.headers.get("X-MBX-APIKEY", "")
    if not API_KEY_FORMAT.match(api_key):
        raise BinanceError(401, -2014, "API-key format invalid.")
    account = state.accounts.get(api_key)
    if account is None:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    if not signature:
        raise BinanceError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(400, -1022, "Signature for this request is not valid.")
    try:
        timestamp = int(params["timestamp"])
        recv_window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW_MS)
    except (KeyError, ValueError):
        raise BinanceError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.") from None
    if recv_window > MAX_RECV_WINDOW_MS:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    if timestamp > arrived_ms + CLOCK_AHEAD_TOLERANCE_MS:
        raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if arrived_ms - timestamp > recv_window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return account


async def _withhold(request: web.Request, response: web.Response, state: SimulatorState) -> web.StreamResponse:
    """The request was processed; make the client believe it may not have been."""
    if state.faults.timeout_mode == "drop":
        if request.transport is not None:
            request.transport.abort()
        return response
    await asyncio.sleep(state.faults.timeout_delay_ms / 1000)
    return response


def _api(handler: Handler, *, signed: bool):
    async def endpoint(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE]
        REMOTE.set(request.remote)
        arrived_ms = now_ms()
        state.stats["requests"] += 1
        fault = state.pick_fault(request.method, request.path)
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        if fault is not None and fault != "timeout_after_accept":
            return _fault_response(fault, state)
        query, query_signature = _split_signature(request.query_string)
        body, body_signature = _split_signature(await request.text() if request.body_exists else "")
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        try:
            if signed:
                # Binance signs the query string and the body concatenated ("totalParams").
                account = _authenticate(state, request, params, query + body, query_signature or body_signature, arrived_ms)
                response = _json(handler(state, account, params))
            else:
                response = _json(handler(state, params))
        except BinanceError as exc:
            response = _binance_error(exc)
        if fault == "timeout_after_accept":
            return await _withhold(request, response, state)
        return response

    return endpoint


def _create_order(state: SimulatorState, account: Account, params: dict[str, str]) -> dict:
    order = state.place_order(account, params, remote=REMOTE.get())
    return order.new_order_response(params.get("newOrderRespType") or "FULL")


API_ROUTES = (
    ("GET", "/api/v3/ping", lambda state, params: {}, False),
    ("GET", "/api/v3/time", lambda state, params: {"serverTime": now_ms()}, False),
    ("GET", "/api/v3/exchangeInfo", SimulatorState.exchange_info, False),
    ("GET", "/api/v3/ticker/24hr", SimulatorState.ticker_24hr, False),
    ("GET", "/api/v3/ticker/price", SimulatorState.ticker_price, False),
    ("GET", "/api/v3/klines", SimulatorState.klines, False),
    ("GET", "/api/v3/account", SimulatorState.account_info, True),
    ("POST", "/api/v3/order", _create_order, True),
    ("GET", "/api/v3/order", lambda state, account, params: state.find_order(account, params).query_response(), True),
    ("DELETE", "/api/v3/order", SimulatorState.cancel_order, True),
    ("GET", "/api/v3/openOrders", SimulatorState.open_orders_of, True),
    ("GET", "/api/v3/myTrades", SimulatorState.my_trades, True),
    *futures.routes(REMOTE.get),
    ("GET", "/sapi/v1/account/apiRestrictions", lambda state, account, params: account.api_restrictions(), True),
)


# --- control API ----------------------------------------------------------------------


def _is_loopback(remote: str | None, networks: tuple = ()) -> bool:
    """Loopback, or an address in one of `networks` (ip_network objects) the operator allowed."""
    try:
        address = ipaddress.ip_address(remote) if remote is not None else None
    except ValueError:
        return False
    return address is not None and (address.is_loopback or any(address in network for network in networks))


def _admin(handler: Handler, *, key: web.AppKey = STATE):
    async def endpoint(request: web.Request) -> web.Response:
        if not _is_loopback(request.remote, request.app.get(CONTROL_NETWORKS, ())):
            return _json({"error": "The simulator control API answers loopback clients only."}, status=403)
        try:
            payload = await request.json() if request.body_exists else {}
            if not isinstance(payload, dict):
                raise ValueError("Send a JSON object.")
            return _json(handler(request.app[key], request, payload))
        except LookupError as exc:
            return _json({"error": f"Not found: {exc}"}, status=404)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)

    return endpoint


def _reset(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    state.reset(
        commission_rate=payload.get("commission_rate"),
        duplicate_scope=payload.get("duplicate_scope"),
        commission_asset=payload.get("commission_asset"),
    )
    return {
        "commission_rate": str(state.commission_rate),
        "duplicate_scope": state.duplicate_scope,
        "commission_asset": state.commission_asset,
    }


def _create_account(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    account = state.create_account(api_key=payload.get("api_key"), api_secret=payload.get("api_secret"), balances=payload.get("balances"))
    return {**state.account_view(account), "api_secret": account.secret}


def _account(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    return state.account_view(state.accounts[request.match_info["api_key"]])


def _set_balances(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    return state.account_view(state.set_balances(api_key=request.match_info["api_key"], balances=payload))


def _set_restrictions(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    account = state.accounts[request.match_info["api_key"]]
    account.enable_withdrawals = bool(payload.get("enableWithdrawals", account.enable_withdrawals))
    account.ip_restrict = bool(payload.get("ipRestrict", account.ip_restrict))
    return account.api_restrictions()


def _delete_account(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    state.delete_account(api_key=request.match_info["api_key"])
    return {}


def _set_prices(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    timestamp = payload.get("timestamp")
    ticks = [{"symbol": symbol, "price": price, "timestamp": timestamp} for symbol, price in (payload.get("prices") or {}).items()]
    state.add_ticks(ticks + list(payload.get("ticks") or []))
    return state.prices()


def _add_market(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    fields = ("base", "quote", "step_size", "tick_size", "min_qty", "max_qty", "min_notional", "price")
    missing = [name for name in fields if name not in payload]
    if missing:
        raise ValueError(f"Missing market fields: {missing}")
    return state.add_market(**{name: payload[name] for name in fields}).exchange_info()


def _set_faults(state: SimulatorState, request: web.Request, payload: dict) -> dict:
    state.faults.update(payload)
    return state.faults.as_dict()


def _orders(state: SimulatorState, request: web.Request, payload: dict) -> list[dict]:
    query = request.query
    return state.order_log(
        since_id=int(query.get("since_id", 0)), api_key=query.get("api_key"), client_order_id=query.get("client_order_id")
    )


ADMIN_ROUTES = (
    ("POST", "/_sim/reset", _reset),
    ("POST", "/_sim/accounts", _create_account),
    ("GET", "/_sim/accounts/{api_key}", _account),
    ("DELETE", "/_sim/accounts/{api_key}", _delete_account),
    ("POST", "/_sim/accounts/{api_key}/balances", _set_balances),
    ("POST", "/_sim/accounts/{api_key}/restrictions", _set_restrictions),
    ("GET", "/_sim/prices", lambda state, request, payload: state.prices()),
    ("GET", "/_sim/snapshot", lambda state, request, payload: {**state.snapshot(), "bybit": bybit_snapshot(request.app[BYBIT_STATE])}),
    ("POST", "/_sim/prices", _set_prices),
    ("POST", "/_sim/markets", _add_market),
    ("GET", "/_sim/faults", lambda state, request, payload: state.faults.as_dict()),
    ("POST", "/_sim/faults", _set_faults),
    ("GET", "/_sim/orders", _orders),
    ("GET", "/_sim/orders/counts", lambda state, request, payload: dict(state.client_id_counts)),
    ("GET", "/_sim/stats", lambda state, request, payload: state.stats_view()),
    *futures.ADMIN_ROUTES,
)


def build_app(state: SimulatorState, *, control_networks: tuple = (), bybit: SimulatorState | None = None) -> web.Application:
    """Binance (/api/v3, control /_sim/) and Bybit v5 (/v5, control /_sim/bybit/) on one port."""
    app = web.Application()
    app[STATE] = state
    app[CONTROL_NETWORKS] = tuple(ipaddress.ip_network(network) for network in control_networks)
    for method, path, handler, signed in API_ROUTES:
        app.router.add_route(method, path, _api(handler, signed=signed))
    for method, path, handler in ADMIN_ROUTES:
        app.router.add_route(method, path, _admin(handler))
    add_bybit_routes(app, bybit if bybit is not None else bybit_state(seed=state.seed), admin_routes=ADMIN_ROUTES, admin=_admin)
    return app


def run_simulator(
    *,
    host: str,
    port: int,
    state: SimulatorState,
    print_fn: Callable[[str], None],
    control_networks: tuple = (),
    bybit: SimulatorState | None = None,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Serve until interrupted (the management command); `on_stop` runs as the server stops
    (SIGINT or SIGTERM)."""
    app = build_app(state, control_networks=control_networks, bybit=bybit)
    if on_stop is not None:

        async def stopping(app: web.Application) -> None:
            on_stop()

        app.on_cleanup.append(stopping)
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=print_fn,
        shutdown_timeout=1.0,
    )


def start_simulator_thread(
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    seed: int | None = None,
    latency_ms: float = 0.0,
    commission_rate=DEFAULT_COMMISSION_RATE,
    duplicate_scope: str = "open",
) -> tuple[str, Callable[[], None]]:
    """Serve in a background thread of this process; returns (base URL, stop function).

    Port 0 picks a free port. The thread owns its own event loop; talk to it over HTTP only.
    """
    state = SimulatorState(seed=seed, latency_ms=latency_ms, commission_rate=commission_rate, duplicate_scope=duplicate_scope)
    bybit = bybit_state(seed=seed, latency_ms=latency_ms, commission_rate=commission_rate)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    outcome: dict = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        # A short shutdown timeout: responses held back by a fault must not delay stop().
        runner = web.AppRunner(build_app(state, bybit=bybit), access_log=None, shutdown_timeout=0.2)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            outcome["port"] = runner.addresses[0][1]
        except Exception as exc:  # handed to the starting thread, which raises it
            outcome["error"] = exc
            started.set()
            loop.close()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        # Responses still held back by a timeout fault: end them rather than leak them.
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve, name="exchange-simulator", daemon=True)
    thread.start()
    if not started.wait(STARTUP_TIMEOUT_SECONDS):
        raise RuntimeError("The exchange simulator did not start in time.")
    if "error" in outcome:
        raise outcome["error"]

    def stop() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STARTUP_TIMEOUT_SECONDS)

    return f"http://{host}:{outcome['port']}", stop
