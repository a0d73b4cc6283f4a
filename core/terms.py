"""Fee terms as a value: what a copy of a strategy costs its follower, and how the fees split.

A value every layer may hold (copytrade passes the terms a follower saw to the copy start;
marketplace decides and records them; billing charges them; pages render them). Who decides
them is `marketplace.terms`; nothing here knows about strategies or providers.
"""

from dataclasses import dataclass
from decimal import Decimal

from core.money import quantize_money, to_decimal


@dataclass(frozen=True)
class FeeTerms:
    # "ai" (seed 000) or "marketplace" (seed 001): who earns, and so the split.
    program: str
    # Performance fee, percent of new profit above the follower's high-water mark.
    rate_percent: Decimal
    # Subscription per calendar month, prorated by the days the copy is live.
    subscription_fee_monthly: Decimal
    # The leader's / provider's share of every fee (the platform keeps the rest).
    payee_share: Decimal
    # The billing currency the subscription and every fee are stated in (lower case, as Stripe).
    currency: str

    def charges(self) -> tuple[Decimal, Decimal, str]:
        """What the follower pays, comparable: 15 and 15.00 are the same rate."""
        return (
            to_decimal(self.rate_percent).normalize(),
            quantize_money(self.subscription_fee_monthly),
            self.currency.lower(),
        )

    def charges_same_as(self, other: "FeeTerms") -> bool:
        return self.charges() == other.charges()
