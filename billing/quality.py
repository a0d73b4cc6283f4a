"""Copy quality with what copiers kept (issue 27): copytrade/quality.py's delay, price gap and
fill rate, plus the divergence, which needs what copiers pay (billing's, hence here).

Divergence, per copy and window (30 days, all time): the copy's net return over the window
since it started (`billing.selectors.copies_net_returns`: realised P&L in the billing
currency less the fees on it, over its capital) minus the leader's return over the same days
(the leader's daily equity as the nightly metrics run recorded it, marketplace
StrategyMetrics "all"). A leader's divergence is the median over its copies of that window.
Negative: copiers kept less than the leader made. Both figures are fractions (0.012 = 1.2 %).
"""

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from billing.selectors import copies_net_returns
from copytrade.models import Copy
from copytrade.quality import QUALITY_WINDOW_DAYS, WINDOWS, CopyQuality, copy_quality_of_copies, copy_quality_of_strategy
from marketplace.models import MetricsWindow, StrategyMetrics


@dataclass(frozen=True)
class Divergence:
    window: str
    copies: int  # copies compared (with capital, a pegged quote and leader equity for their days)
    copiers_net_return: Decimal | None  # the copy's, or the median of a leader's copies
    leader_return: Decimal | None  # over the same days (a leader's: the median over its copies' days)
    divergence: Decimal | None  # copiers_net_return - leader_return (a leader's: the median of each copy's)
    leader_as_of: date | None  # the day the leader's equity was last recorded


@dataclass(frozen=True)
class CopyQualityReport:
    quality: CopyQuality
    divergence: dict[str, Divergence]


def _window_start(window: str, now: datetime) -> datetime | None:
    return now - timedelta(days=QUALITY_WINDOW_DAYS) if window == "30d" else None


def _leader_series(strategy_ids: set[int]) -> dict[int, list[tuple[date, Decimal]]]:
    """Each strategy's recorded daily equity (the nightly metrics' whole record), one query."""
    rows = StrategyMetrics.objects.filter(strategy_id__in=strategy_ids, window=MetricsWindow.ALL).values_list(
        "strategy_id", "equity_series"
    )
    return {strategy_id: [(date.fromisoformat(day), Decimal(str(equity))) for day, equity in series or []] for strategy_id, series in rows}


def _leader_return_since(series: list[tuple[date, Decimal]], start: date) -> Decimal | None:
    """The leader's return from the end of the day before `start` (or its first recorded day) to
    its last recorded day; None when nothing is recorded since `start` (no figure, not 0 %)."""
    if not series or series[-1][0] < start:
        return None
    before = [equity for day, equity in series if day < start]
    base = before[-1] if before else series[0][1]
    return None if base <= 0 else series[-1][1] / base - 1


def _compared(copies: list[Copy], *, series: dict, now: datetime) -> dict[str, dict[int, tuple[Decimal, Decimal]]]:
    """Per window, (net return, the leader's return over the same days) by copy id, for the
    copies that can be compared (a fixed number of queries whatever the number of copies);
    `series`: `_leader_series` of their strategies."""
    found = {}
    for window in WINDOWS:
        window_start = _window_start(window, now)
        in_window = [copy for copy in copies if window_start is None or copy.ended_at is None or copy.ended_at > window_start]
        found[window] = {}
        if not in_window:
            continue
        start = window_start or min(copy.started_at for copy in in_window)
        net = copies_net_returns(copies=in_window, start=start, now=now)
        for copy in in_window:
            leader = _leader_return_since(series.get(copy.strategy_id, []), max(copy.started_at, start).date())
            if copy.pk in net and leader is not None:
                found[window][copy.pk] = (net[copy.pk], leader)
    return found


def _as_of(series: list[tuple[date, Decimal]]) -> date | None:
    return series[-1][0] if series else None


def copy_quality_reports_of_copies(*, copies: list[Copy], now: datetime) -> dict[int, CopyQualityReport]:
    """Each copy's quality and divergence, 30 days and all time, by copy id (a fixed number of
    queries whatever the number of copies: a page of My Copies)."""
    quality = copy_quality_of_copies(copy_ids=[copy.pk for copy in copies], now=now)
    series = _leader_series({copy.strategy_id for copy in copies})
    compared = _compared(copies, series=series, now=now)
    reports = {}
    for copy in copies:
        divergence = {}
        for window in WINDOWS:
            as_of = _as_of(series.get(copy.strategy_id, []))
            if copy.pk in compared[window]:
                own, leader = compared[window][copy.pk]
                divergence[window] = Divergence(window, 1, own, leader, own - leader, as_of)
            else:
                divergence[window] = Divergence(window, 0, None, None, None, as_of)
        reports[copy.pk] = CopyQualityReport(quality=quality[copy.pk], divergence=divergence)
    return reports


def copy_quality_report_of_strategy(*, strategy_id: int, now: datetime) -> CopyQualityReport:
    """A leader's quality over all its copiers (stopped copies included) and its divergence:
    the medians over its copies."""
    copies = list(Copy.objects.filter(strategy_id=strategy_id, started_at__lt=now).select_related("strategy"))
    series = _leader_series({strategy_id})
    compared = _compared(copies, series=series, now=now)
    as_of = _as_of(series.get(strategy_id, []))
    divergence = {}
    for window in WINDOWS:
        pairs = list(compared[window].values())
        if not pairs:
            divergence[window] = Divergence(window, 0, None, None, None, as_of)
            continue
        divergence[window] = Divergence(
            window=window,
            copies=len(pairs),
            copiers_net_return=statistics.median(own for own, _ in pairs),
            leader_return=statistics.median(leader for _, leader in pairs),
            divergence=statistics.median(own - leader for own, leader in pairs),
            leader_as_of=as_of,
        )
    return CopyQualityReport(quality=copy_quality_of_strategy(strategy_id=strategy_id, now=now), divergence=divergence)
