"""Copy quality as the pages write it (the figures are billing/quality.py's, the same the API
gives as `copy_quality`): one row per period, each figure in words with what it covers."""

from decimal import Decimal

from billing.quality import CopyQualityReport
from copytrade.quality import QUALITY_WINDOW_DAYS
from web.templatetags.web import MINUS, NBSP, gain_class, percent_of_fraction, signed_percent

PERIOD_LABELS = {"30d": f"Last {QUALITY_WINDOW_DAYS} days", "all": "All time"}


def delay_text(milliseconds: int | None) -> str:
    """450 -> "450 ms", 2340 -> "2.3 s"; "—" when nothing was measured."""
    if milliseconds is None:
        return "—"
    if abs(milliseconds) < 1000:
        return f"{milliseconds}{NBSP}ms"
    return f"{milliseconds / 1000:,.1f}{NBSP}s"


def gap_text(bps: Decimal | None) -> str:
    """A signed price gap in basis points: "+2.35 bp" is worse for the follower."""
    if bps is None:
        return "—"
    sign = "+" if bps > 0 else MINUS if bps < 0 else ""
    return f"{sign}{abs(bps):,.2f}{NBSP}bp"


def gap_class(bps: Decimal | None) -> str:
    """Worse for the follower (positive) is the loss colour, always beside the sign."""
    if bps is None or bps == 0:
        return "flat"
    return "loss" if bps > 0 else "gain"


def _points(fraction) -> str:
    text = signed_percent(fraction)
    return text.replace(f"{NBSP}%", f"{NBSP}points")


def copy_quality_rows(report: CopyQualityReport, *, whose: str) -> list[dict]:
    """One row per period. `whose`: "your copy" or "copiers" (how the net return is named)."""
    rows = []
    for window, label in PERIOD_LABELS.items():
        figures, divergence = report.quality.windows[window], report.divergence[window]
        not_copied = [f"{reason.count} × {reason.label}" for reason in (*figures.skip_reasons, *figures.fail_reasons)]
        if divergence.divergence is None:
            kept = "—"
        else:
            kept = (
                f"{signed_percent(divergence.copiers_net_return)} after fees against the leader's "
                f"{signed_percent(divergence.leader_return)}: {_points(divergence.divergence)}"
            )
            if whose == "copiers":
                kept += f" (median of {divergence.copies} {'copy' if divergence.copies == 1 else 'copies'})"
            kept += f"; the leader's equity as of {divergence.leader_as_of:%-d %b %Y}"
        rows.append(
            {
                "label": label,
                "ended": figures.ended,
                "measured": figures.measured,
                "delay_p50": delay_text(figures.delay_p50_ms),
                "delay_p95": delay_text(figures.delay_p95_ms),
                "gap_median": gap_text(figures.gap_median_bps),
                "gap_median_class": gap_class(figures.gap_median_bps),
                "gap_mean": gap_text(figures.gap_mean_bps),
                "gap_mean_class": gap_class(figures.gap_mean_bps),
                "filled": (f"{percent_of_fraction(figures.fill_rate)} · {figures.filled} of {figures.ended}" if figures.ended else "—"),
                "not_copied": not_copied,
                "kept": kept,
                # the colour of the figure as written (to 0.1 point): never red for "0.0 points"
                "kept_class": gain_class(None if divergence.divergence is None else round(float(divergence.divergence) * 100, 1)),
            }
        )
    return rows
