"""A market's precision and minimums, applied before anything is sent to an exchange.

ccxt rounds amounts and prices to precision but does not check the minimum notional
(Binance NOTIONAL / MIN_NOTIONAL), so an order it lets through can still be rejected by the
exchange after a round trip. We check here and raise BelowExchangeMinimumError instead,
which the copy engine turns into a `below_exchange_minimum` skip.
"""

from decimal import Decimal

from core.money import to_decimal
from exchanges.errors import BelowExchangeMinimumError, OrderRejectedError
from exchanges.types import MarketRules

SIDES = ("buy", "sell")


def apply_order_rules(
    market: MarketRules,
    *,
    amount: Decimal,
    price: Decimal | None,
    reference_price: Decimal,
    side: str | None = None,
) -> tuple[Decimal, Decimal | None]:
    """Return (amount, price) as the exchange will accept them.

    The amount is truncated to `amount_step`, never rounded up: we never trade more than
    asked. A limit price is rounded to `price_step` against the trader: a buy rounds down
    and a sell rounds up, so a guard price (an IOC limit at the most we accept to pay or
    the least we accept to receive) never becomes worse than the guard. `side` is
    therefore required when a price is given.

    The minimum cost is checked at the price the exchange checks: the limit price when
    there is one, else `reference_price` (the current price, for market orders).
    """
    amount = _positive("amount", amount)
    reference_price = _positive("reference price", reference_price)
    if price is not None:
        price = _positive("price", price)
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES} when a price is given, not {side!r}")
        price = _to_step(price, market.price_step, round_up=side == "sell")
        if price <= 0:
            raise OrderRejectedError(f"Price is below the {market.symbol} price step {market.price_step}.")

    amount = _to_step(amount, market.amount_step, round_up=False)
    if amount <= 0 or amount < market.min_amount:
        raise BelowExchangeMinimumError(
            f"Amount {amount} is below the {market.symbol} minimum {max(market.min_amount, market.amount_step)}."
        )
    if market.max_amount is not None and amount > market.max_amount:
        raise OrderRejectedError(f"Amount {amount} is above the {market.symbol} maximum {market.max_amount}; split the order.")
    cost = amount * market.contract_size * (price if price is not None else reference_price)
    if cost < market.min_cost:
        raise BelowExchangeMinimumError(f"Order cost {cost} {market.quote} is below the {market.symbol} minimum {market.min_cost}.")
    return amount, price


def clamp_to_max_amount(market: MarketRules, *, amount: Decimal) -> Decimal:
    """The amount, capped at the market's maximum order size when it has one."""
    amount = to_decimal(amount)
    if market.max_amount is None:
        return amount
    return min(amount, market.max_amount)


def _positive(name: str, value) -> Decimal:
    try:
        value = to_decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        raise OrderRejectedError(f"Order {name} {value!r} is not a number.") from None
    if not value.is_finite() or value <= 0:
        raise OrderRejectedError(f"Order {name} must be a positive finite number, not {value}.")
    return value


def _to_step(value: Decimal, step: Decimal, *, round_up: bool) -> Decimal:
    if step <= 0:
        return value
    steps = value // step
    if round_up and steps * step != value:
        steps += 1
    return steps * step
