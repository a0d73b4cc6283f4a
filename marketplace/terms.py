"""The one place that decides what a copy costs: `fee_terms_offered` (the offer to a new
copier) and `copy_fee_terms` (what one copy is billed for a month: the terms recorded when
it started, or a change noticed since and now in effect).

Why here: terms come from the strategy (AI: its override %) and from its owner's provider
profile (marketplace: the provider's %, subscription), and marketplace is the lowest layer
that knows both. copytrade, below, never imports this: it sends `copytrade.events.
copy_starting` when a copy starts, and `marketplace.receivers` records the terms (or refuses
the copy when the terms the follower saw are no longer the offer). billing and web, above,
read the recorded terms through `copy_fee_terms`: every endpoint, page, invoice and payout
states or charges what this module answers.

Changes (`marketplace.services.provider_terms_update`): a new offer applies to new copies at
once; an existing copy keeps what it consented to until the first full billing month that
starts at least `FEE_TERMS_NOTICE_DAYS` after its follower was told (docs/BILLING.md).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone

from copytrade.models import Copy, Strategy
from core.money import ZERO, format_money, to_decimal
from core.terms import FeeTerms
from marketplace.models import CopyFeeTerms, Program


def payee_share_rate(program: str) -> Decimal:
    return to_decimal(settings.BILLING_PAYOUT_SHARES[program]["payee"])


def _terms(program: str, rate_percent, subscription_fee_monthly) -> FeeTerms:
    return FeeTerms(
        program=program,
        rate_percent=to_decimal(rate_percent),
        subscription_fee_monthly=to_decimal(subscription_fee_monthly),
        payee_share=payee_share_rate(program),
        currency=settings.BILLING_CURRENCY.lower(),
    )


def fee_terms_offered(*, strategy: Strategy) -> FeeTerms:
    """The terms a new copy of `strategy` would be recorded with, now.

    AI strategies: the strategy's override %, no subscription. Otherwise the owner's provider
    terms; a manual strategy whose owner never became a provider charges nothing.
    """
    if strategy.kind == Strategy.Kind.AI:
        return _terms(Program.AI, strategy.copy_override_percent, ZERO)
    try:
        provider = strategy.owner.signal_provider
    except ObjectDoesNotExist:
        return _terms(Program.MARKETPLACE, ZERO, ZERO)
    return _terms(Program.MARKETPLACE, provider.performance_fee_percent, provider.subscription_fee_monthly)


def fee_terms_in_words(terms: FeeTerms) -> tuple[str, ...]:
    """E.g. ("15 % of new profit above your high-water mark", "+ 29.00 USD a month")."""
    subscription = f"{format_money(terms.subscription_fee_monthly, terms.currency)} a month"
    if terms.rate_percent > ZERO:
        # 15.00 -> "15", 12.50 -> "12.5": the fewest digits that state the rate exactly.
        performance = f"{to_decimal(terms.rate_percent).normalize():f} % of new profit above your high-water mark"
        return (performance, f"+ {subscription}") if terms.subscription_fee_monthly > ZERO else (performance,)
    if terms.subscription_fee_monthly > ZERO:
        return (subscription,)
    return ("No fees",)


def first_period(moment: datetime) -> date:
    """The month (its first day) in which `moment` falls."""
    return moment.date().replace(day=1)


def effective_period_after_notice(*, notified_at: datetime) -> date:
    """The first full calendar month (UTC) that starts at least the notice period after `notified_at`."""
    earliest = notified_at + timedelta(days=settings.FEE_TERMS_NOTICE_DAYS)
    start = first_period(earliest)
    if start < earliest.date() or earliest.time() != datetime.min.time():
        # `earliest` is inside that month: the first full month is the next one.
        start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start


def _row_terms(row) -> FeeTerms:
    return FeeTerms(
        program=row.program,
        rate_percent=row.rate_percent,
        subscription_fee_monthly=row.subscription_fee_monthly,
        payee_share=row.payee_share,
        currency=row.currency,
    )


def copy_fee_terms(*, copy: Copy, period: date | None = None) -> FeeTerms:
    """What `copy` is billed for `period` (default: this month): its recorded terms in
    effect then. A read, never a write: `copy_start` records every copy's terms as it starts
    (marketplace.receivers); a copy made without it (a bulk benchmark row) reads as the
    current offer."""
    return copy_fee_terms_of(copies=[copy], period=period)[copy.pk]


def copy_fee_terms_of(*, copies: list[Copy], period: date | None = None) -> dict[int, FeeTerms]:
    """`copy_fee_terms` of several copies, by copy id, in one query (a page listing copies)."""
    period = period or _today_period()
    chosen = {}
    # Per copy: the latest row in effect by `period`, else its earliest (a change noticed for later).
    rows = CopyFeeTerms.objects.filter(copy_id__in=[copy.pk for copy in copies])
    for row in rows.order_by("copy_id", "effective_from"):
        current = chosen.get(row.copy_id)
        if current is None or row.effective_from <= period:
            chosen[row.copy_id] = row
    return {copy.pk: _row_terms(chosen[copy.pk]) if copy.pk in chosen else fee_terms_offered(strategy=copy.strategy) for copy in copies}


def copy_fee_terms_pending(*, copy: Copy) -> tuple[date, FeeTerms] | None:
    """A noticed change not yet in effect: (the month it applies from, the new terms)."""
    row = CopyFeeTerms.objects.filter(copy_id=copy.pk, effective_from__gt=_today_period()).order_by("effective_from").first()
    return None if row is None else (row.effective_from, _row_terms(row))


def _today_period() -> date:
    return first_period(timezone.now())
