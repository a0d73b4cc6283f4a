"""How big a follower's order is (ARCHITECTURE.md "Sizing"). Pure functions: no I/O.

Entries (open / increase) are sized by the copy's mode:
- proportional: leader notional × copy capital / leader equity, where copy capital is the
  capital set at start plus the copy's realised net P&L since (it "moves with the copy's
  P&L"; unrealised P&L is left out so a size does not swing with the last tick);
- multiplier: leader notional × multiplier;
- fixed: the same notional for every entry.
The notional becomes an amount at the follower's current price, truncated to the market's
step. Under the market minimum (amount or cost) the entry is skipped with reason
`below_exchange_minimum`, unless the follower opted in to rounding up to the minimum.

Exits mirror the leader's fraction of what the follower holds (a close sells exactly what
is held): never a recomputed size, never more than held, never rounded up.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.conf import settings

from copytrade.models import CopiedTrade, Copy, LeaderTrade
from core.money import HUNDRED, ZERO, to_decimal, truncate
from exchanges.errors import BelowExchangeMinimumError
from exchanges.rules import apply_order_rules, clamp_to_max_amount
from exchanges.types import MarketRules

# The copy's column each sizing mode reads: the service, the API and the copy form check and
# pass only the chosen mode's parameter.
SIZING_PARAMETER = {
    Copy.SizingMode.PROPORTIONAL: "allocation_percent",
    Copy.SizingMode.MULTIPLIER: "multiplier",
    Copy.SizingMode.FIXED: "fixed_notional",
}

ENTRY_EFFECTS = (LeaderTrade.Effect.OPEN, LeaderTrade.Effect.INCREASE)


class SizingSkip(Exception):
    """The order cannot be sized: the copied trade is skipped with `reason`, `detail` beside it
    (the numbers its sentence needs), `message` logged."""

    def __init__(self, reason: str, message: str, *, detail: dict | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail or {}


def _below_minimum(exc: BelowExchangeMinimumError, *, share: Decimal, market: MarketRules, price: Decimal) -> SizingSkip:
    """The skip of an order under the market's minimum, with the share and the minimum in quote."""
    minimum = minimum_amount(market=market, price=price) * price * market.contract_size
    detail = {"share": str(share), "minimum": str(minimum)}
    return SizingSkip(CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM, exc.message, detail=detail)


@dataclass(frozen=True)
class OrderSize:
    side: str
    amount: Decimal  # base units (contracts on swaps), on the market's step
    notional: Decimal  # amount × price × contract size, in quote
    rounded_up: bool = False


def copy_capital(*, equity: Decimal, sizing_mode: str, allocation_percent: Decimal | None) -> Decimal:
    """A new copy's capital: allocation % of the account's equity (proportional), else the
    whole equity, the base its P&L and drawdown are measured against. Truncated to the money
    columns' places, so a capital is never overstated."""
    base = equity * allocation_percent / HUNDRED if sizing_mode == Copy.SizingMode.PROPORTIONAL else equity
    return truncate(base, settings.MONEY_DECIMAL_PLACES)


def is_entry(effect: str) -> bool:
    return effect in ENTRY_EFFECTS


def entry_notional(
    *,
    sizing_mode: str,
    leader_notional: Decimal,
    leader_equity: Decimal,
    copy_capital: Decimal,
    multiplier: Decimal | None = None,
    fixed_notional: Decimal | None = None,
) -> Decimal:
    """The follower's notional for one leader entry, before precision and risk limits."""
    if sizing_mode == Copy.SizingMode.PROPORTIONAL:
        if leader_equity <= 0 or copy_capital <= 0:
            return ZERO
        return leader_notional * copy_capital / leader_equity
    if sizing_mode == Copy.SizingMode.MULTIPLIER:
        return leader_notional * to_decimal(multiplier)
    if sizing_mode == Copy.SizingMode.FIXED:
        return to_decimal(fixed_notional)
    raise ValueError(f"Unknown sizing mode {sizing_mode!r}")


def copy_entry_notional(*, copy: Copy, leader_trade: LeaderTrade) -> Decimal:
    return entry_notional(
        sizing_mode=copy.sizing_mode,
        leader_notional=leader_trade.notional,
        leader_equity=leader_trade.leader_equity,
        copy_capital=copy.copy_capital + copy.realized_pnl,
        multiplier=copy.multiplier,
        fixed_notional=copy.fixed_notional,
    )


def entry_size(*, side: str, notional: Decimal, price: Decimal, market: MarketRules, round_up_to_minimum: bool = False) -> OrderSize:
    """The order for an entry of `notional` at `price` (the follower's current price)."""
    unit = price * market.contract_size
    amount = clamp_to_max_amount(market, amount=notional / unit) if notional > 0 else ZERO
    try:
        if amount <= 0:
            raise BelowExchangeMinimumError(f"An entry of {notional} {market.quote} is no order at all.")
        amount, _ = apply_order_rules(market, amount=amount, price=None, reference_price=price, side=side)
        rounded_up = False
    except BelowExchangeMinimumError as exc:
        if not round_up_to_minimum:
            raise _below_minimum(exc, share=notional, market=market, price=price) from None
        amount, rounded_up = minimum_amount(market=market, price=price), True
    return OrderSize(side=side, amount=amount, notional=amount * unit, rounded_up=rounded_up)


def minimum_amount(*, market: MarketRules, price: Decimal) -> Decimal:
    """The smallest amount on the market's step that meets both its minimum amount and cost."""
    needed = max(market.min_amount, market.min_cost / (price * market.contract_size), market.amount_step)
    if market.amount_step > 0:
        needed = (needed / market.amount_step).to_integral_value(rounding=ROUND_CEILING) * market.amount_step
    return needed


def exit_size(*, held: Decimal, fraction: Decimal, price: Decimal, market: MarketRules) -> OrderSize:
    """The order that removes `fraction` (1 = close) of the signed position `held`."""
    if held == 0:
        raise SizingSkip(CopiedTrade.Reason.NO_POSITION, "The copy holds no position to reduce or close.")
    side = "sell" if held > 0 else "buy"
    wanted = abs(held) if fraction >= 1 else abs(held) * fraction
    try:
        amount, _ = apply_order_rules(market, amount=wanted, price=None, reference_price=price, side=side)
    except BelowExchangeMinimumError as exc:
        raise _below_minimum(exc, share=wanted * price * market.contract_size, market=market, price=price) from None
    return OrderSize(side=side, amount=amount, notional=amount * price * market.contract_size)
