"""Binance USDⓈ-M perpetuals in the loopback simulator: the `/fapi/...` endpoints ccxt's
`binance` class calls for `BTC/USDT:USDT` markets (exchange info, 24 h ticker and price,
premium index with mark price and funding rate, leverage brackets, orders with reduceOnly and
newClientOrderId, order lookup by origClientOrderId, cancel, user trades, position risk,
leverage, margin type, position mode, account and balance, income), and the control API
that sets mark prices and funding rates and pays funding.

One-way mode, USDT-margined, market and limit orders filled at once at the contract's last
price (a limit that does not cross expires, as an IOC would). Each account has a futures
wallet of its own beside its spot balances (Binance keeps them apart too). Margin: an order
that opens or adds needs notional / leverage + fee of free margin ("Margin is insufficient.",
-2019); a reduceOnly order that would open or add is refused (-2022). Isolated positions are
liquidated when the mark price reaches their liquidation price (Binance's one-position
formula with the market's maintenance margin rate): the position's margin is lost.

Orders go into the simulator's one order log (`/_sim/orders`, client order id counts) and
faults hit `/fapi/` requests as they hit `/api/v3/` ones: both run through the same wrapper.
The state lives in `SimulatorState.extensions["futures"]`; a reset forgets it.
"""

import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from devtools.simulator.state import (
    CLIENT_ORDER_ID_FORMAT,
    EIGHT_PLACES,
    ZERO,
    BinanceError,
    PriceSeries,
    SimulatorState,
    _decimal_param,
    _int_param,
    _mandatory,
    fmt,
    now_ms,
    to_decimal,
)

DEFAULT_TAKER_RATE = Decimal("0.0004")
DEFAULT_LEVERAGE = 20
MAX_LEVERAGE = 125
FUNDING_INTERVAL_MS = 8 * 60 * 60 * 1000
# Perpetual contract date Binance gives every perpetual (ccxt reads it as "no expiry").
PERPETUAL_DELIVERY_MS = 4133404800000
# (base, stepSize, tickSize, minQty, maxQty, minNotional, maintenance margin rate, price):
# Binance's filters for these perpetuals, first bracket's maintenance margin.
DEFAULT_PERPETUALS = (
    ("BTC", "0.001", "0.10", "0.001", "1000", "100", "0.004", "65000"),
    ("ETH", "0.001", "0.01", "0.001", "10000", "20", "0.005", "3500"),
    ("SOL", "1", "0.0100", "1", "1000000", "5", "0.01", "150"),
)


def _places(step: Decimal) -> int:
    return max(-step.normalize().as_tuple().exponent, 0)


@dataclass
class Perpetual:
    symbol: str
    base: str
    quote: str
    step_size: Decimal
    tick_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    maint_margin_rate: Decimal
    last: Decimal
    mark: Decimal
    funding_rate: Decimal = Decimal("0.0001")
    next_funding_ms: int = 0

    def exchange_info(self) -> dict:
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": PERPETUAL_DELIVERY_MS,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": fmt(self.maint_margin_rate * 100),
            "requiredMarginPercent": fmt(Decimal(100) / MAX_LEVERAGE),
            "baseAsset": self.base,
            "quoteAsset": self.quote,
            "marginAsset": self.quote,
            "pricePrecision": _places(self.tick_size),
            "quantityPrecision": _places(self.step_size),
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(self.tick_size), "maxPrice": "4529764", "tickSize": fmt(self.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": fmt(self.min_qty), "maxQty": fmt(self.max_qty), "stepSize": fmt(self.step_size)},
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": fmt(self.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
            ],
            "orderTypes": ["LIMIT", "MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        }


@dataclass
class PerpPosition:
    amount: Decimal = ZERO  # signed contracts (one contract = one base unit)
    entry: Decimal = ZERO
    leverage: int = DEFAULT_LEVERAGE
    isolated: bool = False
    isolated_margin: Decimal = ZERO  # isolated wallet of the position
    updated_ms: int = 0


@dataclass
class FuturesWallet:
    balance: Decimal = ZERO  # USDT wallet balance
    positions: dict[str, PerpPosition] = field(default_factory=dict)
    trades: list[dict] = field(default_factory=list)
    income: list[dict] = field(default_factory=list)
    dual_side: bool = False
    # Every leverage and margin type change accepted: (endpoint, symbol, value), oldest first.
    settings_log: list[tuple[str, str, str]] = field(default_factory=list)

    def position(self, symbol: str) -> PerpPosition:
        return self.positions.setdefault(symbol, PerpPosition())


class FuturesOrder:
    """A filled, expired or cancelled USDⓈ-M order; also a row of the simulator's order log."""

    def __init__(self, **values):
        self.__dict__.update(values)

    @property
    def is_open(self) -> bool:
        return False

    def response(self) -> dict:
        return {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price or ZERO),
            "avgPrice": fmt(self.average or ZERO),
            "origQty": fmt(self.quantity),
            "executedQty": fmt(self.executed_qty),
            "cumQty": fmt(self.executed_qty),
            "cumQuote": fmt(self.cum_quote),
            "timeInForce": self.time_in_force,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": False,
            "side": self.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": self.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": self.created_ms,
            "updateTime": self.updated_ms,
        }

    def log_row(self) -> dict:
        return {
            "id": self.order_id,
            "client_order_id": self.client_order_id,
            "api_key": self.api_key,
            "symbol": self.symbol,
            "market": "usdm",
            "side": self.side,
            "type": self.type,
            "time_in_force": self.time_in_force,
            "amount": str(self.quantity),
            "price": str(self.price) if self.price is not None else None,
            "status": self.status,
            "filled": str(self.executed_qty),
            "reduce_only": self.reduce_only,
            "ack_time": self.ack_time,
            "remote": self.remote,
        }


def liquidation_price(*, amount: Decimal, entry: Decimal, wallet: Decimal, maint_margin_rate: Decimal) -> Decimal | None:
    """Binance's one-way liquidation price of one position whose margin is `wallet` (the
    isolated margin, or the cross wallet): LP = (WB − amt × EP) / (|amt| × MMR − amt)."""
    if amount == 0:
        return None
    price = (wallet - amount * entry) / (abs(amount) * maint_margin_rate - amount)
    return max(price, ZERO)


class FuturesState:
    def __init__(self, spot: SimulatorState):
        self.spot = spot
        self.taker_rate = DEFAULT_TAKER_RATE
        self.markets: dict[str, Perpetual] = {}
        self.wallets: dict[str, FuturesWallet] = {}
        self.orders_by_id: dict[int, FuturesOrder] = {}
        self.orders_by_client_id: dict[tuple[str, str, str], FuturesOrder] = {}
        self.next_income_id = 1
        self.series: dict[str, PriceSeries] = {}  # last prices over time: the klines
        for base, step, tick, min_qty, max_qty, min_notional, mmr, price in DEFAULT_PERPETUALS:
            self.add_market(
                base=base,
                step_size=step,
                tick_size=tick,
                min_qty=min_qty,
                max_qty=max_qty,
                min_notional=min_notional,
                maint_margin_rate=mmr,
                price=price,
            )

    # --- control ----------------------------------------------------------------------

    def add_market(self, *, base: str, step_size, tick_size, min_qty, max_qty, min_notional, maint_margin_rate, price) -> Perpetual:
        price = to_decimal(price, name="price")
        market = Perpetual(
            symbol=f"{base.upper()}USDT",
            base=base.upper(),
            quote="USDT",
            step_size=to_decimal(step_size, name="step_size"),
            tick_size=to_decimal(tick_size, name="tick_size"),
            min_qty=to_decimal(min_qty, name="min_qty"),
            max_qty=to_decimal(max_qty, name="max_qty"),
            min_notional=to_decimal(min_notional, name="min_notional"),
            maint_margin_rate=to_decimal(maint_margin_rate, name="maint_margin_rate"),
            last=price,
            mark=price,
            next_funding_ms=(now_ms() // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS,
        )
        self.markets[market.symbol] = market
        self.series[market.symbol] = PriceSeries()
        self.series[market.symbol].add(now_ms(), price, ZERO)
        return market

    def market_for(self, raw: str) -> Perpetual:
        symbol = raw.split(":")[0].replace("/", "").upper()
        if symbol not in self.markets:
            raise ValueError(f"Unknown perpetual {raw!r}")
        return self.markets[symbol]

    def wallet(self, api_key: str) -> FuturesWallet:
        if api_key not in self.spot.accounts:
            raise LookupError(api_key)
        return self.wallets.setdefault(api_key, FuturesWallet())

    def set_wallet(self, *, api_key: str, balance) -> FuturesWallet:
        amount = to_decimal(balance, name="balance")
        if amount < 0:
            raise ValueError("A futures wallet balance must not be negative")
        wallet = self.wallet(api_key)
        wallet.balance = amount
        return wallet

    def set_prices(self, *, prices: dict | None = None, marks: dict | None = None, funding_rates: dict | None = None) -> dict:
        """Last prices (the mark follows unless given), mark prices and funding rates; all or none."""
        parsed = []
        for kind, values in (("last", prices), ("mark", marks), ("funding_rate", funding_rates)):
            for raw, value in (values or {}).items():
                number = to_decimal(value, name=f"{kind} of {raw}")
                if kind != "funding_rate" and number <= 0:
                    raise ValueError(f"{kind} of {raw} must be positive, not {number}")
                parsed.append((self.market_for(raw), kind, number))
        for market, kind, number in parsed:
            setattr(market, kind, number)
            if kind == "last":
                self.series[market.symbol].add(now_ms(), number, ZERO)
            if kind == "last" and not (marks and any(self.market_for(raw) is market for raw in marks)):
                market.mark = number
        self._liquidate()
        return self.prices_view()

    def prices_view(self) -> dict:
        return {
            symbol: {"last": str(m.last), "mark": str(m.mark), "funding_rate": str(m.funding_rate)} for symbol, m in self.markets.items()
        }

    def pay_funding(self, *, symbol: str | None = None) -> list[dict]:
        """Settle one funding interval: each open position pays (or receives) position × mark
        × rate; longs pay a positive rate. Returns the income rows written."""
        markets = [self.market_for(symbol)] if symbol else list(self.markets.values())
        written = []
        timestamp = now_ms()
        for market in markets:
            for api_key, wallet in self.wallets.items():
                position = wallet.positions.get(market.symbol)
                if position is None or position.amount == 0:
                    continue
                amount = (-position.amount * market.mark * market.funding_rate).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
                if position.isolated:
                    position.isolated_margin += amount
                wallet.balance += amount
                written.append(self._income(wallet, symbol=market.symbol, kind="FUNDING_FEE", amount=amount, at=timestamp))
                written[-1] = {**written[-1], "api_key": api_key}
            market.next_funding_ms = (timestamp // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        return written

    def account_view(self, api_key: str) -> dict:
        wallet = self.wallet(api_key)
        return {
            "api_key": api_key,
            "wallet_balance": str(wallet.balance),
            "available_balance": str(self._available(wallet)),
            "dual_side": wallet.dual_side,
            "positions": {
                symbol: {
                    "amount": str(p.amount),
                    "entry": str(p.entry),
                    "leverage": p.leverage,
                    "margin_type": "isolated" if p.isolated else "cross",
                    "isolated_margin": str(p.isolated_margin),
                }
                for symbol, p in wallet.positions.items()
            },
            "income": list(wallet.income),
            "settings_log": [list(entry) for entry in wallet.settings_log],
        }

    # --- public endpoints -------------------------------------------------------------

    def require_market(self, params: dict[str, str]) -> Perpetual:
        symbol = params.get("symbol")
        if not symbol:
            raise _mandatory("symbol")
        market = self.markets.get(symbol)
        if market is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market

    def _selected(self, params: dict[str, str]) -> list[Perpetual]:
        return [self.require_market(params)] if params.get("symbol") else list(self.markets.values())

    def exchange_info(self, params: dict[str, str]) -> dict:
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [market.exchange_info() for market in self.markets.values()],
        }

    def _one_or_all(self, params: dict[str, str], render) -> dict | list:
        rows = [render(market) for market in self._selected(params)]
        return rows[0] if params.get("symbol") else rows

    def ticker_price(self, params: dict[str, str]) -> dict | list:
        return self._one_or_all(params, lambda m: {"symbol": m.symbol, "price": fmt(m.last), "time": now_ms()})

    def ticker_24hr(self, params: dict[str, str]) -> dict | list:
        def render(m: Perpetual) -> dict:
            close_time = now_ms()
            return {
                "symbol": m.symbol,
                "priceChange": "0",
                "priceChangePercent": "0.000",
                "weightedAvgPrice": fmt(m.last),
                "lastPrice": fmt(m.last),
                "lastQty": "0",
                "openPrice": fmt(m.last),
                "highPrice": fmt(m.last),
                "lowPrice": fmt(m.last),
                "volume": "0",
                "quoteVolume": "0",
                "openTime": close_time - 86_400_000,
                "closeTime": close_time,
                "firstId": -1,
                "lastId": -1,
                "count": 0,
            }

        return self._one_or_all(params, render)

    def klines(self, params: dict[str, str]) -> list[list]:
        """Candles of the last prices set, as spot's `/api/v3/klines` draws them."""
        return SimulatorState.klines(self, params)

    def premium_index(self, params: dict[str, str]) -> dict | list:
        return self._one_or_all(
            params,
            lambda m: {
                "symbol": m.symbol,
                "markPrice": fmt(m.mark),
                "indexPrice": fmt(m.mark),
                "estimatedSettlePrice": fmt(m.mark),
                "lastFundingRate": fmt(m.funding_rate),
                "interestRate": "0.00010000",
                "nextFundingTime": m.next_funding_ms,
                "time": now_ms(),
            },
        )

    # --- signed endpoints -------------------------------------------------------------

    def leverage_bracket(self, account, params: dict[str, str]) -> list[dict]:
        return [
            {
                "symbol": m.symbol,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": MAX_LEVERAGE,
                        "notionalCap": 9_000_000_000,
                        "notionalFloor": 0,
                        "maintMarginRatio": float(m.maint_margin_rate),
                        "cum": 0.0,
                    }
                ],
            }
            for m in self._selected(params)
        ]

    def set_leverage(self, account, params: dict[str, str]) -> dict:
        market = self.require_market(params)
        leverage = _int_param(params, "leverage")
        if leverage is None:
            raise _mandatory("leverage")
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise BinanceError(400, -4028, f"Leverage {leverage} is not valid")
        position = self.wallet(account.api_key).position(market.symbol)
        position.leverage = leverage
        self.wallet(account.api_key).settings_log.append(("leverage", market.symbol, str(leverage)))
        return {"leverage": leverage, "maxNotionalValue": "9000000000", "symbol": market.symbol}

    def set_margin_type(self, account, params: dict[str, str]) -> dict:
        market = self.require_market(params)
        margin_type = (params.get("marginType") or "").upper()
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise BinanceError(400, -4045, "Invalid marginType.") if margin_type else _mandatory("marginType")
        position = self.wallet(account.api_key).position(market.symbol)
        isolated = margin_type == "ISOLATED"
        if position.isolated == isolated:
            raise BinanceError(400, -4046, "No need to change margin type.")
        if position.amount != 0:
            raise BinanceError(400, -4048, "Margin type cannot be changed if there exists position.")
        position.isolated = isolated
        self.wallet(account.api_key).settings_log.append(("marginType", market.symbol, margin_type))
        return {"code": 200, "msg": "success"}

    def position_side(self, account, params: dict[str, str]) -> dict:
        return {"dualSidePosition": self.wallet(account.api_key).dual_side}

    def set_position_side(self, account, params: dict[str, str]) -> dict:
        raw = (params.get("dualSidePosition") or "").lower()
        if raw not in ("true", "false"):
            raise _mandatory("dualSidePosition")
        wallet = self.wallet(account.api_key)
        if wallet.dual_side == (raw == "true"):
            raise BinanceError(400, -4059, "No need to change position side.")
        if raw == "true":
            raise BinanceError(400, -4067, "Position side cannot be changed if there exists open orders.")  # one-way only here
        wallet.dual_side = False
        return {"code": 200, "msg": "success"}

    def account_info(self, account, params: dict[str, str]) -> dict:
        wallet = self.wallet(account.api_key)
        unrealised = self._unrealised(wallet)
        initial = self._initial_margin(wallet)
        maintenance = self._maintenance_margin(wallet)
        available = self._available(wallet)
        updated = now_ms()
        asset = {
            "asset": "USDT",
            "walletBalance": fmt(wallet.balance),
            "unrealizedProfit": fmt(unrealised),
            "marginBalance": fmt(wallet.balance + unrealised),
            "maintMargin": fmt(maintenance),
            "initialMargin": fmt(initial),
            "positionInitialMargin": fmt(initial),
            "openOrderInitialMargin": "0.00000000",
            "crossWalletBalance": fmt(wallet.balance - self._isolated_wallets(wallet)),
            "crossUnPnl": fmt(unrealised),
            "availableBalance": fmt(available),
            "maxWithdrawAmount": fmt(available),
            "updateTime": updated,
        }
        return {
            "totalInitialMargin": fmt(initial),
            "totalMaintMargin": fmt(maintenance),
            "totalWalletBalance": fmt(wallet.balance),
            "totalUnrealizedProfit": fmt(unrealised),
            "totalMarginBalance": fmt(wallet.balance + unrealised),
            "totalPositionInitialMargin": fmt(initial),
            "totalOpenOrderInitialMargin": "0.00000000",
            "totalCrossWalletBalance": fmt(wallet.balance - self._isolated_wallets(wallet)),
            "totalCrossUnPnl": fmt(unrealised),
            "availableBalance": fmt(available),
            "maxWithdrawAmount": fmt(available),
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": updated,
            "assets": [asset],
            "positions": [
                {
                    "symbol": symbol,
                    "positionSide": "BOTH",
                    "positionAmt": fmt(p.amount),
                    "unrealizedProfit": fmt(self._position_pnl(symbol, p)),
                    "isolatedMargin": fmt(p.isolated_margin if p.isolated else ZERO),
                    "notional": fmt(p.amount * self.markets[symbol].mark),
                    "isolatedWallet": fmt(p.isolated_margin if p.isolated else ZERO),
                    "initialMargin": fmt(abs(p.amount) * self.markets[symbol].mark / p.leverage),
                    "maintMargin": fmt(abs(p.amount) * self.markets[symbol].mark * self.markets[symbol].maint_margin_rate),
                    "updateTime": p.updated_ms,
                }
                for symbol, p in wallet.positions.items()
                if p.amount != 0
            ],
        }

    def balance(self, account, params: dict[str, str]) -> list[dict]:
        info = self.account_info(account, params)["assets"][0]
        return [
            {
                "accountAlias": "SgsR",
                "asset": "USDT",
                "balance": info["walletBalance"],
                "crossWalletBalance": info["crossWalletBalance"],
                "crossUnPnl": info["crossUnPnl"],
                "availableBalance": info["availableBalance"],
                "maxWithdrawAmount": info["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": info["updateTime"],
            }
        ]

    def position_risk(self, account, params: dict[str, str]) -> list[dict]:
        wallet = self.wallet(account.api_key)
        symbols = [self.require_market(params).symbol] if params.get("symbol") else list(wallet.positions)
        rows = []
        for symbol in symbols:
            p = wallet.position(symbol)
            if p.amount == 0 and not params.get("symbol"):
                continue
            market = self.markets[symbol]
            liquidation = self.liquidation_of(wallet, symbol, p)
            rows.append(
                {
                    "symbol": symbol,
                    "positionSide": "BOTH",
                    "positionAmt": fmt(p.amount),
                    "entryPrice": fmt(p.entry),
                    "breakEvenPrice": fmt(p.entry),
                    "markPrice": fmt(market.mark),
                    "unRealizedProfit": fmt(self._position_pnl(symbol, p)),
                    "liquidationPrice": fmt(liquidation or ZERO),
                    "isolatedMargin": fmt(p.isolated_margin + self._position_pnl(symbol, p) if p.isolated else ZERO),
                    "notional": fmt(p.amount * market.mark),
                    "marginAsset": "USDT",
                    "isolatedWallet": fmt(p.isolated_margin if p.isolated else ZERO),
                    "initialMargin": fmt(abs(p.amount) * market.mark / p.leverage),
                    "maintMargin": fmt(abs(p.amount) * market.mark * market.maint_margin_rate),
                    "positionInitialMargin": fmt(abs(p.amount) * market.mark / p.leverage),
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": p.updated_ms,
                    # v2's fields, kept so either version's reader finds them
                    "leverage": str(p.leverage),
                    "marginType": "isolated" if p.isolated else "cross",
                    "isAutoAddMargin": "false",
                    "maxNotionalValue": "9000000000",
                }
            )
        return rows

    def income(self, account, params: dict[str, str]) -> list[dict]:
        wallet = self.wallet(account.api_key)
        symbol, kind = params.get("symbol"), params.get("incomeType")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = min(max(_int_param(params, "limit") or 100, 1), 1000)
        rows = [
            row
            for row in wallet.income
            if (not symbol or row["symbol"] == symbol)
            and (not kind or row["incomeType"] == kind)
            and (start is None or row["time"] >= start)
            and (end is None or row["time"] <= end)
        ]
        return rows[:limit]

    def user_trades(self, account, params: dict[str, str]) -> list[dict]:
        market = self.require_market(params)
        order_id = _int_param(params, "orderId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = min(max(_int_param(params, "limit") or 500, 1), 1000)
        trades = [
            trade
            for trade in self.wallet(account.api_key).trades
            if trade["symbol"] == market.symbol
            and (order_id is None or trade["orderId"] == order_id)
            and (start is None or trade["time"] >= start)
            and (end is None or trade["time"] <= end)
        ]
        return trades[-limit:]

    def place_order(self, account, params: dict[str, str], *, remote: str | None = None) -> dict:
        try:
            order = self._place_order(account, params)
            order.remote = remote
        except BinanceError as exc:
            self.spot.stats["orders_rejected"] += 1
            self.spot.stats["rejected_by_code"][exc.code] += 1
            raise
        self.spot.stats["orders_accepted"] += 1
        return order.response()

    def find_order(self, account, params: dict[str, str]) -> dict:
        return self._find(account, params).response()

    def cancel_order(self, account, params: dict[str, str]) -> dict:
        # Every order here is filled or expired at once: Binance's answer to cancelling one.
        self._find(account, params)
        raise BinanceError(400, -2011, "Unknown order sent.")

    # --- matching ---------------------------------------------------------------------

    def _find(self, account, params: dict[str, str]) -> FuturesOrder:
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

    def _place_order(self, account, params: dict[str, str]) -> FuturesOrder:
        market = self.require_market(params)
        wallet = self.wallet(account.api_key)
        side = params.get("side")
        if side not in ("BUY", "SELL"):
            raise _mandatory("side")
        order_type = params.get("type")
        if order_type not in ("MARKET", "LIMIT"):
            raise BinanceError(400, -1116, "Invalid orderType.") if order_type else _mandatory("type")
        if params.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(400, -4061, "Order's position side does not match user's setting.")
        quantity = _decimal_param(params, "quantity", required=True)
        price = _decimal_param(params, "price", required=order_type == "LIMIT")
        reduce_only = (params.get("reduceOnly") or "").lower() == "true"
        if quantity < market.min_qty or quantity > market.max_qty or (quantity - market.min_qty) % market.step_size:
            raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        if price is not None and price % market.tick_size:
            raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        client_order_id = params.get("newClientOrderId") or self.spot._token(22)
        if not CLIENT_ORDER_ID_FORMAT.match(client_order_id):
            raise BinanceError(400, -4015, "Client order id is not valid.")
        if (account.api_key, market.symbol, client_order_id) in self.orders_by_client_id and self.spot.duplicate_scope == "all":
            raise BinanceError(400, -4116, "ClientOrderId is duplicated.")

        position = wallet.position(market.symbol)
        direction = 1 if side == "BUY" else -1
        closes = min(quantity, abs(position.amount)) if position.amount and (position.amount > 0) != (direction > 0) else ZERO
        opens = quantity - closes
        if reduce_only and opens > 0:
            raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
        if not reduce_only and quantity * market.last < market.min_notional:
            raise BinanceError(
                400, -4164, f"Order's notional must be no smaller than {market.min_notional} (unless you choose reduce only)."
            )
        fill_price = market.last
        crosses = order_type == "MARKET" or (fill_price <= price if side == "BUY" else fill_price >= price)
        if crosses and opens > 0:
            needed = opens * fill_price / position.leverage + quantity * fill_price * self.taker_rate
            if self._available(wallet) < needed:
                raise BinanceError(400, -2019, "Margin is insufficient.")

        timestamp = now_ms()
        order = FuturesOrder(
            order_id=self.spot.next_order_id,
            client_order_id=client_order_id,
            api_key=account.api_key,
            symbol=market.symbol,
            side=side,
            type=order_type,
            time_in_force=params.get("timeInForce") or "GTC",
            quantity=quantity,
            price=price,
            reduce_only=reduce_only,
            status="EXPIRED",
            executed_qty=ZERO,
            cum_quote=ZERO,
            average=None,
            created_ms=timestamp,
            updated_ms=timestamp,
            ack_time=time.time(),
            remote=None,
        )
        self.spot.next_order_id += 1
        self.spot.orders.append(order)
        self.spot.client_id_counts[client_order_id] += 1
        self.orders_by_id[order.order_id] = order
        self.orders_by_client_id[(account.api_key, market.symbol, client_order_id)] = order
        if crosses:
            self._fill(wallet, market, order, price=fill_price, closes=closes, opens=opens, direction=direction)
        return order

    def _fill(self, wallet: FuturesWallet, market: Perpetual, order: FuturesOrder, *, price, closes, opens, direction) -> None:
        position = wallet.position(market.symbol)
        cost = (order.quantity * price).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
        commission = (cost * self.taker_rate).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
        realised = ZERO
        timestamp = now_ms()
        if closes:
            held = position.amount
            realised = ((price - position.entry) * closes * (1 if held > 0 else -1)).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
            if position.isolated:
                released = (position.isolated_margin * closes / abs(held)).quantize(EIGHT_PLACES, rounding=ROUND_DOWN)
                position.isolated_margin -= released
            position.amount = held + direction * closes
            if position.amount == 0:
                position.entry = ZERO
                position.isolated_margin = ZERO
        if opens:
            held = abs(position.amount)
            position.entry = (held * position.entry + opens * price) / (held + opens)
            position.amount += direction * opens
            if position.isolated:
                position.isolated_margin += (opens * price / position.leverage).quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)
        position.updated_ms = timestamp
        wallet.balance += realised - commission
        trade_id = self.spot.next_trade_id
        self.spot.next_trade_id += 1
        wallet.trades.append(
            {
                "buyer": order.side == "BUY",
                "commission": fmt(commission),
                "commissionAsset": "USDT",
                "id": trade_id,
                "maker": False,
                "orderId": order.order_id,
                "price": fmt(price),
                "qty": fmt(order.quantity),
                "quoteQty": fmt(cost),
                "realizedPnl": fmt(realised),
                "side": order.side,
                "positionSide": "BOTH",
                "symbol": market.symbol,
                "time": timestamp,
            }
        )
        if realised:
            self._income(wallet, symbol=market.symbol, kind="REALIZED_PNL", amount=realised, at=timestamp, trade_id=trade_id)
        self._income(wallet, symbol=market.symbol, kind="COMMISSION", amount=-commission, at=timestamp, trade_id=trade_id)
        order.status, order.executed_qty, order.cum_quote, order.average, order.updated_ms = (
            "FILLED",
            order.quantity,
            cost,
            price,
            timestamp,
        )

    def _income(self, wallet: FuturesWallet, *, symbol: str, kind: str, amount: Decimal, at: int, trade_id: int | None = None) -> dict:
        row = {
            "symbol": symbol,
            "incomeType": kind,
            "income": fmt(amount),
            "asset": "USDT",
            "info": kind,
            "time": at,
            "tranId": self.next_income_id,
            "tradeId": str(trade_id) if trade_id else "",
        }
        self.next_income_id += 1
        wallet.income.append(row)
        return row

    def _position_pnl(self, symbol: str, position: PerpPosition) -> Decimal:
        return (self.markets[symbol].mark - position.entry) * position.amount if position.amount else ZERO

    def _unrealised(self, wallet: FuturesWallet) -> Decimal:
        return sum((self._position_pnl(symbol, p) for symbol, p in wallet.positions.items()), ZERO)

    def _initial_margin(self, wallet: FuturesWallet) -> Decimal:
        return sum((abs(p.amount) * self.markets[s].mark / p.leverage for s, p in wallet.positions.items() if p.amount), ZERO)

    def _maintenance_margin(self, wallet: FuturesWallet) -> Decimal:
        return sum((abs(p.amount) * self.markets[s].mark * self.markets[s].maint_margin_rate for s, p in wallet.positions.items()), ZERO)

    def _isolated_wallets(self, wallet: FuturesWallet) -> Decimal:
        return sum((p.isolated_margin for p in wallet.positions.values() if p.isolated), ZERO)

    def _available(self, wallet: FuturesWallet) -> Decimal:
        """Wallet + cross unrealised P&L − margin of cross positions − isolated wallets."""
        cross = [(s, p) for s, p in wallet.positions.items() if p.amount and not p.isolated]
        cross_margin = sum((abs(p.amount) * self.markets[s].mark / p.leverage for s, p in cross), ZERO)
        cross_pnl = sum((self._position_pnl(s, p) for s, p in cross), ZERO)
        return max(wallet.balance - self._isolated_wallets(wallet) + cross_pnl - cross_margin, ZERO)

    def liquidation_of(self, wallet: FuturesWallet, symbol: str, position: PerpPosition) -> Decimal | None:
        margin = position.isolated_margin if position.isolated else wallet.balance
        return liquidation_price(
            amount=position.amount, entry=position.entry, wallet=margin, maint_margin_rate=self.markets[symbol].maint_margin_rate
        )

    def _liquidate(self) -> None:
        """Isolated positions whose mark reached their liquidation price are closed at it; their
        margin is lost (Binance's insurance fund takes what is left)."""
        for wallet in self.wallets.values():
            for symbol, position in wallet.positions.items():
                if not position.isolated or position.amount == 0:
                    continue
                price = self.liquidation_of(wallet, symbol, position)
                mark = self.markets[symbol].mark
                if price is None or (mark > price if position.amount > 0 else mark < price):
                    continue
                loss = position.isolated_margin
                wallet.balance -= loss
                self._income(wallet, symbol=symbol, kind="INSURANCE_CLEAR", amount=-loss, at=now_ms())
                position.amount, position.entry, position.isolated_margin = ZERO, ZERO, ZERO


def futures_of(state: SimulatorState) -> FuturesState:
    futures = state.extensions.get("futures")
    if futures is None:
        futures = state.extensions["futures"] = FuturesState(state)
    return futures


def _public(method):
    return lambda state, params: method(futures_of(state), params)


def _signed(method):
    return lambda state, account, params: method(futures_of(state), account, params)


def routes(remote) -> tuple:
    """(method, path, handler, signed) for the server's `/fapi/` routes; `remote()` is the
    address of the client being served (the order log keeps it)."""

    def create(state, account, params):
        return futures_of(state).place_order(account, params, remote=remote())

    return (
        ("GET", "/fapi/v1/ping", lambda state, params: {}, False),
        ("GET", "/fapi/v1/time", lambda state, params: {"serverTime": now_ms()}, False),
        ("GET", "/fapi/v1/exchangeInfo", _public(FuturesState.exchange_info), False),
        ("GET", "/fapi/v1/ticker/price", _public(FuturesState.ticker_price), False),
        ("GET", "/fapi/v2/ticker/price", _public(FuturesState.ticker_price), False),
        ("GET", "/fapi/v1/ticker/24hr", _public(FuturesState.ticker_24hr), False),
        ("GET", "/fapi/v1/premiumIndex", _public(FuturesState.premium_index), False),
        ("GET", "/fapi/v1/klines", _public(FuturesState.klines), False),
        ("GET", "/fapi/v1/leverageBracket", _signed(FuturesState.leverage_bracket), True),
        ("POST", "/fapi/v1/leverage", _signed(FuturesState.set_leverage), True),
        ("POST", "/fapi/v1/marginType", _signed(FuturesState.set_margin_type), True),
        ("GET", "/fapi/v1/positionSide/dual", _signed(FuturesState.position_side), True),
        ("POST", "/fapi/v1/positionSide/dual", _signed(FuturesState.set_position_side), True),
        ("GET", "/fapi/v2/account", _signed(FuturesState.account_info), True),
        ("GET", "/fapi/v3/account", _signed(FuturesState.account_info), True),
        ("GET", "/fapi/v2/balance", _signed(FuturesState.balance), True),
        ("GET", "/fapi/v3/balance", _signed(FuturesState.balance), True),
        ("GET", "/fapi/v2/positionRisk", _signed(FuturesState.position_risk), True),
        ("GET", "/fapi/v3/positionRisk", _signed(FuturesState.position_risk), True),
        ("GET", "/fapi/v1/income", _signed(FuturesState.income), True),
        ("GET", "/fapi/v1/userTrades", _signed(FuturesState.user_trades), True),
        ("POST", "/fapi/v1/order", create, True),
        ("GET", "/fapi/v1/order", _signed(FuturesState.find_order), True),
        ("DELETE", "/fapi/v1/order", _signed(FuturesState.cancel_order), True),
    )


# --- control API (/_sim/futures/...) --------------------------------------------------


def _control_wallet(state, request, payload) -> dict:
    futures = futures_of(state)
    api_key = request.match_info["api_key"]
    if "USDT" in payload:
        futures.set_wallet(api_key=api_key, balance=payload["USDT"])
    return futures.account_view(api_key)


def _control_account(state, request, payload) -> dict:
    return futures_of(state).account_view(request.match_info["api_key"])


def _control_prices(state, request, payload) -> dict:
    return futures_of(state).set_prices(
        prices=payload.get("prices"), marks=payload.get("marks"), funding_rates=payload.get("funding_rates")
    )


def _control_pay_funding(state, request, payload) -> list[dict]:
    return futures_of(state).pay_funding(symbol=payload.get("symbol"))


ADMIN_ROUTES = (
    ("GET", "/_sim/futures/accounts/{api_key}", _control_account),
    ("POST", "/_sim/futures/accounts/{api_key}/wallet", _control_wallet),
    ("GET", "/_sim/futures/prices", lambda state, request, payload: futures_of(state).prices_view()),
    ("POST", "/_sim/futures/prices", _control_prices),
    ("POST", "/_sim/futures/funding", _control_pay_funding),
)
