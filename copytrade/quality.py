"""Copy quality (issue 27): how faithfully copies follow their leader, from what the
exchanges said.

Per copied trade, recorded at its fill (copytrade/services/execution.py):
- the delay: from the leader trade's `traded_at` (the leader's fill at the exchange, or the
  market's time when a signal-only leader's signal arrived) to the exchange's
  acknowledgement of the follower's order: the exchange's own timestamp in its answer
  (ccxt's order `timestamp`, Binance's `transactTime`), or the platform's clock when the
  answer arrived if the exchange gave none. The two clocks are the exchange's and the
  platform's (NTP): a delay of a few milliseconds may read slightly off, never minutes;
- the price gap: the follower's average fill against the leader trade's price, signed, in
  basis points, positive when worse for the follower (a buy filled higher, a sell lower).

Per copy and per leader, over the last 30 days and all time (by when a copied trade ended):
delay p50/p95 and mean and median gap over the fills (percentiles interpolate between rows,
PostgreSQL's percentile_cont), and the fill rate: filled / (filled + skipped + failed), with
how many were skipped and failed for each reason. Only copies of leader trades count:
closes the platform makes itself (stop-loss, stop with close) have no leader trade.

Capacity: the fair shuffle (copytrade/services/fanout.py) gives each copy a random place in
each fan-out, recorded on the row. When later places get worse prices, the leader's trades
move the market faster than the fan-out reaches its copiers. Measured over the last 30 days
on each fan-out's gaps less that fan-out's mean gap (the market's move of that trade is the
same for all its copies): the correlation of that with the place, and the slope. A note is
shown when at least CAPACITY_MIN_FILLS fills of CAPACITY_MIN_TRADES fan-outs with
CAPACITY_MIN_FANOUT copies or more give a correlation of CAPACITY_MIN_CORRELATION or more
and a slope above zero.

"Copies well" (the leaderboard's sort and filter, `with_copy_quality`): over the last 30
days at least COPIES_WELL_MIN_ENDED copies of the leader's trades ended, at least
COPIES_WELL_MIN_FILL_PERCENT % of them filled, and the median price gap is at most
COPIES_WELL_MAX_GAP_BPS basis points. Sorted by it, the leaders with enough copies ended and
filled come first, the smallest median gap first; the others after them.

Copiers' net return against the leader's needs what copiers pay: billing/quality.py adds it.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    BooleanField,
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from copytrade import rows
from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.reasons import reason_label

QUALITY_WINDOW_DAYS = 30
WINDOWS = ("30d", "all")
BASIS_POINTS = Decimal(10000)
GAP_STEP = Decimal("0.01")

CAPACITY_MIN_FILLS = 100
CAPACITY_MIN_TRADES = 5
CAPACITY_MIN_FANOUT = 10
CAPACITY_MIN_CORRELATION = 0.3

COPIES_WELL_MIN_ENDED = 20
COPIES_WELL_MIN_FILL_PERCENT = 95
COPIES_WELL_MAX_GAP_BPS = 10


def price_gap_bps(*, side: str, leader_price: Decimal, fill_price: Decimal) -> Decimal:
    """The follower's fill against the leader's price in basis points (0.01), positive when worse for the follower."""
    worse_by = fill_price - leader_price if side == LeaderTrade.Side.BUY else leader_price - fill_price
    return (worse_by / leader_price * BASIS_POINTS).quantize(GAP_STEP, rounding=ROUND_HALF_UP)


def copy_quality_of_fill(*, leader_trade: LeaderTrade, side: str, average_price: Decimal, acknowledged_at: datetime) -> tuple[int, Decimal]:
    """(delay in milliseconds, price gap in basis points) of a copy of `leader_trade` filled
    at `average_price`, its order acknowledged by the exchange at `acknowledged_at`."""
    delay_ms = round((acknowledged_at - leader_trade.traded_at) / timedelta(milliseconds=1))
    return delay_ms, price_gap_bps(side=side, leader_price=leader_trade.price, fill_price=average_price)


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont: the value at `fraction` of the ordered rows, interpolated."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, *, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # a CopiedTrade.Reason code
    label: str  # its sentence
    count: int


@dataclass(frozen=True)
class QualityFigures:
    """One window's copy quality of a copy or of a leader's copies."""

    window: str  # "30d" | "all"
    filled: int = 0  # filled or partially filled
    skipped: int = 0
    failed: int = 0
    delay_p50_ms: int | None = None
    delay_p95_ms: int | None = None
    gap_mean_bps: Decimal | None = None
    gap_median_bps: Decimal | None = None
    measured: int = 0  # fills with a delay and a gap
    skip_reasons: list[ReasonCount] = field(default_factory=list)
    fail_reasons: list[ReasonCount] = field(default_factory=list)

    @property
    def ended(self) -> int:
        return self.filled + self.skipped + self.failed

    @property
    def fill_rate(self) -> Decimal | None:
        """filled / (filled + skipped + failed), a fraction; None before any ended."""
        return None if not self.ended else Decimal(self.filled) / Decimal(self.ended)


@dataclass(frozen=True)
class CapacityNote:
    """How the price gap grew with a copy's place in the fan-out (last 30 days)."""

    fills: int
    fanouts: int
    correlation: float | None
    # Basis points more per 100 places later in the fan-out.
    slope_bps_per_100: Decimal | None
    shown: bool  # the note is said: enough fills and a clear enough rise

    @property
    def sentence(self) -> str:
        if not self.shown:
            return ""
        return (
            f"Copiers placed later in this leader's fan-outs got worse prices: about {self.slope_bps_per_100} basis points "
            f"more per 100 places ({self.fills} fills of {self.fanouts} trades, last {QUALITY_WINDOW_DAYS} days). "
            "More copiers may mean worse fills."
        )


@dataclass(frozen=True)
class CopyQuality:
    windows: dict[str, QualityFigures]
    capacity: CapacityNote | None = None  # leaders only


def _to_gap(value) -> Decimal | None:
    # percentile_cont answers a double: its shortest repr is the decimal it stands for.
    return None if value is None else Decimal(repr(value) if isinstance(value, float) else value).quantize(GAP_STEP, ROUND_HALF_UP)


def _to_ms(value) -> int | None:
    return None if value is None else int(Decimal(repr(value)).quantize(Decimal(1), ROUND_HALF_UP))


def _quality(rows_filter: Q, *, group: str, now: datetime) -> dict[int, dict[str, QualityFigures]]:
    """The figures of both windows over the mirrored copied trades `rows_filter` selects, by
    the value of their `group` column (two queries whatever the number of groups)."""
    trades = CopiedTrade.objects.filter(rows_filter, kind=CopiedTrade.Kind.MIRROR, status__in=CopiedTrade.TERMINAL)
    since = {"30d": Q(finished_at__gte=now - timedelta(days=QUALITY_WINDOW_DAYS)), "all": Q()}
    filled = Q(status__in=[CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED])
    measured = filled & Q(delay_ms__isnull=False, price_gap_bps__isnull=False)
    aggregates = {}
    for window, in_window in since.items():
        aggregates |= {
            f"{window}_filled": Count("id", filter=in_window & filled),
            f"{window}_skipped": Count("id", filter=in_window & Q(status=CopiedTrade.Status.SKIPPED)),
            f"{window}_failed": Count("id", filter=in_window & Q(status=CopiedTrade.Status.FAILED)),
            f"{window}_measured": Count("id", filter=in_window & measured),
            f"{window}_delay_p50": Percentile("delay_ms", fraction=0.5, filter=in_window & measured),
            f"{window}_delay_p95": Percentile("delay_ms", fraction=0.95, filter=in_window & measured),
            f"{window}_gap_median": Percentile("price_gap_bps", fraction=0.5, filter=in_window & measured),
            f"{window}_gap_mean": Avg("price_gap_bps", filter=in_window & measured),
        }
    totals = {row[group]: row for row in trades.order_by().values(group).annotate(**aggregates)}
    reasons: dict = {}
    by_reason = (
        trades.filter(status__in=[CopiedTrade.Status.SKIPPED, CopiedTrade.Status.FAILED])
        .values(group, "status", "reason")
        .annotate(all=Count("id"), recent=Count("id", filter=since["30d"]))
        .order_by(group, "status", "reason")
    )
    for row in by_reason:
        label = reason_label(CopiedTrade.Reason, row["reason"])
        for window, count in (("all", row["all"]), ("30d", row["recent"])):
            if count:
                found = reasons.setdefault((row[group], window, row["status"]), [])
                found.append(ReasonCount(reason=row["reason"], label=label, count=count))
    figures = {}
    for key, row in totals.items():
        figures[key] = {
            window: QualityFigures(
                window=window,
                filled=row[f"{window}_filled"],
                skipped=row[f"{window}_skipped"],
                failed=row[f"{window}_failed"],
                measured=row[f"{window}_measured"],
                delay_p50_ms=_to_ms(row[f"{window}_delay_p50"]),
                delay_p95_ms=_to_ms(row[f"{window}_delay_p95"]),
                gap_mean_bps=_to_gap(row[f"{window}_gap_mean"]),
                gap_median_bps=_to_gap(row[f"{window}_gap_median"]),
                skip_reasons=sorted(reasons.get((key, window, CopiedTrade.Status.SKIPPED), []), key=lambda reason: -reason.count),
                fail_reasons=sorted(reasons.get((key, window, CopiedTrade.Status.FAILED), []), key=lambda reason: -reason.count),
            )
            for window in WINDOWS
        }
    return figures


def _nothing_yet() -> dict[str, QualityFigures]:
    return {window: QualityFigures(window=window) for window in WINDOWS}


def copy_quality_of_copies(*, copy_ids: list[int], now: datetime) -> dict[int, CopyQuality]:
    """Each copy's quality over 30 days and all time, by copy id (two queries for any number)."""
    found = _quality(Q(copy_id__in=copy_ids), group="copy_id", now=now)
    return {copy_id: CopyQuality(windows=found.get(copy_id) or _nothing_yet()) for copy_id in copy_ids}


def copy_quality_of_copy(*, copy_id: int, now: datetime) -> CopyQuality:
    """One copy's quality over 30 days and all time."""
    return copy_quality_of_copies(copy_ids=[copy_id], now=now)[copy_id]


def copy_quality_of_strategy(*, strategy_id: int, now: datetime) -> CopyQuality:
    """A leader's quality over all its copiers, 30 days and all time, with its capacity note."""
    found = _quality(Q(strategy_id=strategy_id), group="strategy_id", now=now).get(strategy_id) or _nothing_yet()
    return CopyQuality(windows=found, capacity=capacity_note(strategy_id=strategy_id, now=now))


@functools.cache
def _capacity_sql() -> str:
    ct = CopiedTrade
    c = functools.partial(rows.column, ct)
    return f"""
        SELECT count(*), count(DISTINCT leader_trade_id), corr(gap_less_mean, place), regr_slope(gap_less_mean, place)
        FROM (
            SELECT {c("leader_trade")} AS leader_trade_id, {c("fanout_place")}::float8 AS place,
                   ({c("price_gap_bps")} - avg({c("price_gap_bps")}) OVER (PARTITION BY {c("leader_trade")}))::float8 AS gap_less_mean,
                   count(*) OVER (PARTITION BY {c("leader_trade")}) AS fanout_fills
            FROM {rows.table(ct)}
            WHERE {c("strategy")} = %s AND {c("kind")} = %s AND {c("finished_at")} >= %s
              AND {c("price_gap_bps")} IS NOT NULL AND {c("fanout_place")} IS NOT NULL
        ) fills
        WHERE fanout_fills >= %s
    """


def capacity_note(*, strategy_id: int, now: datetime) -> CapacityNote:
    """Whether the leader's copiers' price gap grows with their place in the fan-out (see the module doc)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _capacity_sql(),
            [strategy_id, CopiedTrade.Kind.MIRROR, now - timedelta(days=QUALITY_WINDOW_DAYS), CAPACITY_MIN_FANOUT],
        )
        fills, fanouts, correlation, slope = cursor.fetchone()
    slope_per_100 = None if slope is None else (Decimal(repr(slope)) * 100).quantize(GAP_STEP, ROUND_HALF_UP)
    shown = (
        fills >= CAPACITY_MIN_FILLS
        and fanouts >= CAPACITY_MIN_TRADES
        and correlation is not None
        and correlation >= CAPACITY_MIN_CORRELATION
        and slope is not None
        and slope > 0
    )
    return CapacityNote(fills=fills, fanouts=fanouts, correlation=correlation, slope_bps_per_100=slope_per_100, shown=shown)


def with_copy_quality(queryset: QuerySet, *, key: str, outer: str, now: datetime) -> QuerySet:
    """`queryset` (strategies: key "strategy_id", outer "pk"; providers: "leader_user_id",
    "user_id") with its last 30 days of copy quality: `copy_ended_30d`, `copy_filled_30d`,
    `copy_gap_median_30d` (bps, null without fills), `copies_well` and `copy_quality_rank`
    (the median gap when enough copies ended and filled, else null), as the module doc says."""
    recent = (
        CopiedTrade.objects.filter(
            **{key: OuterRef(outer)},
            kind=CopiedTrade.Kind.MIRROR,
            status__in=CopiedTrade.TERMINAL,
            finished_at__gte=now - timedelta(days=QUALITY_WINDOW_DAYS),
        )
        .order_by()
        .values(key)
    )
    filled = recent.filter(status__in=[CopiedTrade.Status.FILLED, CopiedTrade.Status.PARTIALLY_FILLED])
    annotated = queryset.annotate(
        copy_ended_30d=Coalesce(Subquery(recent.annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()), 0),
        copy_filled_30d=Coalesce(Subquery(filled.annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()), 0),
        copy_gap_median_30d=Subquery(
            filled.filter(price_gap_bps__isnull=False).annotate(median=Percentile("price_gap_bps", fraction=0.5)).values("median")[:1],
            output_field=FloatField(),
        ),
    )
    fills_enough = Q(copy_ended_30d__gte=COPIES_WELL_MIN_ENDED) & Q(
        copy_filled_hundredfold__gte=F("copy_ended_30d") * COPIES_WELL_MIN_FILL_PERCENT
    )
    return annotated.alias(copy_filled_hundredfold=F("copy_filled_30d") * 100).annotate(
        copies_well=Case(
            When(fills_enough & Q(copy_gap_median_30d__lte=COPIES_WELL_MAX_GAP_BPS), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
        copy_quality_rank=Case(When(fills_enough, then=F("copy_gap_median_30d")), default=None, output_field=FloatField()),
    )
