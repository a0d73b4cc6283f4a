"""USDⓈ-M perpetuals: the leverage a copy opens at and the size of its entries. Pure functions.

- Leverage policy (per copy): follow the leader's leverage; a fixed N; or the leader's,
  capped at N. A leader trade that says no leverage counts as 1× (as spot).
- Entries are sized on margin: the copy's sizing mode gives the margin (proportional: the
  leader's margin, its notional / its leverage, × copy capital / leader equity; multiplier:
  the leader's margin × the multiplier; fixed: the fixed amount is the margin), and the
  order's notional is that margin × the copy's leverage. A copy following the leader's
  leverage therefore opens the leader's notional scaled by capital, as on spot.
- The margin an entry needs is its notional / leverage; the entry is refused with reason
  `insufficient_margin` when the account's free futures margin does not cover it. Exits
  are never sized or checked here: they mirror the leader's fraction, reduce-only.
"""

from decimal import Decimal

from copytrade.models import Copy

LeveragePolicy = Copy.LeveragePolicy


def copy_leverage(*, policy: str, leverage: int | None, leader_leverage: int | None) -> int:
    """The leverage this copy opens a position at."""
    leader = leader_leverage or 1
    if policy == LeveragePolicy.FIXED:
        return int(leverage)
    if policy == LeveragePolicy.CAP:
        return min(leader, int(leverage))
    return leader


def entry_notional_on_margin(*, sizing_mode: str, notional: Decimal, leader_leverage: int | None, leverage: int) -> Decimal:
    """The order notional from the sizing mode's `notional` (what it gives on spot)."""
    margin = notional if sizing_mode == Copy.SizingMode.FIXED else notional / (leader_leverage or 1)
    return margin * leverage


def margin_needed(*, notional: Decimal, leverage: int) -> Decimal:
    return notional / leverage
