"""Fee terms as the pages state them. The one place the pages ask for a strategy's terms:
billing charges with the same function, so what a page says is what is billed."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from billing.fees import performance_fee, prorated_subscription
from billing.selectors import fee_terms
from copytrade.models import Strategy
from core.money import ZERO, quantize_money


@dataclass(frozen=True)
class FeeTermsInWords:
    """`parts`, e.g. ("15 % of new profit above your high-water mark", "+ 29.00 USD a month")."""

    parts: tuple[str, ...]
    rate_percent: Decimal
    subscription_fee_monthly: Decimal

    def __str__(self) -> str:
        return " ".join(self.parts)


def strategy_fee_terms(*, strategy: Strategy) -> FeeTermsInWords:
    terms = fee_terms(strategy=strategy)
    subscription = f"{quantize_money(terms.subscription_fee_monthly)} {settings.BILLING_CURRENCY.upper()} a month"
    if terms.rate_percent > ZERO:
        # 15.00 -> "15", 12.50 -> "12.5": the fewest digits that state the rate exactly.
        performance = f"{terms.rate_percent.normalize():f} % of new profit above your high-water mark"
        parts = (performance, f"+ {subscription}") if terms.subscription_fee_monthly > ZERO else (performance,)
    elif terms.subscription_fee_monthly > ZERO:
        parts = (subscription,)
    else:
        parts = ("No fees",)
    return FeeTermsInWords(parts=parts, rate_percent=terms.rate_percent, subscription_fee_monthly=terms.subscription_fee_monthly)


EXAMPLE_PROFIT = Decimal("1000")
EXAMPLE_LIVE_DAYS, EXAMPLE_MONTH_DAYS = 10, 30


def fee_terms_examples(*, terms: FeeTermsInWords, currency: str) -> list[str]:
    """The terms worked through with round numbers, by the functions billing charges with:
    "On 1,000.00 USDT of new profit above your high-water mark you pay 150.00 USDT." """
    examples = []
    if terms.rate_percent > ZERO:
        fee = performance_fee(rate_percent=terms.rate_percent, cumulative_pnl=EXAMPLE_PROFIT, hwm_before=ZERO).fee
        examples.append(
            f"On {EXAMPLE_PROFIT:,.2f} {currency} of new profit above your high-water mark you pay {fee:,.2f} {currency}. "
            "After a loss you pay nothing until the copy is back above its best, and then only on the part above it."
        )
    if terms.subscription_fee_monthly > ZERO:
        billing_currency = settings.BILLING_CURRENCY.upper()
        part = prorated_subscription(
            monthly_fee=terms.subscription_fee_monthly, live_days=EXAMPLE_LIVE_DAYS, days_in_period=EXAMPLE_MONTH_DAYS
        )
        examples.append(
            f"The subscription is charged by the day you copy: {EXAMPLE_LIVE_DAYS} days of a {EXAMPLE_MONTH_DAYS}-day month "
            f"cost {part:,.2f} {billing_currency}."
        )
    return examples
