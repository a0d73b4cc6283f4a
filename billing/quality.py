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
from copytrade.models import CopyRelationship
from copytrade.quality import QUALITY_WINDOW_DAYS, WINDOWS, CopyQuality, copy_quality_of_copy, copy_quality_of_strategy
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


def _leader_series(strategy_id: int) -> list[tuple[date, Decimal]]:
    row = StrategyMetrics.objects.filter(strategy_id=strategy_id, window=MetricsWindow.ALL).values_list("equity_series", flat=True).first()
    return [(date.fromisoformat(day), Decimal(str(equity))) for day, equity in (row or [])]


def _leader_return_since(series: list[tuple[date, Decimal]], start: date) -> Decimal | None:
    """The leader's return from the end of the day before `start` (or its first recorded day) to its last recorded day."""
    if not series:
        return None
    before = [equity for day, equity in series if day < start]
    base = before[-1] if before else series[0][1]
    return None if base <= 0 else series[-1][1] / base - 1


def _divergences(copies: list[CopyRelationship], *, strategy_id: int, now: datetime) -> dict[str, Divergence]:
    series = _leader_series(strategy_id)
    as_of = series[-1][0] if series else None
    found = {}
    for window in WINDOWS:
        window_start = _window_start(window, now)
        in_window = [copy for copy in copies if window_start is None or copy.ended_at is None or copy.ended_at > window_start]
        if not in_window:
            found[window] = Divergence(window, 0, None, None, None, as_of)
            continue
        start = window_start or min(copy.started_at for copy in in_window)
        net = copies_net_returns(copies=in_window, start=start, now=now)
        compared = []
        for copy in in_window:
            leader = _leader_return_since(series, max(copy.started_at, start).date())
            if copy.pk in net and leader is not None:
                compared.append((net[copy.pk], leader))
        if not compared:
            found[window] = Divergence(window, 0, None, None, None, as_of)
            continue
        found[window] = Divergence(
            window=window,
            copies=len(compared),
            copiers_net_return=statistics.median(own for own, _ in compared),
            leader_return=statistics.median(leader for _, leader in compared),
            divergence=statistics.median(own - leader for own, leader in compared),
            leader_as_of=as_of,
        )
    return found


def copy_quality_report_of_copy(*, relationship: CopyRelationship, now: datetime) -> CopyQualityReport:
    """One copy's quality and divergence, 30 days and all time."""
    return CopyQualityReport(
        quality=copy_quality_of_copy(relationship_id=relationship.pk, now=now),
        divergence=_divergences([relationship], strategy_id=relationship.strategy_id, now=now),
    )


def copy_quality_report_of_strategy(*, strategy_id: int, now: datetime) -> CopyQualityReport:
    """A leader's quality over all its copiers (those live at any time, stopped ones included) and its divergence."""
    copies = list(CopyRelationship.objects.filter(strategy_id=strategy_id, started_at__lt=now).select_related("strategy"))
    return CopyQualityReport(
        quality=copy_quality_of_strategy(strategy_id=strategy_id, now=now),
        divergence=_divergences(copies, strategy_id=strategy_id, now=now),
    )
