"""Fee terms as the pages state them, from `marketplace.terms` (the one place that decides
them, which billing charges with): the offer to a new copier, and a copy's recorded terms."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings

from billing.fees import performance_fee, prorated_subscription
from copytrade.models import CopyRelationship, Strategy
from core.money import ZERO, format_money
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


def copy_fee_terms_shown(*, relationship: CopyRelationship) -> FeeTermsInWords:
    """What this copy is billed now (recorded when it started), and a noticed change if one is coming."""
    pending = copy_fee_terms_pending(relationship=relationship)
    extra = {} if pending is None else {"pending_from": pending[0], "pending": fee_terms_in_words(pending[1])}
    return _in_words(copy_fee_terms(relationship=relationship), **extra)


EXAMPLE_PROFIT = Decimal("1000")
EXAMPLE_LIVE_DAYS, EXAMPLE_MONTH_DAYS = 10, 30


def fee_terms_examples(*, terms: FeeTermsInWords, currency: str) -> list[str]:
    """The terms worked through with round numbers, by the functions billing charges with:
    "On 1,000.00 USDT of new profit above your high-water mark you pay 150.00 USDT." """
    examples = []
    if terms.rate_percent > ZERO:
        fee = performance_fee(rate_percent=terms.rate_percent, cumulative_pnl=EXAMPLE_PROFIT, hwm_before=ZERO).fee
        examples.append(
            f"On {format_money(EXAMPLE_PROFIT, currency)} of new profit above your high-water mark you pay {format_money(fee, currency)}. "
            "After a loss you pay nothing until the copy is back above its best, and then only on the part above it."
        )
    if terms.subscription_fee_monthly > ZERO:
        billing_currency = settings.BILLING_CURRENCY.upper()
        part = prorated_subscription(
            monthly_fee=terms.subscription_fee_monthly, live_days=EXAMPLE_LIVE_DAYS, days_in_period=EXAMPLE_MONTH_DAYS
        )
        examples.append(
            f"The subscription is charged by the day you copy: {EXAMPLE_LIVE_DAYS} days of a {EXAMPLE_MONTH_DAYS}-day month "
            f"cost {format_money(part, billing_currency)}."
        )
    return examples
