"""Python client of the simulator's `/_sim/` control API (tests, benchmarks, the demo)."""

from decimal import Decimal

import requests


class SimulatorError(Exception):
    pass


class SimulatorClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, exchange: str = "binance"):
        """`exchange`: whose side of the simulator this client drives ("binance" or "bybit"):
        both are served on one port, each with its own accounts, markets, orders and faults."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.exchange = exchange
        self.control_path = "/_sim/" if exchange == "binance" else f"/_sim/{exchange}/"
        self.session = requests.Session()

    def for_exchange(self, exchange: str) -> "SimulatorClient":
        """A client of the same simulator for another exchange's side of it."""
        return SimulatorClient(self.base_url, timeout=self.timeout, exchange=exchange)

    def _request(self, method: str, path: str, *, json=None, params=None):
        url = f"{self.base_url}{self.control_path}{path}"
        response = self.session.request(method, url, json=json, params=params, timeout=self.timeout)
        if response.status_code >= 400:
            raise SimulatorError(f"{method} {self.control_path}{path}: {response.status_code} {response.text}")
        return response.json()

    def reset(
        self, *, commission_rate: Decimal | str | None = None, duplicate_scope: str | None = None, commission_asset: str | None = None
    ) -> dict:
        """Forget accounts, orders, faults and price history (default markets and prices return).
        `commission_asset`: "quote" (the default), "received" (a buy pays in the base coin, as
        on Binance) or "bnb" (BNB at the BNB/<quote> price); kept until reset again."""
        payload = {}
        if commission_asset is not None:
            payload["commission_asset"] = commission_asset
        if commission_rate is not None:
            payload["commission_rate"] = str(commission_rate)
        if duplicate_scope is not None:
            payload["duplicate_scope"] = duplicate_scope
        return self._request("POST", "reset", json=payload)

    def create_account(
        self, *, balances: dict[str, Decimal | str] | None = None, api_key: str | None = None, api_secret: str | None = None
    ) -> dict:
        """Returns {"api_key", "api_secret", "balances"}; keys are generated unless given."""
        payload = {"balances": {asset: str(amount) for asset, amount in (balances or {}).items()}}
        if api_key:
            payload["api_key"] = api_key
        if api_secret:
            payload["api_secret"] = api_secret
        return self._request("POST", "accounts", json=payload)

    def snapshot(self) -> dict:
        """Accounts and price history, for `exchange_simulator --state` to carry on from. The
        Binance side's includes the Bybit side's under "bybit" (its order book too: bybit_snapshot.py)."""
        return self._request("GET", "snapshot")

    def account(self, *, api_key: str) -> dict:
        """{"api_key", "balances": {asset: {"free", "locked"}}} with amounts as strings."""
        return self._request("GET", f"accounts/{api_key}")

    def set_balances(self, *, api_key: str, balances: dict[str, Decimal | str]) -> dict:
        """Set the free amount of each asset given; other assets stay as they are."""
        return self._request("POST", f"accounts/{api_key}/balances", json={asset: str(amount) for asset, amount in balances.items()})

    def set_restrictions(self, *, api_key: str, enable_withdrawals: bool | None = None, ip_restrict: bool | None = None) -> dict:
        """What the key may do, as GET /sapi/v1/account/apiRestrictions answers (default: trade only, any address)."""
        payload = {}
        if enable_withdrawals is not None:
            payload["enableWithdrawals"] = enable_withdrawals
        if ip_restrict is not None:
            payload["ipRestrict"] = ip_restrict
        return self._request("POST", f"accounts/{api_key}/restrictions", json=payload)

    def delete_account(self, *, api_key: str) -> None:
        """Revoke an API key: later signed calls get Binance's -2015."""
        self._request("DELETE", f"accounts/{api_key}")

    def set_price(self, *, symbol: str, price: Decimal | str, timestamp_ms: int | None = None) -> dict:
        return self.set_prices(prices={symbol: price}, timestamp_ms=timestamp_ms)

    def set_prices(self, *, prices: dict[str, Decimal | str], timestamp_ms: int | None = None) -> dict:
        """Record one tick per symbol ("BTC/USDT" or "BTCUSDT"); now unless a timestamp is given."""
        return self._request(
            "POST", "prices", json={"prices": {symbol: str(price) for symbol, price in prices.items()}, "timestamp": timestamp_ms}
        )

    def add_ticks(self, *, ticks: list[dict]) -> dict:
        """Price history in one call: [{"symbol", "price", "timestamp" (ms), "volume"?}]."""
        return self._request("POST", "prices", json={"ticks": [{**tick, "price": str(tick["price"])} for tick in ticks]})

    def prices(self) -> dict[str, str]:
        return self._request("GET", "prices")

    def add_market(
        self, *, base: str, quote: str, step_size: str, tick_size: str, min_qty: str, max_qty: str, min_notional: str, price: str
    ) -> dict:
        return self._request(
            "POST",
            "markets",
            json={
                "base": base,
                "quote": quote,
                "step_size": str(step_size),
                "tick_size": str(tick_size),
                "min_qty": str(min_qty),
                "max_qty": str(max_qty),
                "min_notional": str(min_notional),
                "price": str(price),
            },
        )

    def set_faults(self, **faults) -> dict:
        """Partial update: latency_ms, retry_after_s, rates {"429", "418", "5xx",
        "timeout_after_accept": 0..1}, queue [kinds], match ["POST /api/v3/order"],
        timeout_mode ("delay" | "drop"), timeout_delay_ms."""
        return self._request("POST", "faults", json=faults)

    def faults(self) -> dict:
        return self._request("GET", "faults")

    def orders(self, *, since_id: int = 0, api_key: str | None = None, client_order_id: str | None = None) -> list[dict]:
        """Accepted orders, oldest first: id, client_order_id, api_key, symbol, side, type,
        time_in_force, amount, price, status, filled, cost (quote), created_ms (the answer's
        transactTime), ack_time (time.time())."""
        params = {"since_id": since_id}
        if api_key:
            params["api_key"] = api_key
        if client_order_id:
            params["client_order_id"] = client_order_id
        return self._request("GET", "orders", params=params)

    def order_counts(self) -> dict[str, int]:
        """Accepted orders per client order id."""
        return self._request("GET", "orders/counts")

    def stats(self) -> dict:
        """requests, orders_accepted, orders_rejected, rejected_by_code, faults (by kind), orders_open."""
        return self._request("GET", "stats")

    def set_order_limit(self, *, per_second: int) -> dict:
        """Bybit's side only: order creates per second per API key before 10006 (Bybit spot: 20)."""
        return self._request("POST", "order-limit", json={"per_second": per_second})

    # --- USDⓈ-M perpetuals (devtools/simulator/futures.py) ------------------------------

    def set_futures_wallet(self, *, api_key: str, usdt: Decimal | str) -> dict:
        """Set the account's futures wallet balance (USDT), apart from its spot balances."""
        return self._request("POST", f"futures/accounts/{api_key}/wallet", json={"USDT": str(usdt)})

    def futures_account(self, *, api_key: str) -> dict:
        """{"wallet_balance", "available_balance", "positions": {symbol: {"amount", "entry",
        "leverage", "margin_type", "isolated_margin"}}, "income": [Binance income rows],
        "settings_log": [[endpoint, symbol, value], ...] (each leverage / marginType change accepted)}."""
        return self._request("GET", f"futures/accounts/{api_key}")

    def set_futures_prices(
        self,
        *,
        prices: dict[str, Decimal | str] | None = None,
        marks: dict[str, Decimal | str] | None = None,
        funding_rates: dict[str, Decimal | str] | None = None,
    ) -> dict:
        """Last prices (the mark price follows unless given), mark prices and funding rates
        of perpetuals ("BTCUSDT" or "BTC/USDT:USDT"); isolated positions past their
        liquidation price are liquidated."""
        payload = {
            "prices": {symbol: str(value) for symbol, value in (prices or {}).items()},
            "marks": {symbol: str(value) for symbol, value in (marks or {}).items()},
            "funding_rates": {symbol: str(value) for symbol, value in (funding_rates or {}).items()},
        }
        return self._request("POST", "futures/prices", json=payload)

    def set_mark_price(self, *, symbol: str, price: Decimal | str) -> dict:
        return self.set_futures_prices(marks={symbol: price})

    def set_funding_rate(self, *, symbol: str, rate: Decimal | str) -> dict:
        return self.set_futures_prices(funding_rates={symbol: rate})

    def pay_funding(self, *, symbol: str | None = None) -> list[dict]:
        """Settle one funding interval on every open position (of `symbol`, or of all
        perpetuals): the FUNDING_FEE income rows written, each with its api_key."""
        return self._request("POST", "futures/funding", json={"symbol": symbol} if symbol else {})
