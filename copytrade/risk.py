"""Entry guards (ARCHITECTURE.md "Risk controls"). Exits never come through here: a paused
copy, a price that moved or an empty wallet never stops a reduction or a close.

Each guard raises `RiskSkip(reason)`; the copied trade is then skipped with that reason.
Max order notional clamps rather than skips: a follower who caps an order still wants the
trade, only smaller (the copied trade's reason then says it was clamped). The platform's cap
on a multiplier copy's order (USER_MAX_MULTIPLIER_NOTIONAL) clamps the same way, as the
large exchanges cut a copy to their maximum order size rather than drop it.
"""

from decimal import Decimal

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Abs

from copytrade.models import CopiedTrade, Copy, FollowerPosition, Strategy
from core.money import HUNDRED, to_money


class RiskSkip(Exception):
    """`reason` is stored, `detail` beside it (the numbers its sentence needs), `message` logged."""

    def __init__(self, reason: str, message: str, *, detail: dict | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail or {}


def check_entry_allowed(*, copy: Copy, strategy: Strategy) -> None:
    """Only an active copy of a strategy that accepts copies takes new entries."""
    if copy.status == Copy.Status.PAUSED:
        raise RiskSkip(
            CopiedTrade.Reason.COPY_PAUSED,
            f"The copy is paused ({copy.pause_reason or 'no reason given'}); entries are not copied.",
        )
    if copy.status == Copy.Status.STOPPED:
        raise RiskSkip(CopiedTrade.Reason.COPY_STOPPED, "The copy is stopped.")
    if not strategy.accepting_copies:
        raise RiskSkip(CopiedTrade.Reason.STRATEGY_NOT_ACCEPTING, f"Strategy '{strategy.name}' is not accepting new entries right now.")


def symbol_list_allows(*, copy: Copy, symbol: str) -> bool:
    listed = symbol in copy.symbol_list
    mode = copy.symbol_list_mode
    return mode == Copy.SymbolListMode.ALL or listed == (mode == Copy.SymbolListMode.ALLOW)


def check_symbol_list(*, copy: Copy, symbol: str) -> None:
    """An entry in a market the copy's allow list leaves out, or its deny list names, is
    skipped. Only entries come here: a list changed while the copy holds a position there
    never keeps the copy from following the leader out of it."""
    if not symbol_list_allows(copy=copy, symbol=symbol):
        raise RiskSkip(
            CopiedTrade.Reason.SYMBOL_NOT_ALLOWED,
            f"{symbol} is left out by the copy's {copy.symbol_list_mode} list.",
            detail={"mode": copy.symbol_list_mode},
        )


def check_position_limits(*, copy: Copy, symbol: str, notional: Decimal) -> None:
    """The copy's own caps on new exposure: at most `max_open_positions` markets held (an
    increase of a position it holds is not a new one), and at most `max_exposure` in open
    positions at their entry prices, this order included. Reads the copy's positions only when
    a cap is set."""
    if copy.max_open_positions is None and copy.max_exposure is None:
        return
    held = dict(
        FollowerPosition.objects.filter(copy=copy)
        .exclude(quantity=0)
        .annotate(cost=Abs(F("quantity")) * F("average_entry"))
        .values_list("symbol", "cost")
    )
    limit = copy.max_open_positions
    if limit is not None and symbol not in held and len(held) >= limit:
        raise RiskSkip(
            CopiedTrade.Reason.MAX_OPEN_POSITIONS,
            f"The copy holds {len(held)} positions; it allows {limit}.",
            detail={"held": len(held), "limit": limit},
        )
    exposure = sum(held.values(), Decimal(0))
    if copy.max_exposure is not None and exposure + notional > copy.max_exposure:
        raise RiskSkip(
            CopiedTrade.Reason.MAX_EXPOSURE,
            f"Open positions of {exposure} plus this order of {notional} pass the copy's {copy.max_exposure}.",
            detail={"exposure": str(to_money(exposure)), "order": str(to_money(notional)), "limit": str(copy.max_exposure)},
        )


def price_deviation_percent(*, leader_price: Decimal, current_price: Decimal) -> Decimal:
    return abs(current_price - leader_price) / leader_price * HUNDRED


def check_slippage(*, leader_price: Decimal, current_price: Decimal, max_slippage_percent: Decimal) -> None:
    """The follower's price may not be further from the leader's fill than the copy allows."""
    deviation = price_deviation_percent(leader_price=leader_price, current_price=current_price)
    if deviation > max_slippage_percent:
        raise RiskSkip(
            CopiedTrade.Reason.SLIPPAGE_EXCEEDED,
            f"The price is {deviation:.4f}% away from the leader's fill at {leader_price} "
            f"(now {current_price}); this copy allows {max_slippage_percent}%.",
            detail={
                "gap_percent": str(deviation.quantize(Decimal("0.01"))),
                "price": str(current_price),
                "leader_price": str(leader_price),
                "limit_percent": str(max_slippage_percent),
            },
        )


def check_not_worse_than_entry(*, side: str, entry: Decimal, price: Decimal, max_slippage_percent: Decimal) -> None:
    """Opening a position the leader already holds: only where the price is not worse than the
    leader's entry (higher for a buy, lower for a sell) by more than the copy's slippage limit."""
    worse = (price - entry) / entry * HUNDRED if side == "buy" else (entry - price) / entry * HUNDRED
    if worse > max_slippage_percent:
        raise RiskSkip(
            CopiedTrade.Reason.START_PRICE_WORSE,
            f"The price {price} is {worse:.4f}% worse than the leader's entry {entry}; this copy allows {max_slippage_percent}%.",
            detail={
                "gap_percent": str(worse.quantize(Decimal("0.01"))),
                "price": str(price),
                "leader_price": str(entry),
                "limit_percent": str(max_slippage_percent),
            },
        )


def clamp_to_max_order_notional(*, notional: Decimal, max_order_notional: Decimal | None) -> tuple[Decimal, bool]:
    """(notional, whether it was clamped)."""
    if max_order_notional is not None and notional > max_order_notional:
        return max_order_notional, True
    return notional, False


def clamp_to_multiplier_cap(*, notional: Decimal, sizing_mode: str) -> tuple[Decimal, bool]:
    """(notional, whether it was clamped). A multiplier copy is checked against
    USER_MAX_MULTIPLIER_NOTIONAL when it starts, at its leader's capital then; but one leader
    order may be larger than that capital (a signal's size is the leader's own), so each of
    the copy's orders is held to the cap too."""
    limit = settings.USER_MAX_MULTIPLIER_NOTIONAL
    if sizing_mode == Copy.SizingMode.MULTIPLIER and notional > limit:
        return limit, True
    return notional, False
