"""Server-rendered SVG charts for the pages: a sparkline per leaderboard row, and time
series with axis labels (equity, drawdown). No JavaScript and no inline style: colours
come from the stylesheet through class names, so the Content-Security-Policy holds.

Every coordinate is a number computed here and every label goes through format_html,
so nothing from the database reaches the markup unescaped.
"""

import math
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

Point = tuple[date, Decimal]

SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 120, 36, 3
# Sized so that two charts side by side at 1280 px draw their text at about its nominal
# size; on a phone the stylesheet enlarges the text and hides every other date label.
CHART_WIDTH, CHART_HEIGHT = 520, 280
LEFT, RIGHT, TOP, BOTTOM = 84, 22, 14, 50
Y_TICKS = 5
X_TICKS = 5


def _n(coordinate: float) -> str:
    return f"{coordinate:.1f}"


def points_from_series(series: Sequence) -> list[Point]:
    """The stored [["2026-01-01", "10000.00"], ...] of a metrics row as (day, Decimal) pairs."""
    return [(date.fromisoformat(day), Decimal(str(value))) for day, value in series or ()]


def sparkline_svg(points: Sequence[Point], *, label: str) -> SafeString:
    """A small line of the window's equity; `up` or `down` (its colour) by first against last."""
    if len(points) < 2:
        return format_html('<span class="spark-empty">{}</span>', "no chart yet")
    values = [value for _, value in points]
    low, high = min(values), max(values)
    span = (high - low) or Decimal(1)
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / (len(values) - 1)
    plot_height = SPARK_HEIGHT - 2 * SPARK_PAD
    line = " ".join(
        f"{SPARK_PAD + step * index:.1f},{SPARK_PAD + float((high - value) / span) * plot_height:.1f}" for index, value in enumerate(values)
    )
    direction = "up" if values[-1] >= values[0] else "down"
    return format_html(
        '<svg class="spark spark-{}" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}"><polyline points="{}"/></svg>',
        direction,
        SPARK_WIDTH,
        SPARK_HEIGHT,
        SPARK_WIDTH,
        SPARK_HEIGHT,
        label,
        line,
    )


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(ticks - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _y_ticks(low: float, high: float, *, ceiling: float | None) -> tuple[list[float], int]:
    """Round tick values covering [low, high] (up to `ceiling` exactly when given), and the
    decimals that tell them apart."""
    if ceiling is not None:
        high = ceiling
    if high == low:
        pad = abs(high) * 0.05 or 1.0
        low, high = low - pad, (high if ceiling is not None else high + pad)
    step = _nice_step(high - low, Y_TICKS)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 10) + 0.0)  # + 0.0: no "-0"
        value += step
    # Enough decimals to write the step exactly: 0.25 needs two, 2000 none.
    return ticks, max(0, -Decimal(repr(step)).normalize().as_tuple().exponent)


def _day(day: date, *, with_year: bool = True) -> str:
    return f"{day.day} {day:%b %Y}" if with_year else f"{day.day} {day:%b}"


def time_series_svg(
    points: Sequence[Point],
    *,
    name: str,
    y_title: str,
    y_format: Callable[[float, int], str],
    css_class: str,
    ceiling: float | None = None,
    area: bool = False,
    empty_text: str = "Not enough history for a chart yet.",
) -> SafeString:
    """A line chart of daily values with labelled axes: dates below, spaced by the time between
    them (a 13-day gap is twice as wide as a 6-day one), values to the left
    (`y_format(value, decimals)` writes them).

    `ceiling` fixes the top of the value axis (0 for a drawdown, drawn downward from 0);
    `area` fills between the line and the top.
    """
    if len(points) < 2:
        return format_html('<p class="chart-empty">{}</p>', empty_text)
    values = [float(value) for _, value in points]
    ticks, decimals = _y_ticks(min(values), max(values), ceiling=ceiling)
    low, high = ticks[0], ticks[-1]
    span = (high - low) or 1.0
    plot_width, plot_height = CHART_WIDTH - LEFT - RIGHT, CHART_HEIGHT - TOP - BOTTOM
    first_day, last_day = points[0][0], points[-1][0]
    total_days = (last_day - first_day).days or 1

    def x(day: date) -> float:
        return LEFT + (day - first_day).days / total_days * plot_width

    def y(value: float) -> float:
        return TOP + (high - value) / span * plot_height

    line = " ".join(f"{x(day):.1f},{y(value):.1f}" for (day, _), value in zip(points, values, strict=True))
    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
        [(LEFT, _n(y(tick)), LEFT + plot_width, _n(y(tick)), LEFT - 8, _n(y(tick) + 4), y_format(tick, decimals)) for tick in ticks],
    )
    # Date labels evenly spaced in time, the first and the last day included.
    x_days = sorted({first_day + timedelta(days=round(total_days * part / (X_TICKS - 1))) for part in range(X_TICKS)})
    one_year = first_day.year == last_day.year
    if not one_year:
        # Dates with their years are too long for five side by side: every other one.
        x_days = x_days[::2]
    x_labels = format_html_join(
        "",
        '<text class="tick{}" x="{}" y="{}" text-anchor="{}">{}</text>',
        [
            (
                " tick-optional" if position % 2 else "",
                _n(x(day)),
                TOP + plot_height + 22,
                "start" if day == first_day else "end" if day == last_day else "middle",
                _day(day, with_year=not one_year),
            )
            for position, day in enumerate(x_days)
        ],
    )
    x_title = f"Date ({first_day.year}, UTC)" if one_year else "Date (UTC)"
    fill = (
        format_html('<polygon class="area" points="{},{} {} {},{}"/>', _n(x(first_day)), _n(y(high)), line, _n(x(last_day)), _n(y(high)))
        if area
        else ""
    )
    summary = (
        f"{name} from {_day(points[0][0])} to {_day(points[-1][0])}: {y_format(values[0], decimals)} to {y_format(values[-1], decimals)}"
    )
    return format_html(
        '<svg class="chart {cls}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{summary}">'
        "<title>{summary}</title>{grid}"
        '<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
        '<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>'
        '{fill}<polyline class="line" points="{line}"/>{x_labels}'
        '<text class="axis-title" x="{xt}" y="{xty}" text-anchor="middle">{x_title}</text>'
        '<text class="axis-title axis-title-y" x="16" y="{yty}" text-anchor="middle" transform="rotate(-90 16 {yty})">{y_title}</text>'
        "</svg>",
        cls=css_class,
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
        summary=summary,
        grid=grid,
        left=LEFT,
        right=LEFT + plot_width,
        top=TOP,
        bottom=TOP + plot_height,
        fill=fill,
        line=line,
        x_labels=x_labels,
        xt=_n(LEFT + plot_width / 2),
        xty=CHART_HEIGHT - 6,
        x_title=x_title,
        yty=_n(TOP + plot_height / 2),
        y_title=y_title,
    )


def bar_chart_svg(
    bars: Sequence[tuple[str, Decimal]],
    *,
    name: str,
    y_title: str,
    y_format: Callable[[float, int], str],
    css_class: str,
    empty_text: str = "Nothing to chart yet.",
) -> SafeString:
    """One bar per labelled period (a month: "Oct 2026"), from 0 up, with the value axis to
    the left; a single period is a chart too. Values are not negative (earnings, fees)."""
    if not bars:
        return format_html('<p class="chart-empty">{}</p>', empty_text)
    values = [max(float(value), 0.0) for _, value in bars]
    ticks, decimals = _y_ticks(0.0, max(values) or 1.0, ceiling=None)
    high = ticks[-1] or 1.0
    plot_width, plot_height = CHART_WIDTH - LEFT - RIGHT, CHART_HEIGHT - TOP - BOTTOM
    slot = plot_width / len(bars)
    bar_width = min(slot * 0.6, 60.0)

    def y(value: float) -> float:
        return TOP + (high - value) / high * plot_height

    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
        [(LEFT, _n(y(tick)), LEFT + plot_width, _n(y(tick)), LEFT - 8, _n(y(tick) + 4), y_format(tick, decimals)) for tick in ticks],
    )
    # Every bar's label when they fit, else every other one; past four labels, every other
    # shown one is optional (a phone's stylesheet hides those, its text being larger).
    step = 1 if len(bars) <= 8 else 2

    def label_class(index: int) -> str:
        return " tick-optional" if len(bars) > 4 and (index // step) % 2 == 1 else ""

    shapes = format_html_join(
        "",
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
        '<text class="tick{}" x="{}" y="{}" text-anchor="middle">{}</text>',
        [
            (
                _n(LEFT + slot * index + (slot - bar_width) / 2),
                _n(y(value)),
                _n(bar_width),
                _n(TOP + plot_height - y(value)),
                label,
                y_format(value, 2),
                label_class(index),
                _n(LEFT + slot * index + slot / 2),
                TOP + plot_height + 22,
                label if index % step == 0 else "",
            )
            for index, (label, value) in enumerate(zip([label for label, _ in bars], values, strict=True))
        ],
    )
    summary = f"{name}: " + ", ".join(f"{label} {y_format(value, 2)}" for (label, _), value in zip(bars, values, strict=True))
    return format_html(
        '<svg class="chart {cls}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{summary}">'
        "<title>{summary}</title>{grid}"
        '<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
        '<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>{shapes}'
        '<text class="axis-title axis-title-y" x="16" y="{yty}" text-anchor="middle" transform="rotate(-90 16 {yty})">{y_title}</text>'
        "</svg>",
        cls=css_class,
        w=CHART_WIDTH,
        h=CHART_HEIGHT,
        summary=summary,
        grid=grid,
        left=LEFT,
        right=LEFT + plot_width,
        top=TOP,
        bottom=TOP + plot_height,
        shapes=shapes,
        yty=_n(TOP + plot_height / 2),
        y_title=y_title,
    )
