"""Fee terms as the pages state them, from `marketplace.terms` (the one place that decides
them, which billing charges with): the offer to a new copier, and a copy's recorded terms."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings

from billing.fees import performance_fee, prorated_subscription
from copytrade.currency import pegged_rate
from copytrade.models import Copy, Strategy
from core.money import HUNDRED, ZERO, format_money, quantize_money
from core.terms import FeeTerms
from marketplace.terms import copy_fee_terms, copy_fee_terms_pending, fee_terms_in_words, fee_terms_offered


@dataclass(frozen=True)
class FeeTermsInWords:
    """`parts`, e.g. ("15 % of new profit above your high-water mark", "+ 29.00 USD a month")."""

    parts: tuple[str, ...]
    rate_percent: Decimal
    subscription_fee_monthly: Decimal
    terms: FeeTerms
    # A change its follower was told of, not yet in effect: (from which month, in words).
    pending_from: date | None = None
    pending: tuple[str, ...] = ()

    def __str__(self) -> str:
        return " ".join(self.parts)


def _in_words(terms: FeeTerms, **extra) -> FeeTermsInWords:
    return FeeTermsInWords(
        parts=fee_terms_in_words(terms),
        rate_percent=terms.rate_percent,
        subscription_fee_monthly=terms.subscription_fee_monthly,
        terms=terms,
        **extra,
    )


def strategy_fee_terms(*, strategy: Strategy) -> FeeTermsInWords:
    """What a new copy of the strategy would be billed (the copy form passes `.terms` back as
    the terms the follower saw: a change in between refuses the copy)."""
    return _in_words(fee_terms_offered(strategy=strategy))


def copy_fee_terms_shown(*, copy: Copy) -> FeeTermsInWords:
    """What this copy is billed now (recorded when it started), and a noticed change if one is coming."""
    pending = copy_fee_terms_pending(copy=copy)
    extra = {} if pending is None else {"pending_from": pending[0], "pending": fee_terms_in_words(pending[1])}
    return _in_words(copy_fee_terms(copy=copy), **extra)


EXAMPLE_CAPITAL = Decimal("1000")
EXAMPLE_RETURN_PERCENT = Decimal("10")
EXAMPLE_LIVE_DAYS, EXAMPLE_MONTH_DAYS = 10, 30


@dataclass(frozen=True)
class FeesAtCapital:
    """The terms worked through on one copy capital for one month, by the functions billing
    charges with. The capital is in the market's quote currency; fees are billed in the billing
    currency, so the capital is converted at the quote's peg, as billing converts P&L."""

    capital: Decimal
    quote_currency: str
    currency: str
    return_percent: Decimal
    # The month's profit at `return_percent`, in the billing currency, and what it costs.
    profit: Decimal
    performance_fee: Decimal
    # A whole month of subscription.
    subscription: Decimal
    # The subscription as a share of the capital, a month; None without one.
    subscription_percent: Decimal | None
    # The monthly return at which what is left after the performance fee pays the subscription.
    break_even_percent: Decimal | None

    @property
    def kept(self) -> Decimal:
        return self.profit - self.performance_fee - self.subscription


def fees_at_capital(*, terms: FeeTermsInWords, capital: Decimal, quote_currency: str) -> FeesAtCapital | None:
    """None when the capital is not positive or its quote has no peg to the billing currency
    (then a percentage of it would be a guess)."""
    rate = pegged_rate(quote_currency)
    if rate is None or capital <= ZERO:
        return None
    capital_billed = capital * rate
    profit = quantize_money(capital_billed * EXAMPLE_RETURN_PERCENT / HUNDRED)
    fee = performance_fee(rate_percent=terms.rate_percent, cumulative_pnl=profit, hwm_before=ZERO).fee
    subscription = prorated_subscription(monthly_fee=terms.subscription_fee_monthly, live_days=1, days_in_period=1)
    has_subscription = subscription > ZERO
    # r × capital × (1 − rate) = subscription: the profit kept after the performance fee pays it.
    kept_share = (HUNDRED - terms.rate_percent) / HUNDRED
    break_even = subscription / capital_billed / kept_share * HUNDRED if has_subscription and kept_share > ZERO else None
    return FeesAtCapital(
        capital=capital,
        quote_currency=quote_currency,
        currency=settings.BILLING_CURRENCY.upper(),
        return_percent=EXAMPLE_RETURN_PERCENT,
        profit=profit,
        performance_fee=fee,
        subscription=subscription,
        subscription_percent=subscription / capital_billed * HUNDRED if has_subscription else None,
        break_even_percent=break_even,
    )


def fee_terms_examples(*, terms: FeeTermsInWords) -> list[str]:
    """How the performance fee and the subscription are charged, in words (the amounts at the
    chosen capital are `fees_at_capital`'s)."""
    examples = []
    if terms.rate_percent > ZERO:
        examples.append(
            "The performance fee is charged on profit above your high-water mark, the best your copies of this leader have "
            "reached: after a loss you pay nothing until they are back above it, and then only on the part above it."
        )
    if terms.subscription_fee_monthly > ZERO:
        billing_currency = settings.BILLING_CURRENCY.upper()
        part = prorated_subscription(
            monthly_fee=terms.subscription_fee_monthly, live_days=EXAMPLE_LIVE_DAYS, days_in_period=EXAMPLE_MONTH_DAYS
        )
        examples.append(
            f"The subscription is charged by the day you copy, whether the copy gains or loses: {EXAMPLE_LIVE_DAYS} days "
            f"of a {EXAMPLE_MONTH_DAYS}-day month cost {format_money(part, billing_currency)}."
        )
    return examples
