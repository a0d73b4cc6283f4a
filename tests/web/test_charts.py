"""The pages' SVG charts and the drawdown curve they draw."""

import re
from datetime import date, timedelta
from decimal import Decimal

from marketplace.metrics import drawdown_series
from web.charts import bar_chart_svg, sparkline_svg, time_series_svg


def _days(*values, start=date(2026, 3, 1)):
    return [(start + timedelta(days=offset), Decimal(str(value))) for offset, value in enumerate(values)]


def _tick_labels(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end">([^<]+)</text>', svg)


def test_the_drawdown_curve_is_each_days_distance_below_the_peak_so_far():
    series = drawdown_series(_days(100, 120, 90, 150, 135))

    assert [value for _, value in series] == [0, 0, 25, 0, 10]


def test_value_ticks_are_round_and_say_enough_decimals_to_differ():
    svg = str(
        time_series_svg(
            _days(0, -0.1, -0.38, 0), name="Drawdown", y_title="%", y_format=lambda v, d: f"{v:.{d}f}", css_class="c", ceiling=0.0
        )
    )

    labels = _tick_labels(svg)[:5]
    assert labels == ["-0.4", "-0.3", "-0.2", "-0.1", "0.0"]
    assert len(set(labels)) == len(labels)


def test_dates_within_one_year_put_the_year_in_the_axis_title():
    svg = str(time_series_svg(_days(*range(10, 70)), name="Equity", y_title="USDT", y_format=lambda v, d: f"{v:.{d}f}", css_class="c"))

    assert "Date (2026, UTC)" in svg
    assert ">1 Mar<" in svg and ">29 Apr<" in svg


def test_labels_from_the_database_are_escaped_in_the_markup():
    svg = str(sparkline_svg(_days(1, 2), label='<script>alert("x")</script>'))

    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_too_short_a_series_draws_no_chart_but_says_why():
    assert "Not enough history" in str(time_series_svg(_days(1), name="E", y_title="", y_format=str, css_class="c"))
    assert "no chart yet" in str(sparkline_svg([], label="x"))


def _label(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def test_a_bar_chart_draws_one_bar_per_month_from_zero_even_for_a_single_month():
    one = str(bar_chart_svg([("Oct 2026", Decimal("55.11"))], name="Share", y_title="USD", y_format=_label, css_class="c"))
    three = str(
        bar_chart_svg(
            [("Aug 2026", Decimal("10")), ("Sep 2026", Decimal("0")), ("Oct 2026", Decimal("40"))],
            name="Share",
            y_title="USD",
            y_format=_label,
            css_class="c",
        )
    )

    assert one.count('<rect class="bar"') == 1 and "Oct 2026: 55.11" in one
    heights = [float(h) for h in re.findall(r'<rect class="bar" x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', three)]
    assert heights[1] == 0 and heights[2] == 4 * heights[0]
    assert _tick_labels(three)[0] == "0"


def test_a_bar_chart_without_months_says_so():
    assert "Nothing yet" in bar_chart_svg([], name="Share", y_title="USD", y_format=_label, css_class="c", empty_text="Nothing yet")


def test_dates_are_spaced_by_the_time_between_them():
    # A 6-day gap, then a 13-day gap.
    points = [(date(2026, 3, 1), Decimal("0")), (date(2026, 3, 7), Decimal("5")), (date(2026, 3, 20), Decimal("-2"))]

    svg = str(time_series_svg(points, name="P&L", y_title="USDT", y_format=_label, css_class="c"))

    xs = [float(pair.split(",")[0]) for pair in re.search(r'<polyline class="line" points="([^"]+)"', svg).group(1).split()]
    # 414 px of plot over 19 days, coordinates written to 0.1 px.
    assert abs((xs[1] - xs[0]) - 414 * 6 / 19) <= 0.1 and abs((xs[2] - xs[1]) - 414 * 13 / 19) <= 0.1
    assert ">1 Mar<" in svg and ">20 Mar<" in svg
