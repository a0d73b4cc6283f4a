"""The Bybit side's part of the simulator's snapshot (`exchange_simulator --state`, `make run`).

Binance's side carries accounts, free balances and price history only: a Binance
`newClientOrderId` is unique among open orders, so a fresh order book loses nothing an
exactly-once check relies on. Bybit's `orderLinkId` is unique for good and the gateway looks an
order up by it before any retry, so this side carries its whole book too: every account with its
free and locked balances and its executions, every order (spot and linear, open ones still
resting, each with its orderLinkId), linear positions and leverage, and the id counters, so the
restored side answers a look-up, refuses a reused orderLinkId and numbers new orders on.
"""

from decimal import Decimal

from devtools.simulator.bybit_linear import LinearPosition
from devtools.simulator.state import Order, SimulatorState

_DECIMALS = ("quantity", "price", "executed_qty", "quote_qty", "locked")


def _order_row(order: Order, *, linear: bool) -> dict:
    row = {name: getattr(order, name) for name in Order.__slots__}
    for name in _DECIMALS:
        row[name] = None if row[name] is None else str(row[name])
    row["fills"] = list(order.fills or [])
    row["linear"] = linear
    return row


def _order(row: dict) -> Order:
    values = {name: row.get(name) for name in Order.__slots__}
    for name in _DECIMALS:
        values[name] = None if values[name] is None else Decimal(values[name])
    values["fills"] = list(values["fills"] or [])
    return Order(**values)


def bybit_snapshot(state: SimulatorState) -> dict:
    """Everything the Bybit side needs to carry on (JSON-safe)."""
    book = state.bybit_linear.current()
    return {
        **state.snapshot(),
        "locked": {
            account.api_key: {asset: str(locked) for asset, (_, locked) in account.balances.items() if locked}
            for account in state.accounts.values()
        },
        "executions": {account.api_key: account.trades for account in state.accounts.values() if account.trades},
        "orders": [_order_row(order, linear=order.order_id in book.order_ids) for order in state.orders],
        "linear_trade_ids": sorted(book.trade_ids),
        "positions": [
            {
                "api_key": api_key,
                "symbol": symbol,
                **{name: str(getattr(position, name)) for name in ("size", "entry", "margin", "realised")},
                "created_ms": position.created_ms,
                "updated_ms": position.updated_ms,
            }
            for (api_key, symbol), position in book.positions.items()
        ],
        "leverage": [{"api_key": api_key, "symbol": symbol, "leverage": str(value)} for (api_key, symbol), value in book.leverage.items()],
        "next_order_id": state.next_order_id,
        "next_trade_id": state.next_trade_id,
    }


def bybit_restore(state: SimulatorState, snapshot: dict) -> None:
    """Take over a Bybit snapshot (into a fresh Bybit side): accounts, prices, then the book."""
    state.restore(snapshot)
    for api_key, locked in (snapshot.get("locked") or {}).items():
        account = state.accounts[api_key]
        for asset, amount in locked.items():
            account.balance(asset)[1] = Decimal(amount)
    for api_key, trades in (snapshot.get("executions") or {}).items():
        state.accounts[api_key].trades = list(trades)
    book = state.bybit_linear.current()
    for row in snapshot.get("orders") or []:
        order = _order(row)
        # The side's order log finds an order by its place: ids are 1, 2, 3... in order.
        if order.order_id != len(state.orders) + 1:
            raise ValueError(f"the snapshot's orders are not numbered 1, 2, 3...: {order.order_id} after {len(state.orders)}")
        state.orders.append(order)
        state.orders_by_id[order.order_id] = order
        state.client_id_counts[order.client_order_id] += 1
        if row.get("linear"):
            book.order_ids.add(order.order_id)
            book.by_link[(order.api_key, order.symbol, order.client_order_id)] = order
        else:
            state.orders_by_client_id[(order.api_key, order.symbol, order.client_order_id)] = order
            if order.is_open:
                state.open_orders.setdefault(order.symbol, {})[order.order_id] = order
    book.trade_ids.update(snapshot.get("linear_trade_ids") or [])
    for row in snapshot.get("positions") or []:
        book.positions[(row["api_key"], row["symbol"])] = LinearPosition(
            **{name: Decimal(row[name]) for name in ("size", "entry", "margin", "realised")},
            created_ms=row["created_ms"],
            updated_ms=row["updated_ms"],
        )
    for row in snapshot.get("leverage") or []:
        book.leverage[(row["api_key"], row["symbol"])] = Decimal(row["leverage"])
    state.next_order_id = max(state.next_order_id, int(snapshot.get("next_order_id") or 1))
    state.next_trade_id = max(state.next_trade_id, int(snapshot.get("next_trade_id") or 1))
