"""Reads for billing: what to bill, who earns, invoices, earnings, payout previews."""

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, DecimalField, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from billing.fees import (
    days_in,
    live_dates,
    live_days_each,
    next_period,
    performance_fee_on,
    period_bounds,
    period_start,
    prorated_subscription,
    split_above_mark,
)
from billing.models import BillingAccount, FeeState, Invoice, InvoiceLine, Payout
from billing.roles import PAYOUT_VIEW_PERMISSION
from copytrade.currency import pegged_rate
from copytrade.models import CopiedTrade, Copy, FundingPayment
from core.errors import NotFoundError
from core.money import ZERO
from core.selectors import display_name
from core.terms import FeeTerms
from marketplace.models import Program, SignalProvider
from marketplace.terms import copy_fee_terms_of, payee_share_rate


def _copies_billable(*, period: date) -> QuerySet[Copy]:
    """Copies live at some time in the period, and any copy with P&L not yet assessed up to its end."""
    start, end = period_bounds(period)
    unassessed_trades = CopiedTrade.objects.filter(copy=OuterRef("pk"), finished_at__lt=end, fee_assessment_link__isnull=True)
    return Copy.objects.filter((Q(started_at__lt=end) & (Q(ended_at__isnull=True) | Q(ended_at__gt=start))) | Exists(unassessed_trades))


def fee_followers_billable(*, period: date) -> list[int]:
    """Followers with a billable pair in the period: one billing task each (billing/tasks.py)."""
    return list(_copies_billable(period=period).values_list("follower_id", flat=True).distinct().order_by("follower_id"))


def fee_follower_strategies_billable(*, follower_id: int, period: date) -> list[int]:
    """The strategies of the follower's billable pairs in the period."""
    return list(
        _copies_billable(period=period)
        .filter(follower_id=follower_id)
        .values_list("strategy_id", flat=True)
        .distinct()
        .order_by("strategy_id")
    )


@dataclass(frozen=True)
class BillingProgress:
    period: date
    followers: int  # with a billable pair
    invoiced: int  # of them, with the month's invoice
    awaiting_send: int  # invoices with something due still in draft (not sent to Stripe yet)

    @property
    def done(self) -> bool:
        return self.invoiced >= self.followers


def billing_period_progress(*, period: date) -> BillingProgress:
    """How far the month's run is: the fanned-out tasks' progress, read from what they wrote."""
    followers = _copies_billable(period=period).values("follower_id").distinct().count()
    invoices = Invoice.objects.filter(period=period)
    return BillingProgress(
        period=period,
        followers=followers,
        invoiced=invoices.count(),
        awaiting_send=invoices.filter(status=Invoice.Status.DRAFT, total__gt=0).count(),
    )


def invoice_ids_unsent() -> list[int]:
    """Invoices with something due that never reached Stripe (drafts): the daily run sends them."""
    return list(Invoice.objects.filter(status=Invoice.Status.DRAFT, total__gt=0).order_by("id").values_list("id", flat=True))


def payout_ids_ready() -> list[int]:
    return list(Payout.objects.filter(status=Payout.Status.READY).order_by("id").values_list("id", flat=True))


def fee_pair_copies_billable(*, follower_id: int, strategy_id: int, period: date) -> list[Copy]:
    """The pair's copies an assessment of the period covers, oldest first."""
    return list(_copies_billable(period=period).filter(follower_id=follower_id, strategy_id=strategy_id).order_by("started_at", "id"))


@dataclass(frozen=True)
class TermsPart:
    """One set of terms' part of a pair's month: the copies billed on those terms (oldest
    first; the last is the copy of record), their P&L in the month, and what they owe."""

    terms: FeeTerms
    copies: list[Copy]
    period_net_pnl: Decimal
    live_days: int
    performance_fee: Decimal
    subscription_fee: Decimal


def pair_month_fees(
    *,
    copies: list[Copy],
    pnl_by_copy: dict[int, Decimal],
    cumulative_before: Decimal,
    mark_before: Decimal,
    period: date,
    until: datetime | None = None,
    terms_of: dict[int, FeeTerms] | None = None,
) -> list[TermsPart]:
    """What a follower–strategy pair owes for `period`, one part per set of terms its copies
    were billed on (docs/BILLING.md): each copy its own live days at its terms, and each part
    its share of the pair's new profit above the pair's mark, in proportion to the profit its
    copies made in the month. `until` counts the days only so far (this month's accrual);
    billing counts the whole month. The assessment and the follower's pages both call this."""
    terms_of = terms_of if terms_of is not None else copy_fee_terms_of(copies=copies, period=period)
    spans = [(copy.started_at, copy.ended_at if until is None else min(copy.ended_at or until, until)) for copy in copies]
    days = dict(zip((copy.pk for copy in copies), live_days_each(spans=spans, period=period), strict=True))
    groups: dict[FeeTerms, list[Copy]] = {}
    for copy in copies:
        groups.setdefault(terms_of[copy.pk], []).append(copy)
    pnl_of = {terms: sum((pnl_by_copy.get(copy.pk, ZERO) for copy in group), ZERO) for terms, group in groups.items()}
    above_mark = max(ZERO, cumulative_before + sum(pnl_of.values(), ZERO) - mark_before)
    # A profit above the mark implies the month's net P&L, so some part's, is above zero.
    shares = dict(zip(groups, split_above_mark(above_mark, [max(ZERO, pnl_of[terms]) for terms in groups]), strict=True))
    parts = []
    for terms, group in groups.items():
        live_days = sum(days[copy.pk] for copy in group)
        parts.append(
            TermsPart(
                terms=terms,
                copies=group,
                period_net_pnl=pnl_of[terms],
                live_days=live_days,
                performance_fee=performance_fee_on(above_mark=shares[terms], rate_percent=terms.rate_percent),
                subscription_fee=prorated_subscription(
                    monthly_fee=terms.subscription_fee_monthly, live_days=live_days, days_in_period=days_in(period)
                ),
            )
        )
    return parts


def invoice_list(*, follower) -> QuerySet[Invoice]:
    # Each line with the assessment it bills: the basis (P&L, high-water mark, rate, days) the pages show.
    lines = InvoiceLine.objects.select_related("assessment__strategy").order_by("id")
    return Invoice.objects.filter(follower=follower).prefetch_related(Prefetch("lines", queryset=lines)).order_by("-period", "-id")


def _money_sum(condition: Q | None = None, field: str = "payee_amount") -> Coalesce:
    amount = F(field) if condition is None else Case(When(condition, then=F(field)), default=Value(ZERO))
    return Coalesce(Sum(amount, output_field=DecimalField()), Value(ZERO), output_field=DecimalField())


_COLLECTED = Q(invoice__status=Invoice.Status.PAID)
_PAID_OUT = _COLLECTED & Q(payout__status=Payout.Status.PAID)
_AWAITING_COLLECTION = Q(invoice__status__in=Invoice.AWAITING_PAYMENT)


def _earnings_columns() -> dict:
    return {
        "gross": _money_sum(_COLLECTED, field="amount"),
        "earned": _money_sum(_COLLECTED),
        "paid_out": _money_sum(_PAID_OUT),
        "awaiting_collection": _money_sum(_AWAITING_COLLECTION),
    }


def _with_pending(row: dict) -> dict:
    # Collected from the follower but not yet paid out to the payee.
    return {**row, "pending_payout": row["earned"] - row["paid_out"]}


def earnings_summary(*, payee, follower_limit: int = 50, follower_offset: int = 0) -> dict:
    """Seed 000 §3.2: a leader's fee earnings by month, by follower and all-time, pending vs paid.

    `earned` counts paid invoices only; `awaiting_collection` is billed but not yet paid.
    `by_follower` is one page (`follower_limit` rows from `follower_offset`) of
    `by_follower_count`: a leader may have any number of followers.
    """
    lines = InvoiceLine.objects.filter(payee=payee)
    by_month = lines.values(period=F("invoice__period")).annotate(**_earnings_columns()).order_by("-period")
    by_follower = list(
        lines.values(follower_id=F("invoice__follower_id"))
        .annotate(**_earnings_columns())
        .order_by("-earned", "follower_id")[follower_offset : follower_offset + follower_limit]
    )
    # Followers by their public display name, never their username (one query for all of them).
    followers = get_user_model().objects.filter(id__in=[row["follower_id"] for row in by_follower]).select_related("profile")
    names = {follower.pk: display_name(follower) for follower in followers}
    return {
        "all_time": _with_pending(lines.aggregate(**_earnings_columns())),
        "by_month": [_with_pending({**row, "period": f"{row['period']:%Y-%m}"}) for row in by_month],
        "by_follower": [_with_pending({**row, "follower_name": names[row["follower_id"]]}) for row in by_follower],
        "by_follower_count": lines.values("invoice__follower_id").distinct().count(),
    }


def signal_provider_get_for(*, user, signal_provider_id: int) -> SignalProvider:
    """The provider, to itself or to the billing role; anyone else is told it does not exist."""
    provider = SignalProvider.objects.filter(id=signal_provider_id).select_related("user").first()
    if provider is None or not (provider.user_id == user.id or user.has_perm(PAYOUT_VIEW_PERMISSION)):
        raise NotFoundError("No such signal provider.", {"signal_provider_id": signal_provider_id})
    return provider


def payout_calculate(*, provider: SignalProvider, period_days: int, now: datetime) -> dict:
    """Preview of a provider's payout over the last `period_days`: fees collected in the window, split.

    Collected = lines on invoices paid inside the window; lines billed but not yet paid are
    shown apart, as they are not earned until paid.
    """
    window_start = now - timedelta(days=period_days)
    lines = InvoiceLine.objects.filter(payee_id=provider.user_id)
    collected = lines.filter(invoice__status=Invoice.Status.PAID, invoice__paid_at__gte=window_start, invoice__paid_at__lt=now)
    totals = collected.aggregate(
        gross=_money_sum(field="amount"),
        payee_amount=_money_sum(),
        platform_amount=_money_sum(field="platform_amount"),
        subscription_fees=_money_sum(Q(kind=InvoiceLine.Kind.SUBSCRIPTION), field="amount"),
        performance_fees=_money_sum(Q(kind=InvoiceLine.Kind.PERFORMANCE_FEE), field="amount"),
    )
    awaiting = lines.filter(_AWAITING_COLLECTION).aggregate(amount=_money_sum(field="amount"))["amount"]
    return {
        "signal_provider_id": provider.id,
        "period_days": period_days,
        "window_start": window_start,
        "window_end": now,
        "payee_share": payee_share_rate(Program.MARKETPLACE),
        **totals,
        "awaiting_collection": awaiting,
        "paid_invoices": collected.values("invoice_id").distinct().count(),
    }


def payout_list(*, payee) -> QuerySet[Payout]:
    return Payout.objects.filter(payee=payee).order_by("-period", "-sequence", "-id")


def billing_account_of(*, user) -> BillingAccount | None:
    return BillingAccount.objects.filter(user=user).first()


# --- a follower's results net of fees --------------------------------------------------------


@dataclass(frozen=True)
class CopyResults:
    """One copy's realised result and what its follower pays for it.

    `gross_pnl_quote` is the copy's realised P&L in its market's quote currency (USDT...);
    `gross_pnl` the same P&L in the billing currency, each fill converted at its own rate,
    as billing sums it. Fees and net are in the billing currency only: a quote amount is
    never added to a billed one.

    Fees are the pair's (follower and strategy): a month's fees for a strategy are billed
    once over all of the follower's copies of it, and counted here on the copy billing
    records them on (the pair's latest copy that month), so the copies' fees sum to the bills.
    """

    currency: str
    quote_currency: str
    gross_pnl_quote: Decimal
    gross_pnl: Decimal
    # Invoice lines of the pair's billed months (a voided invoice charged nothing).
    fees_billed: Decimal
    # This month so far, as billing would assess it if the month ended now.
    accrued_performance_fee: Decimal
    accrued_subscription_fee: Decimal

    @property
    def fees_accrued(self) -> Decimal:
        return self.accrued_performance_fee + self.accrued_subscription_fee

    @property
    def fees(self) -> Decimal:
        return self.fees_billed + self.fees_accrued

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.fees


@dataclass(frozen=True)
class _Accrual:
    copy_id: int
    performance_fee: Decimal
    subscription_fee: Decimal


def _fee_accruals(*, pairs: set[tuple[int, int]], now: datetime) -> list[_Accrual]:
    """What `fee_assessment_create` would assess for each (follower, strategy) pair if the
    month ended now (`pair_month_fees`, as billing computes it, with the days live so far),
    each part on its copy of record. The same few queries for any number of pairs."""
    period = period_start(now.date())
    followers, strategies = {pair[0] for pair in pairs}, {pair[1] for pair in pairs}
    copies_of: dict[tuple[int, int], list[Copy]] = {}
    billable = _copies_billable(period=period).filter(follower_id__in=followers, strategy_id__in=strategies)
    for copy in billable.order_by("started_at", "id"):
        if (copy.follower_id, copy.strategy_id) in pairs:
            copies_of.setdefault((copy.follower_id, copy.strategy_id), []).append(copy)
    if not copies_of:
        return []
    states = {
        (state.follower_id, state.strategy_id): state
        for state in FeeState.objects.filter(follower_id__in=followers, strategy_id__in=strategies)
    }
    every_copy = [copy for copies in copies_of.values() for copy in copies]
    unbilled = dict(
        CopiedTrade.objects.filter(copy__in=every_copy, finished_at__lt=now, fee_assessment_link__isnull=True)
        .values("copy_id")
        .annotate(total=Sum("pnl_billing"))
        .values_list("copy_id", "total")
    )
    for copy_id, funding in _funding_by_copy(
        FundingPayment.objects.filter(copy__in=every_copy, paid_at__lt=now, billed_period__isnull=True)
    ).items():
        unbilled[copy_id] = unbilled.get(copy_id, ZERO) + funding
    terms_of = copy_fee_terms_of(copies=every_copy, period=period)
    accruals = []
    for pair, copies in copies_of.items():
        state = states.get(pair)
        cumulative, mark = (state.cumulative_pnl, state.high_water_mark) if state is not None else (ZERO, ZERO)
        for part in pair_month_fees(
            copies=copies,
            pnl_by_copy=unbilled,
            cumulative_before=cumulative,
            mark_before=mark,
            period=period,
            until=now,
            terms_of=terms_of,
        ):
            accruals.append(
                _Accrual(copy_id=part.copies[-1].pk, performance_fee=part.performance_fee, subscription_fee=part.subscription_fee)
            )
    return accruals


def _funding_by_copy(payments) -> dict[int, Decimal]:
    """Perpetuals' funding in the billing currency per copy: P&L like a fill's."""
    return dict(payments.values("copy_id").annotate(total=Sum("amount_billing")).values_list("copy_id", "total"))


def copy_results(*, copies: list[Copy], now: datetime) -> dict[int, CopyResults]:
    """Gross, fees (billed and accrued this month) and net of each of one follower's copies, by copy id."""
    ids = [copy.pk for copy in copies]
    gross = dict(
        CopiedTrade.objects.filter(copy_id__in=ids).values("copy_id").annotate(total=Sum("pnl_billing")).values_list("copy_id", "total")
    )
    for copy_id, funding in _funding_by_copy(FundingPayment.objects.filter(copy_id__in=ids)).items():
        gross[copy_id] = (gross.get(copy_id) or ZERO) + funding
    billed = dict(
        InvoiceLine.objects.filter(assessment__copy_id__in=ids)
        .exclude(invoice__status=Invoice.Status.VOID)
        .values("assessment__copy_id")
        .annotate(total=Sum("amount"))
        .values_list("assessment__copy_id", "total")
    )
    pairs = {(copy.follower_id, copy.strategy_id) for copy in copies}
    accruals = {accrual.copy_id: accrual for accrual in _fee_accruals(pairs=pairs, now=now)}
    results = {}
    for copy in copies:
        accrual = accruals.get(copy.pk)
        results[copy.pk] = CopyResults(
            currency=settings.BILLING_CURRENCY.upper(),
            quote_currency=copy.strategy.quote_currency,
            gross_pnl_quote=copy.realized_pnl,
            gross_pnl=gross.get(copy.pk) or ZERO,
            fees_billed=billed.get(copy.pk) or ZERO,
            accrued_performance_fee=ZERO if accrual is None else accrual.performance_fee,
            accrued_subscription_fee=ZERO if accrual is None else accrual.subscription_fee,
        )
    return results


COPIERS_KEPT_DAYS = 30


@dataclass(frozen=True)
class CopiersKept:
    """What a leader's copiers kept over the last `days`: the median of their copies' net returns."""

    days: int
    copiers: int
    # A fraction (0.012 is +1.2 %); None when no copy counts.
    median_net_return: Decimal | None


def _subscription_over(*, monthly_fee: Decimal, copy: Copy, start: datetime, end: datetime) -> Decimal:
    """The subscription for the days in [start, end) the copy was live, each month's days at that month's price per day."""
    total, period = ZERO, period_start(start.date())
    while period <= end.date():
        live = live_dates(started_at=copy.started_at, ended_at=copy.ended_at or end, period=period)
        in_window = [day for day in live if start.date() <= day <= end.date()]
        total += prorated_subscription(monthly_fee=monthly_fee, live_days=len(in_window), days_in_period=days_in(period))
        period = next_period(period)
    return total


def strategy_copiers_kept(*, strategy_id: int, now: datetime, days: int = COPIERS_KEPT_DAYS) -> CopiersKept:
    """The median net return of the strategy's copies live in the last `days`. A copy's net return:
    its realised P&L over the window (each fill converted as billing converts it), less the
    performance fees on it (billed, or due this month as if it ended now) and the subscription
    for the days copied in the window, over its capital. Copies whose quote has no peg to the
    billing currency are left out (their capital cannot be compared)."""
    start = now - timedelta(days=days)
    copies = list(
        Copy.objects.filter(strategy_id=strategy_id, started_at__lt=now)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .select_related("strategy")
    )
    returns = list(copies_net_returns(copies=copies, start=start, now=now).values())
    if not returns:
        return CopiersKept(days=days, copiers=0, median_net_return=None)
    return CopiersKept(days=days, copiers=len(returns), median_net_return=statistics.median(returns))


def copies_net_returns(*, copies: list[Copy], start: datetime, now: datetime) -> dict[int, Decimal]:
    """Each copy's net return over [start, now) by copy id, a fraction (see
    `strategy_copiers_kept`); copies without capital or whose quote has no peg are absent."""
    copies = [copy for copy in copies if copy.copy_capital > ZERO and pegged_rate(copy.strategy.quote_currency) is not None]
    if not copies:
        return {}
    in_window = {
        row["copy_id"]: row
        for row in CopiedTrade.objects.filter(copy__in=copies, finished_at__gte=start, finished_at__lt=now)
        .values("copy_id")
        .annotate(pnl=Sum("pnl_billing"), fees=Sum("fee_assessment_link__fee_allocated"))
    }
    accrued = {
        accrual.copy_id: accrual.performance_fee
        for accrual in _fee_accruals(pairs={(copy.follower_id, copy.strategy_id) for copy in copies}, now=now)
    }
    terms = copy_fee_terms_of(copies=copies, period=period_start(now.date()))
    returns = {}
    for copy in copies:
        row = in_window.get(copy.pk, {})
        fees = (row.get("fees") or ZERO) + accrued.get(copy.pk, ZERO)
        fees += _subscription_over(monthly_fee=terms[copy.pk].subscription_fee_monthly, copy=copy, start=start, end=now)
        capital = copy.copy_capital * pegged_rate(copy.strategy.quote_currency)
        returns[copy.pk] = ((row.get("pnl") or ZERO) - fees) / capital
    return returns
