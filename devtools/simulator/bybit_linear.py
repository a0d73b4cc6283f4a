"""Bybit v5 USDT perpetuals (category=linear) on the simulator's Bybit side.

Market orders only, filled at once at the last price of the same symbol's spot series (one
price per pair on the simulator); one-way mode (positionIdx 0), cross margin in USDT:
an order takes `qty × price / leverage` of free USDT as position margin plus the taker fee,
a reducing order gives back its share of the margin with the realised P&L. `reduceOnly`
caps the order at the position (Bybit's rule) and is refused without one (110017).
No funding, no liquidation, no resting orders. Orders join the side's order log (ids,
orderLinkId counts, stats) so exactly-once checks see both categories; a linear
orderLinkId is unique for good (110072).
"""

import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from devtools.simulator.state import EIGHT_PLACES, ZERO, Account, Order, SimulatorState, fmt, now_ms

# (base, quote, qtyStep, tickSize, minOrderQty, maxOrderQty, minNotionalValue, maxLeverage)
LINEAR_MARKETS = (
    ("BTC", "USDT", "0.001", "0.1", "0.001", "100", "5", "100"),
    ("ETH", "USDT", "0.01", "0.01", "0.01", "1000", "5", "100"),
)
DEFAULT_LEVERAGE = Decimal(10)


class LinearError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass
class LinearMarket:
    symbol: str
    base: str
    quote: str
    qty_step: Decimal
    tick_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    max_leverage: Decimal

    def instrument(self) -> dict:
        return {
            "symbol": self.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": self.base,
            "quoteCoin": self.quote,
            "settleCoin": self.quote,
            "launchTime": "1585526400000",
            "deliveryTime": "0",
            "priceScale": str(max(-self.tick_size.normalize().as_tuple().exponent, 0)),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": _num(self.max_leverage), "leverageStep": "0.01"},
            "priceFilter": {"minPrice": _num(self.tick_size), "maxPrice": "1999999.8", "tickSize": _num(self.tick_size)},
            "lotSizeFilter": {
                "maxOrderQty": _num(self.max_qty),
                "minOrderQty": _num(self.min_qty),
                "qtyStep": _num(self.qty_step),
                "maxMktOrderQty": _num(self.max_qty),
                "minNotionalValue": _num(self.min_notional),
            },
            "fundingInterval": 480,
            "copyTrading": "both",
        }


@dataclass
class LinearPosition:
    size: Decimal = ZERO  # signed: long > 0, short < 0
    entry: Decimal = ZERO
    margin: Decimal = ZERO
    realised: Decimal = ZERO
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _money(value: Decimal) -> Decimal:
    return value.quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)


class LinearBook:
    """Positions, leverage and linear orders of every account on the Bybit side."""

    def __init__(self, state: SimulatorState):
        self.state = state
        self.markets = {
            base + quote: LinearMarket(
                base + quote, base, quote, *(Decimal(value) for value in (step, tick, min_qty, max_qty, min_notional, leverage))
            )
            for base, quote, step, tick, min_qty, max_qty, min_notional, leverage in LINEAR_MARKETS
        }
        self._clear()

    def _clear(self) -> None:
        self._orders_of = self.state.orders
        self.positions: dict[tuple[str, str], LinearPosition] = {}
        self.leverage: dict[tuple[str, str], Decimal] = {}
        self.order_ids: set[int] = set()
        self.trade_ids: set[int] = set()
        self.by_link: dict[tuple[str, str, str], Order] = {}

    def current(self) -> "LinearBook":
        """This book, emptied when its side was reset (the reset replaces the order list)."""
        if self.state.orders is not self._orders_of:
            self._clear()
        return self

    def market(self, params: dict[str, str]) -> LinearMarket:
        symbol = params.get("symbol")
        if not symbol:
            raise LinearError(10001, "params error: symbol is required")
        market = self.markets.get(symbol)
        if market is None:
            raise LinearError(10001, "params error: symbol invalid")
        return market

    def price(self, market: LinearMarket) -> Decimal:
        return self.state.series[market.symbol].last

    def margin_of(self, api_key: str) -> Decimal:
        return sum((p.margin for (key, _), p in self.positions.items() if key == api_key), ZERO)

    # --- requests ---------------------------------------------------------------------

    def set_leverage(self, account: Account, params: dict[str, str]) -> dict:
        market = self.market(params)
        try:
            leverage = Decimal(params.get("buyLeverage") or "")
        except InvalidOperation:
            raise LinearError(10001, "params error: buyLeverage invalid") from None
        if not 1 <= leverage <= market.max_leverage or params.get("sellLeverage") not in (None, params.get("buyLeverage")):
            raise LinearError(10001, "params error: leverage invalid")
        key = (account.api_key, market.symbol)
        if self.leverage.get(key, DEFAULT_LEVERAGE) == leverage:
            raise LinearError(110043, "leverage not modified")
        self.leverage[key] = leverage
        return {}

    def position_list(self, account: Account, params: dict[str, str]) -> dict:
        if not params.get("symbol") and not params.get("settleCoin"):
            raise LinearError(10001, "params error: symbol or settleCoin is required")
        markets = [self.market(params)] if params.get("symbol") else list(self.markets.values())
        rows = []
        for market in markets:
            key = (account.api_key, market.symbol)
            position = self.positions.get(key) or LinearPosition()
            price = self.price(market)
            rows.append(
                {
                    "positionIdx": 0,
                    "riskId": 1,
                    "symbol": market.symbol,
                    "side": "Buy" if position.size > 0 else "Sell" if position.size < 0 else "",
                    "size": _num(abs(position.size)),
                    "avgPrice": _num(position.entry),
                    "positionValue": _num(_money(abs(position.size) * position.entry)),
                    "tradeMode": 0,
                    "leverage": _num(self.leverage.get(key, DEFAULT_LEVERAGE)),
                    "markPrice": _num(price),
                    "liqPrice": "",
                    "positionIM": _num(position.margin),
                    "positionMM": "0",
                    "unrealisedPnl": _num(_money((price - position.entry) * position.size)) if position.size else "0",
                    "cumRealisedPnl": _num(position.realised),
                    "positionStatus": "Normal",
                    "createdTime": str(position.created_ms),
                    "updatedTime": str(position.updated_ms),
                }
            )
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def create(self, account: Account, params: dict[str, str]) -> Order:
        try:
            order = self._create(account, params)
        except LinearError as exc:
            self.state.stats["orders_rejected"] += 1
            self.state.stats["rejected_by_code"][exc.code] += 1
            raise
        self.state.stats["orders_accepted"] += 1
        return order

    def _create(self, account: Account, params: dict[str, str]) -> Order:
        state = self.state
        market = self.market(params)
        side, order_type = params.get("side", ""), params.get("orderType", "")
        if side not in ("Buy", "Sell"):
            raise LinearError(10001, "params error: side invalid")
        if order_type != "Market":
            raise LinearError(10001, "params error: this simulator fills linear Market orders only")
        try:
            qty = Decimal(params.get("qty") or "")
        except InvalidOperation:
            raise LinearError(10001, "params error: qty invalid") from None
        if not qty.is_finite() or qty < market.min_qty or qty > market.max_qty or (qty - market.min_qty) % market.qty_step:
            raise LinearError(10001, "params error: Qty invalid")
        link = params.get("orderLinkId") or state._token(22)
        if len(link) > 36:
            raise LinearError(10001, "params error: orderLinkId is longer than 36 characters")
        if (account.api_key, market.symbol, link) in self.by_link:
            raise LinearError(110072, "OrderLinkedID is duplicate")
        key = (account.api_key, market.symbol)
        position = self.positions.get(key) or LinearPosition()
        direction = Decimal(1) if side == "Buy" else Decimal(-1)
        against = position.size and (position.size > 0) != (direction > 0)
        if str(params.get("reduceOnly")).lower() == "true":
            if not against:
                raise LinearError(110017, "Reduce-only rule not satisfied")
            qty = min(qty, abs(position.size))  # Bybit caps a reduce-only order at the position
        price = self.price(market)
        closing = min(qty, abs(position.size)) if against else ZERO
        opening = qty - closing
        if opening and opening * price < market.min_notional:
            raise LinearError(110094, f"Order does not meet minimum order value {_num(market.min_notional)}USDT")
        fee = _money(qty * price * state.commission_rate)
        pnl = _money((price - position.entry) * closing * (1 if position.size > 0 else -1)) if closing else ZERO
        released = _money(position.margin * closing / abs(position.size)) if closing else ZERO
        leverage = self.leverage.get(key, DEFAULT_LEVERAGE)
        opened_margin = _money(opening * price / leverage)
        usdt = account.balance(market.quote)
        available = usdt[0] + released + pnl
        if available < opened_margin + fee:
            raise LinearError(110007, "ab not enough for new order")

        usdt[0] = available - opened_margin - fee
        if closing:
            position.margin -= released
            position.realised += pnl
            position.size -= closing * (1 if position.size > 0 else -1)
            if not position.size:
                position.entry, position.margin = ZERO, ZERO
        if opening:
            held = abs(position.size)
            position.entry = (position.entry * held + price * opening) / (held + opening)
            position.size += direction * opening
            position.margin += opened_margin
        position.updated_ms = now_ms()
        self.positions[key] = position
        return self._record(account, market, side=side, qty=qty, price=price, fee=fee, link=link)

    def _record(self, account: Account, market: LinearMarket, *, side: str, qty: Decimal, price: Decimal, fee: Decimal, link: str) -> Order:
        state = self.state
        timestamp = now_ms()
        trade_id = state.next_trade_id
        state.next_trade_id += 1
        cost = _money(qty * price)
        order = Order(
            order_id=state.next_order_id,
            client_order_id=link,
            api_key=account.api_key,
            symbol=market.symbol,
            side=side.upper(),
            type="MARKET",
            time_in_force="IOC",
            quantity=qty,
            price=None,
            status="FILLED",
            executed_qty=qty,
            quote_qty=cost,
            created_ms=timestamp,
            updated_ms=timestamp,
            ack_time=time.time(),
            locked=ZERO,
            fills=[{"price": fmt(price), "qty": fmt(qty), "commission": fmt(fee), "commissionAsset": market.quote, "tradeId": trade_id}],
        )
        state.next_order_id += 1
        state.orders.append(order)
        state.orders_by_id[order.order_id] = order
        state.client_id_counts[link] += 1
        self.order_ids.add(order.order_id)
        self.trade_ids.add(trade_id)
        self.by_link[(account.api_key, market.symbol, link)] = order
        account.trades.append(
            {
                "symbol": market.symbol,
                "id": trade_id,
                "orderId": order.order_id,
                "orderListId": -1,
                "price": fmt(price),
                "qty": fmt(qty),
                "quoteQty": fmt(cost),
                "commission": fmt(fee),
                "commissionAsset": market.quote,
                "time": timestamp,
                "isBuyer": side == "Buy",
                "isMaker": False,
                "isBestMatch": True,
            }
        )
        return order
