"""Money helpers: Decimal only, project-wide digits, and the one home of each rounding rule.

Three rules, each for its purpose, applied only at the defined points, never in between, so
rounding errors cannot accumulate:
- `to_money`: what a money column stores (8 places, half even): recorded trades, positions,
  P&L and equity;
- `quantize_money`: cents, half up: an amount a person is charged or paid (an invoice line,
  a fee, a split) or reads (`format_money`, `cents_text`);
- `truncate`: toward zero, for amounts sent to an exchange or sized from a balance: never
  more than was asked for or is held.
"""

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, getcontext

from django.conf import settings
from django.db import models

CENTS = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")  # percent
_MONEY_STEP = Decimal(1).scaleb(-settings.MONEY_DECIMAL_PLACES)


def largest_storable(*, max_digits: int, decimal_places: int) -> Decimal:
    """The largest value a column of these digits holds that can also be quantized to its
    places: `quantize` fails (InvalidOperation) on a result longer than the decimal
    context's precision (28 digits), and a 30-digit quantity column is longer than that."""
    digits = min(max_digits, getcontext().prec)
    return Decimal(10) ** (digits - decimal_places) - Decimal(1).scaleb(-decimal_places)


# Bounds of what a money or quantity column records: inputs are refused above them (400),
# so storing or quantizing an accepted number cannot fail (500).
MAX_MONEY = largest_storable(max_digits=settings.MONEY_MAX_DIGITS, decimal_places=settings.MONEY_DECIMAL_PLACES)
MAX_QUANTITY = largest_storable(max_digits=settings.QUANTITY_MAX_DIGITS, decimal_places=settings.QUANTITY_DECIMAL_PLACES)


def money_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("max_digits", settings.MONEY_MAX_DIGITS)
    kwargs.setdefault("decimal_places", settings.MONEY_DECIMAL_PLACES)
    return models.DecimalField(**kwargs)


def quantity_field(**kwargs) -> models.DecimalField:
    kwargs.setdefault("max_digits", settings.QUANTITY_MAX_DIGITS)
    kwargs.setdefault("decimal_places", settings.QUANTITY_DECIMAL_PLACES)
    return models.DecimalField(**kwargs)


def to_decimal(value) -> Decimal:
    """Exact Decimal from str/int/Decimal; floats go through repr so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def to_money(value: Decimal) -> Decimal:
    """A money column's precision: 8 places, half even (what is stored, as leader trades are recorded)."""
    return to_decimal(value).quantize(_MONEY_STEP, rounding=ROUND_HALF_EVEN)


def quantize_money(amount: Decimal) -> Decimal:
    """Cents, half up: amounts a person is charged, paid or shown."""
    return to_decimal(amount).quantize(CENTS, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal | None, currency: str = "") -> str:
    """An amount as a person reads it, the one way everywhere (pages, mails, admin): cents,
    thousands separated, the currency after: "1,234.50 USD" (shown, not stored)."""
    if amount is None:
        return "–"
    text = f"{quantize_money(amount):,}"
    return f"{text} {currency.upper()}" if currency else text


def cents_text(amount: Decimal) -> str:
    """An amount in an API's body: a decimal string of cents, "29.00" (never the column's "0E-8")."""
    return f"{quantize_money(amount)}"


def format_quantity(value: Decimal | None) -> str:
    """A quantity or price as the market traded it, without the column's trailing zeros or an
    exponent, thousands grouped: "0.015", "64,250.5", not "0.015000000000", "64000.00000000"
    or "1.5E-2"; every significant digit kept (the market's precision is what was stored)."""
    if value is None:
        return "–"
    value = to_decimal(value)
    return f"{value.normalize():,f}" if value else "0"


def split(amount: Decimal, payee_rate: Decimal) -> tuple[Decimal, Decimal]:
    """(payee share, platform share) of an amount in cents; they always sum to the amount."""
    amount = quantize_money(amount)
    payee = quantize_money(amount * to_decimal(payee_rate))
    return payee, amount - payee


def truncate(value: Decimal, places: int) -> Decimal:
    """Toward zero at `places`: an amount for an exchange, never more than was asked for or is held."""
    return to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
