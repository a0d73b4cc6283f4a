"""The fee arithmetic, pure: periods, the high-water mark, proration, allocation, splits.

Amounts are quantized to cents only where a person is charged or paid (a fee, a split);
P&L stays at storage precision.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from core.errors import ApplicationError
from core.money import CENTS, HUNDRED, ZERO, quantize_money, split, to_decimal

_PERIOD = re.compile(r"(\d{4})-(\d{2})")


# --- periods ---------------------------------------------------------------------------


def period_start(value: date) -> date:
    return value.replace(day=1)


def period_bounds(period: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month, UTC."""
    start = datetime(period.year, period.month, 1, tzinfo=UTC)
    return start, datetime.combine(next_period(period), datetime.min.time(), tzinfo=UTC)


def next_period(period: date) -> date:
    return (period.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_period(period: date) -> date:
    return (period.replace(day=1) - timedelta(days=1)).replace(day=1)


def days_in(period: date) -> int:
    return calendar.monthrange(period.year, period.month)[1]


def period_label(period: date) -> str:
    return f"{period:%Y-%m}"


def period_parse(value: str, *, now: datetime) -> date:
    """A completed calendar month from "YYYY-MM"; anything else is a 400 with a clear message."""
    match = _PERIOD.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ApplicationError("Unknown period: expected a month as YYYY-MM, e.g. 2026-10.", {"period": value})
    period = date(int(match.group(1)), int(match.group(2)), 1)
    if period >= period_start(now.date()):
        raise ApplicationError("That period has not ended yet: only a past calendar month (UTC) can be billed.", {"period": value})
    return period


# --- high-water mark -------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceFee:
    cumulative_pnl: Decimal
    hwm_after: Decimal
    fee: Decimal


def performance_fee(*, rate_percent: Decimal, cumulative_pnl: Decimal, hwm_before: Decimal) -> PerformanceFee:
    """rate × max(0, cumulative − HWM); the mark then rises to the cumulative P&L if it is higher.

    A follower only ever pays on profit above the best they have already paid on.
    """
    above_mark = max(ZERO, cumulative_pnl - hwm_before)
    return PerformanceFee(
        cumulative_pnl=cumulative_pnl,
        hwm_after=max(hwm_before, cumulative_pnl),
        fee=performance_fee_on(above_mark=above_mark, rate_percent=rate_percent),
    )


def performance_fee_on(*, above_mark: Decimal, rate_percent: Decimal) -> Decimal:
    """rate × profit above the mark, in cents."""
    return quantize_money(above_mark * to_decimal(rate_percent) / HUNDRED)


def split_above_mark(above_mark: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`above_mark` over `weights` (≥ 0, a positive sum) in proportion, at P&L precision,
    summing exactly to it: the largest weight takes what rounding left (all of it when
    there is one weight)."""
    weight_sum = sum(weights, ZERO)
    if above_mark == ZERO:
        return [ZERO for _ in weights]
    if weight_sum <= ZERO or any(weight < ZERO for weight in weights):
        raise ValueError("A profit above the mark needs nonnegative weights with a positive sum")
    largest = max(range(len(weights)), key=lambda index: (weights[index], -index))
    shares = [ZERO if index == largest else above_mark * weight / weight_sum for index, weight in enumerate(weights)]
    shares[largest] = above_mark - sum(shares, ZERO)
    return shares


# --- subscription ----------------------------------------------------------------------


def live_dates(*, started_at: datetime, ended_at: datetime | None, period: date) -> set[date]:
    """UTC calendar days of the period on which the copy was live for any part of the day."""
    start, end = period_bounds(period)
    live_from = max(started_at, start)
    live_until = min(ended_at, end) if ended_at is not None else end
    if live_until <= live_from:
        return set()
    last_day = (live_until - timedelta(microseconds=1)).date()
    return {live_from.date() + timedelta(days=offset) for offset in range((last_day - live_from.date()).days + 1)}


def live_days(*, started_at: datetime, ended_at: datetime | None, period: date) -> int:
    return len(live_dates(started_at=started_at, ended_at=ended_at, period=period))


def live_days_each(*, spans: list[tuple[datetime, datetime | None]], period: date) -> list[int]:
    """Days of the period each copy is billed for, copies in order of their start: a day two
    copies share (stopped in the morning, started again in the afternoon) is one day, the
    later copy's (the terms the follower chose last that day)."""
    owner: dict[date, int] = {}
    for index, (started_at, ended_at) in enumerate(spans):
        for day in live_dates(started_at=started_at, ended_at=ended_at, period=period):
            owner[day] = index
    return [sum(1 for index in owner.values() if index == copy_index) for copy_index in range(len(spans))]


def prorated_subscription(*, monthly_fee: Decimal, live_days: int, days_in_period: int) -> Decimal:
    return quantize_money(to_decimal(monthly_fee) * live_days / days_in_period)


# --- allocation and splits -------------------------------------------------------------


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`total` (whole cents) over `weights` (≥ 0) in proportion, in cents, summing exactly to `total`.

    Largest remainder: every share is first rounded down, then the cents left over go to
    the largest remainders (ties to the earliest), so no share is ever off by more than a cent.
    """
    total = quantize_money(total)
    weight_sum = sum(weights, ZERO)
    if total == ZERO:
        return [ZERO for _ in weights]
    if weight_sum <= ZERO or any(weight < ZERO for weight in weights):
        raise ValueError("A nonzero amount needs nonnegative weights with a positive sum")
    exact = [total * weight / weight_sum for weight in weights]
    shares = [share.quantize(CENTS, rounding=ROUND_DOWN) for share in exact]
    left_over = int((total - sum(shares, ZERO)) / CENTS)
    by_remainder = sorted(range(len(weights)), key=lambda index: (-(exact[index] - shares[index]), index))
    for index in by_remainder[:left_over]:
        shares[index] += CENTS
    return shares


def split_fee(amount: Decimal, *, payee_share: Decimal) -> tuple[Decimal, Decimal]:
    """(payee share, platform share): the payee share is computed, the platform keeps the rest."""
    return split(amount, payee_share)
