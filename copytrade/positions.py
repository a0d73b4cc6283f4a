"""Positions (a leader's and a copy's), realised P&L, equity and drawdown, moved by one fill
at a time: the one place their arithmetic is written.

Definitions (billing and the API rely on them):
- `CopiedTrade.pnl_quote` = the realised P&L of that fill (quote currency: (exit price −
  average entry) × amount closed × direction × contract size) minus that fill's fee in the
  quote currency. An entry's pnl_quote is therefore minus its fee.
- `CopiedTrade.pnl_billing` = pnl_quote × `quote_rate`, the billing currency per unit of the
  quote at the fill (copytrade/currency.py). The sum of a copy's pnl_billing over a period is
  its realised net P&L for the period in the billing currency: what billing charges on.
- `FollowerPosition.realized_pnl` and `Copy.realized_pnl` (and so copy equity)
  are sums of pnl_quote: the copy's capital is in the quote currency too.
- Copy equity = copy capital + realised net P&L + unrealised P&L of the symbol just traded,
  marked at that fill's price (other symbols are carried at their average entry until they
  trade). Peak equity only rises; drawdown % = (peak − equity) / peak × 100.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderPosition
from core.money import HUNDRED, ZERO, to_money

_PERCENT_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class Fill:
    side: str  # buy | sell
    amount: Decimal  # what the position gains or loses (base units / contracts)
    price: Decimal
    fee_quote: Decimal
    contract_size: Decimal = Decimal(1)


def position_apply_fill(position: FollowerPosition | LeaderPosition, *, fill: Fill) -> Decimal:
    """Move the signed position by one fill (not saved); returns the fill's gross realised P&L.
    A leader's trade arrives here one leg at a time (a flip is a close leg, then an open one).

    Same direction (or from flat): the average entry is the size-weighted mean. Opposite
    direction: the closed part realises P&L at the average entry; beyond flat the rest opens
    a new position at the fill price.
    """
    held = position.quantity
    direction = 1 if fill.side == "buy" else -1
    realised = ZERO
    if held == 0 or (held > 0) == (direction > 0):
        position.average_entry = to_money((abs(held) * position.average_entry + fill.amount * fill.price) / (abs(held) + fill.amount))
    else:
        closed = min(fill.amount, abs(held))
        realised = (fill.price - position.average_entry) * closed * (1 if held > 0 else -1) * fill.contract_size
        if fill.amount > abs(held):
            position.average_entry = fill.price
        elif fill.amount == abs(held):
            position.average_entry = ZERO
    position.quantity = held + direction * fill.amount
    return realised


def unrealised_pnl(position: FollowerPosition, *, price: Decimal, contract_size: Decimal = Decimal(1)) -> Decimal:
    """The open position's P&L marked at `price`, in the quote currency (contracts × size)."""
    if position.quantity == 0:
        return ZERO
    return (price - position.average_entry) * position.quantity * contract_size


def copy_apply_pnl(copy: Copy, *, pnl: Decimal, unrealised: Decimal) -> None:
    """Add a fill's net P&L to the copy and re-mark its equity, peak and drawdown (not saved)."""
    copy.realized_pnl = to_money(copy.realized_pnl + pnl)
    copy.copy_equity = to_money(copy.copy_capital + copy.realized_pnl + unrealised)
    copy.peak_equity = max(copy.peak_equity, copy.copy_equity)
    if copy.peak_equity > 0:
        drawdown = (copy.peak_equity - copy.copy_equity) / copy.peak_equity * HUNDRED
        copy.current_drawdown_percent = max(ZERO, drawdown).quantize(_PERCENT_STEP, rounding=ROUND_HALF_EVEN)
    else:
        copy.current_drawdown_percent = ZERO


def stop_loss_hit(copy: Copy) -> bool:
    return copy.current_drawdown_percent >= copy.max_drawdown_stop


def position_move_percent(position: FollowerPosition, *, price: Decimal) -> Decimal:
    """How far `price` is from the position's own average entry, in percent, positive in the
    position's favour (up for a long, down for a short)."""
    if position.quantity == 0 or position.average_entry <= 0:
        return ZERO
    change = (price - position.average_entry) / position.average_entry * HUNDRED
    return change if position.quantity > 0 else -change


def position_exit_hit(copy: Copy, position: FollowerPosition, *, price: Decimal) -> str | None:
    """The copied-trade kind that closes this position now (take_profit, position_stop), or None."""
    move = position_move_percent(position, price=price)
    if copy.take_profit_percent is not None and move >= copy.take_profit_percent:
        return CopiedTrade.Kind.TAKE_PROFIT
    if copy.stop_loss_percent is not None and move <= -copy.stop_loss_percent:
        return CopiedTrade.Kind.POSITION_STOP
    return None
