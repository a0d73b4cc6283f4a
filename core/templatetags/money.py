"""Templates show amounts as core.money formats them: `{{ value|money:"usd" }}` -> "68.89 USD",
`{{ amount|quantity }}` -> "0.015"."""

from django import template

from core.money import format_money, format_quantity

register = template.Library()


@register.filter
def money(value, currency: str) -> str:
    return format_money(value, currency)


@register.filter
def quantity(value) -> str:
    return format_quantity(value)
