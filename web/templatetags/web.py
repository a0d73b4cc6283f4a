"""Numbers as the pages write them: percentages with 1-2 decimals and a sign where a gain or
loss is meant, money with 2 decimals and its currency, and display names, never usernames."""

from decimal import Decimal

from django import template
from django.utils.html import format_html

from core.money import format_money, format_quantity, quantize_money
from core.selectors import display_name as core_display_name

register = template.Library()

NBSP = "\u00a0"
MINUS = "\u2212"


def _unknown(value) -> bool:
    """No figure: None, or "" (what a template gives for an attribute of something missing,
    such as the metrics of a strategy that has none yet)."""
    return value is None or value == ""


def _signed(number: float, decimals: int) -> str:
    text = f"{abs(number):,.{decimals}f}"
    if round(number, decimals) > 0:
        return "+" + text
    if round(number, decimals) < 0:
        return MINUS + text
    return text


@register.filter
def display_name(user) -> str:
    return core_display_name(user)


@register.filter
def signed_percent(fraction) -> str:
    """A return as a fraction (0.124) -> "+12.4 %"; "—" when undefined."""
    if _unknown(fraction):
        return "—"
    return f"{_signed(float(fraction) * 100, 1)}{NBSP}%"


@register.filter
def percent(value, decimals: int = 1) -> str:
    """A percentage already in percent (12.3 for a 12.3 % drawdown) -> "12.3 %"."""
    if _unknown(value):
        return "—"
    return f"{float(value):,.{decimals}f}{NBSP}%"


@register.filter
def percent_of_fraction(fraction) -> str:
    """A share as a fraction (0.6) -> "60.0 %", no sign: a win rate, a part of a position."""
    if _unknown(fraction):
        return "—"
    return f"{float(fraction) * 100:,.1f}{NBSP}%"


@register.filter
def stars(count: int) -> str:
    return "★" * count + "☆" * (5 - count)


@register.filter
def price(value) -> str:
    """A market price as exact as it was traded, without trailing zeros: 64,250.5 or 0.00001234."""
    if _unknown(value):
        return "—"
    return format_quantity(value)


@register.filter
def ratio(value) -> str:
    if _unknown(value):
        return "—"
    return f"{float(value):.2f}"


@register.filter
def profit_factor(value, infinite=False) -> str:
    """Gross profit over gross loss; "∞" for profits without a losing trade (stored as null + a flag)."""
    if infinite:
        return "∞"
    return ratio(value)


@register.filter
def money(amount, currency: str = "") -> str:
    """core.money's format ("1,234.50 USDT"), kept on one line on a page."""
    if _unknown(amount):
        return "—"
    return format_money(Decimal(amount), currency).replace(" ", NBSP)


@register.filter
def signed_money(amount, currency: str = "") -> str:
    if _unknown(amount):
        return "—"
    value = quantize_money(Decimal(amount))
    text = f"{abs(value):,}"
    sign = "+" if value > 0 else MINUS if value < 0 else ""
    return f"{sign}{text}{NBSP}{currency}" if currency else f"{sign}{text}"


@register.filter
def gain_class(value) -> str:
    """The colour class, gain, loss or flat: always beside a sign, never instead of one."""
    if _unknown(value):
        return "flat"
    return "gain" if value > 0 else "loss" if value < 0 else "flat"


@register.simple_tag
def plural(count: int, singular: str, plural_form: str = "") -> str:
    return format_html("{} {}", count, singular if count == 1 else (plural_form or singular + "s"))
