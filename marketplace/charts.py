"""Server-rendered SVG charts for admin: no JavaScript, nothing to build."""

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 220
PADDING = 30
# Room for the equity labels on the left ("1234567.89").
LEFT = 80


def equity_curve_svg(series: list, *, width: int = WIDTH, height: int = HEIGHT) -> SafeString:
    """A line chart of [[ISO day, equity], ...] as inline SVG; a note when there is nothing to draw.

    Every coordinate is a number computed here and the labels go through format_html, so
    nothing from the database reaches the markup unescaped.
    """
    if len(series) < 2:
        return format_html('<p class="equity-empty">{}</p>', "No equity curve yet: metrics have not been computed.")
    values = [Decimal(str(value)) for _, value in series]
    low, high = min(values), max(values)
    span = high - low or Decimal(1)
    plot_width, plot_height = width - LEFT - PADDING, height - 2 * PADDING
    step = Decimal(plot_width) / (len(values) - 1)
    points = " ".join(
        f"{LEFT + float(step * index):.1f},{PADDING + float((high - value) / span * plot_height):.1f}" for index, value in enumerate(values)
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="{}" fill="#555">{}</text>',
        [
            (LEFT, height - 10, "start", series[0][0]),
            (width - PADDING, height - 10, "end", series[-1][0]),
            (LEFT - 4, PADDING + 4, "end", f"{high:.2f}"),
            (LEFT - 4, height - PADDING + 4, "end", f"{low:.2f}"),
        ],
    )
    return format_html(
        '<svg class="equity-curve" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'role="img" aria-label="Equity curve">'
        '<rect x="{left}" y="{p}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ddd"/>'
        '<polyline fill="none" stroke="#2a6ebb" stroke-width="2" points="{points}"/>{labels}</svg>',
        w=width,
        h=height,
        p=PADDING,
        left=LEFT,
        pw=plot_width,
        ph=plot_height,
        points=points,
        labels=labels,
    )
