"""Performance metrics of a leader's track record: pure functions, no models, no database.

The statistics follow quantstats (0.0.86) / empyrical conventions with a risk-free rate of
0 and 365 periods a year, because crypto markets trade every day of the year:

- a track record is a daily equity series, one point per UTC day, consecutive days;
- the daily simple return of day t is ``r_t = E_t / E_{t-1} - 1``, so n + 1 equity points
  give n returns; every statistic below is a function of those returns;
- ratios are floats: they are statistics, not money. Money (equity, P&L) stays
  ``Decimal`` and is converted to float only to compute a statistic.

Where quantstats answers NaN or ±inf for an undefined ratio (no variance, no losing
day, no drawdown, fewer than two returns), these functions answer ``None``: JSON has no
NaN or infinity, and "undefined" is what those cases are. The one deliberate infinity is
``profit_factor`` when there are profits and no losses; ``profit_factor_for_api`` says how
the API shows it.

Two more cases where a ratio says nothing, so it is ``None`` here where quantstats gives
a number:

- near-constant returns: when the sample standard deviation of the daily returns is below
  ``MIN_RELATIVE_VOLATILITY`` (1 %) of their mean absolute size, Sharpe, Sortino and
  Calmar are undefined. Such a record divides by rounding noise (a steady 0.1 % a day
  whose float noise is 1e-13 gives a Sharpe of 1e11); 1 % caps a defined Sharpe near
  1,900, far above anything a real record shows;
- total loss: equity at or below zero is a total loss, a return of -100 % on the day it
  happens (a short can lose more than the capital; the return cannot). No return is
  measured after it (there is nothing left to measure it on), and a window that holds a
  total loss has no ratios.

Per-trade statistics (win rate, profit factor) count closed trades: each reduction or
close of a position with its realised P&L, as built by ``equity_curve_from_trades``.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Protocol, TypeVar

from core.money import HUNDRED, ZERO

PERIODS_PER_YEAR = 365

# Window name -> number of UTC days it covers, ending on (and including) the as-of day;
# None for the whole record.
WINDOWS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "all": None}

# Ratios built on a sample standard deviation, or annualising a single day, say nothing
# below this many returns.
MIN_RETURNS_FOR_RATIOS = 2

# Below this standard deviation, relative to the mean absolute daily return, the returns
# are taken as constant: no Sharpe, Sortino or Calmar (see the module docstring).
MIN_RELATIVE_VOLATILITY = 0.01

TOTAL_LOSS = -1.0


@dataclass(frozen=True)
class Coverage:
    """What a window's figures rest on: daily returns counted, trades closed, first and last day."""

    days: int
    closed_trades: int
    first_day: date | None
    last_day: date | None


# (UTC day, equity at that day's close)
EquityPoint = tuple[date, Decimal]
# (UTC day the trade was closed, realised P&L net of fees)
TradePnl = tuple[date, Decimal]

DatedItem = TypeVar("DatedItem", bound=tuple)


def daily_returns(equity_points: Sequence[EquityPoint]) -> list[float]:
    """Daily simple returns of a daily equity series: ``r_t = E_t / E_{t-1} - 1``.

    ``equity_points`` are (UTC day, equity) pairs on consecutive days, oldest first; other
    days raise ``ValueError``. Equity at or below zero is a total loss: that day's return
    is -1.0 (never less) and the returns stop there, since a return needs a positive
    equity the day before. A series opening at or below zero has no return.
    """
    returns = []
    for (previous_day, previous_equity), (day, equity) in zip(equity_points, equity_points[1:]):
        if day - previous_day != timedelta(days=1):
            raise ValueError(f"equity points must be on consecutive days: {previous_day} is followed by {day}")
        if previous_equity <= 0:
            break
        returns.append(max(float(equity / previous_equity) - 1.0, TOTAL_LOSS))
    return returns


def ratios_defined(returns: Sequence[float]) -> bool:
    """Whether Sharpe, Sortino and Calmar mean anything for these returns: at least two,
    no total loss, and not near-constant (``MIN_RELATIVE_VOLATILITY``)."""
    if len(returns) < MIN_RETURNS_FOR_RATIOS or min(returns) <= TOTAL_LOSS:
        return False
    typical_size = _mean([abs(r) for r in returns])
    return _sample_std(returns) >= MIN_RELATIVE_VOLATILITY * typical_size


def total_return(returns: Sequence[float]) -> float | None:
    """Compounded total return: ``prod(1 + r_t) - 1`` (quantstats ``stats.comp``).

    None without any return.
    """
    if not returns:
        return None
    return math.prod(1.0 + r for r in returns) - 1.0


def cagr(returns: Sequence[float]) -> float | None:
    """Compound annual growth rate (quantstats ``stats.cagr(returns, periods=365)``).

    ``(1 + total_return) ** (1 / years) - 1`` with ``years = n / 365``, n the number of
    daily returns. None without any return; ``math.inf`` when the annualised growth
    overflows a float (an enormous gain over a few days), as numpy would give.
    """
    total = total_return(returns)
    if total is None:
        return None
    years = len(returns) / PERIODS_PER_YEAR
    try:
        return (1.0 + total) ** (1.0 / years) - 1.0
    except OverflowError:
        return math.inf


def volatility(returns: Sequence[float]) -> float | None:
    """Annualised volatility (quantstats ``stats.volatility(returns, periods=365)``).

    ``std(r, ddof=1) * sqrt(365)``, the sample standard deviation. None with fewer than
    two returns.
    """
    if len(returns) < MIN_RETURNS_FOR_RATIOS:
        return None
    return _sample_std(returns) * math.sqrt(PERIODS_PER_YEAR)


def sharpe(returns: Sequence[float]) -> float | None:
    """Annualised Sharpe ratio, risk-free rate 0.

    Matches quantstats ``stats.sharpe(returns, rf=0, periods=365, annualize=True)``:
    ``mean(r) / std(r, ddof=1) * sqrt(365)``.

    None with fewer than two returns or when the returns have no variance (quantstats
    gives NaN or ±inf there), and where ``ratios_defined`` says no.
    """
    if not ratios_defined(returns):
        return None
    std = _sample_std(returns)
    if std == 0:
        return None
    return _mean(returns) / std * math.sqrt(PERIODS_PER_YEAR)


def sortino(returns: Sequence[float]) -> float | None:
    """Annualised Sortino ratio, risk-free rate 0 (Red Rock Capital's definition).

    Matches quantstats ``stats.sortino(returns, rf=0, periods=365)``:
    ``mean(r) / downside * sqrt(365)`` with ``downside = sqrt(sum(r_t**2 for r_t < 0) / n)``,
    n counting every return, not only the negative ones.

    None with fewer than two returns or without a losing day (quantstats gives NaN for
    the latter and computes a ratio from a single return), and where ``ratios_defined``
    says no.
    """
    if not ratios_defined(returns):
        return None
    downside = math.sqrt(math.fsum(r * r for r in returns if r < 0) / len(returns))
    if downside == 0:
        return None
    return _mean(returns) / downside * math.sqrt(PERIODS_PER_YEAR)


def max_drawdown(returns: Sequence[float]) -> float | None:
    """Maximum drawdown as quantstats returns it: a fraction, 0 or negative.

    ``min_t(W_t / max_{s<=t} W_s) - 1`` over the wealth ``W_0 = 1``,
    ``W_t = prod_{s<=t}(1 + r_s)``. Starting from ``W_0`` (quantstats' phantom baseline)
    counts a loss on the very first day. -0.25 means the equity fell 25 % below its
    peak; ``drawdown_percent`` gives the positive percentage. None without any return.
    """
    if not returns:
        return None
    wealth = peak = 1.0
    deepest = 0.0
    for r in returns:
        wealth *= 1.0 + r
        peak = max(peak, wealth)
        deepest = min(deepest, wealth / peak - 1.0)
    return deepest


def drawdown_percent(max_drawdown_fraction: float | None) -> float | None:
    """The maximum drawdown as a positive percentage: -0.25 -> 25.0."""
    if max_drawdown_fraction is None:
        return None
    return -max_drawdown_fraction * 100.0


def return_percent(fraction: float | None) -> float | None:
    """A return as a percentage, the unit the API gives returns and drawdowns in: 0.084 -> 8.4."""
    if fraction is None:
        return None
    return round(fraction * 100.0, 10)


def drawdown_series(equity_points: Sequence[EquityPoint]) -> list[tuple[date, Decimal]]:
    """Each day's distance below the highest equity so far, a positive percentage (0 at a
    new peak, at most 100: a total loss): the curve whose deepest point is the window's
    maximum drawdown."""
    series = []
    peak = None
    for day, equity in equity_points:
        peak = equity if peak is None else max(peak, equity)
        series.append((day, min((peak - equity) / peak * 100, HUNDRED) if peak > 0 else ZERO))
    return series


def calmar(returns: Sequence[float]) -> float | None:
    """Calmar ratio (quantstats ``stats.calmar(returns, periods=365)``).

    ``cagr(r) / abs(max_drawdown(r))``. None with fewer than two returns or without any
    drawdown (quantstats gives ±inf or NaN there), and where ``ratios_defined`` says no.
    """
    if not ratios_defined(returns):
        return None
    drawdown = max_drawdown(returns)
    if drawdown == 0:
        return None
    return cagr(returns) / abs(drawdown)


def win_rate(trade_pnls: Sequence[Decimal]) -> float | None:
    """Share of closed trades that won: ``count(pnl > 0) / count(all closed trades)``.

    A trade is a win when its realised P&L net of fees is strictly positive; a zero-P&L
    trade counts in the denominator as not a win. None without any closed trade.
    """
    if not trade_pnls:
        return None
    return sum(1 for pnl in trade_pnls if pnl > 0) / len(trade_pnls)


def profit_factor(trade_pnls: Sequence[Decimal]) -> float | None:
    """Gross profit over gross loss of closed trades: ``sum(pnl > 0) / |sum(pnl < 0)|``.

    ``math.inf`` when there is profit and no losing trade; 0.0 when there are losses and
    no profit; None when there is neither (no trades, or only zero-P&L trades).
    """
    gross_profit = sum((pnl for pnl in trade_pnls if pnl > 0), ZERO)
    gross_loss = -sum((pnl for pnl in trade_pnls if pnl < 0), ZERO)
    if gross_loss == 0:
        return math.inf if gross_profit > 0 else None
    return float(gross_profit / gross_loss)


def profit_factor_for_api(value: float | None) -> dict[str, float | bool | None]:
    """How the API shows a profit factor: ``profit_factor`` and ``profit_factor_infinite``.

    JSON has no infinity, so an infinite profit factor (profits, no losing trade) is
    ``{"profit_factor": None, "profit_factor_infinite": True}``; a finite one is the float
    with ``False``; an undefined one (None) is ``None`` with ``False``.
    """
    if value is not None and math.isinf(value):
        return {"profit_factor": None, "profit_factor_infinite": True}
    return {"profit_factor": value, "profit_factor_infinite": False}


def windowed(series: Sequence[DatedItem], window: str, as_of: date, *, with_opening_point: bool = False) -> list[DatedItem]:
    """The items of a dated series that fall in a window ending on ``as_of``.

    ``series`` holds (UTC day, value) pairs: equity points or closed-trade P&Ls. Window
    "7d", "30d" or "90d" covers the N days ``as_of - (N - 1) .. as_of`` inclusive; "all"
    covers every day up to ``as_of``. Items dated after ``as_of`` are never included.

    ``with_opening_point`` also keeps the item of the day before the window: for an
    equity series, the close the window's first return is measured from, so an N-day
    window of a daily series yields N returns.
    """
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")
    days = WINDOWS[window]
    if days is None:
        return [item for item in series if item[0] <= as_of]
    first_day = as_of - timedelta(days=days - 1)
    if with_opening_point:
        first_day -= timedelta(days=1)
    return [item for item in series if first_day <= item[0] <= as_of]


@dataclass(frozen=True)
class MetricsResult:
    """The metrics of one window. See the function of each field for its definition."""

    window: str
    as_of: date
    # First and last day whose return is counted; None without any return.
    first_day: date | None
    last_day: date | None
    returns_count: int
    total_return: float | None
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    calmar: float | None
    closed_trades: int
    win_rate: float | None
    profit_factor: float | None

    @property
    def max_drawdown_percent(self) -> float | None:
        return drawdown_percent(self.max_drawdown)


def compute_all(equity_points: Sequence[EquityPoint], trade_pnls: Sequence[TradePnl], as_of: date) -> dict[str, MetricsResult]:
    """The metrics of every window in ``WINDOWS`` as of a UTC day.

    ``equity_points``: daily (UTC day, equity) pairs, consecutive days, oldest first.
    ``trade_pnls``: (UTC day closed, realised P&L) per closed trade. Each window counts
    the daily returns of its days and the trades closed on its days (see ``windowed``).
    """
    results = {}
    for window in WINDOWS:
        points = windowed(equity_points, window, as_of, with_opening_point=True)
        returns = daily_returns(points)
        pnls = [pnl for _, pnl in windowed(trade_pnls, window, as_of)]
        results[window] = MetricsResult(
            window=window,
            as_of=as_of,
            first_day=points[1][0] if returns else None,
            # A total loss ends the returns before the series ends.
            last_day=points[len(returns)][0] if returns else None,
            returns_count=len(returns),
            total_return=total_return(returns),
            cagr=cagr(returns),
            volatility=volatility(returns),
            sharpe=sharpe(returns),
            sortino=sortino(returns),
            max_drawdown=max_drawdown(returns),
            calmar=calmar(returns),
            closed_trades=len(pnls),
            win_rate=win_rate(pnls),
            profit_factor=profit_factor(pnls),
        )
    return results


class FillLike(Protocol):
    """A leader fill; ``copytrade.models.LeaderTrade`` rows have these attributes."""

    traded_at: datetime
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True)
class Fill:
    """A leader fill: ``side`` is "buy" or "sell", ``amount`` > 0 in base units, ``fee`` in quote."""

    traded_at: datetime
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal = ZERO


@dataclass(frozen=True)
class TrackRecord:
    """A daily equity curve and the P&L of each closed trade, ready for ``compute_all``."""

    equity: list[EquityPoint] = field(default_factory=list)
    closed_trade_pnls: list[TradePnl] = field(default_factory=list)


@dataclass
class _Position:
    """One symbol's position under average-cost accounting.

    ``quantity`` is signed (long > 0, short < 0). ``basis`` is what the open quantity
    cost with its entry fees: for a long what was paid plus fees, for a short what was
    received minus fees. Entry fees live in the basis so that a closed trade's P&L is net
    of the fees of both its entry and its exit.
    """

    quantity: Decimal = ZERO
    basis: Decimal = ZERO

    def fill(self, *, signed_amount: Decimal, price: Decimal, fee: Decimal) -> Decimal | None:
        """Apply a fill; return the realised P&L when it reduces or closes the position."""
        if self.quantity == 0 or (self.quantity > 0) == (signed_amount > 0):
            self._open(signed_amount=signed_amount, price=price, fee=fee)
            return None
        held = abs(self.quantity)
        amount = abs(signed_amount)
        reduced = min(amount, held)
        # A fill larger than the position flips it: the fee is shared pro rata between
        # the closing part and the opening part, the latter taking the remainder so the
        # two add up to the fee exactly.
        closing_fee = fee if reduced == amount else fee * reduced / amount
        direction = 1 if self.quantity > 0 else -1
        released_basis = self.basis if reduced == held else self.basis * reduced / held
        pnl = direction * (reduced * price - released_basis) - closing_fee
        self.quantity += reduced * -direction
        self.basis -= released_basis
        if amount > reduced:
            self._open(signed_amount=(amount - reduced) * -direction, price=price, fee=fee - closing_fee)
        return pnl

    def _open(self, *, signed_amount: Decimal, price: Decimal, fee: Decimal) -> None:
        direction = 1 if signed_amount > 0 else -1
        self.quantity += signed_amount
        self.basis += abs(signed_amount) * price + direction * fee


def equity_curve_from_trades(
    *,
    trades: Sequence[FillLike],
    daily_closes: Mapping[str, Mapping[date, Decimal]],
    starting_capital: Decimal,
    as_of: date,
) -> TrackRecord:
    """Rebuild a leader's daily equity curve and closed-trade P&Ls from its fills.

    ``trades`` in time order, each with a timezone-aware ``traded_at``; ``daily_closes``
    maps symbol -> UTC day -> close price.

    Equity at the close of UTC day d = cash + sum over open positions of signed quantity
    x close of d, where cash = starting capital - sum(buy amount x price + fee)
    + sum(sell amount x price - fee) over the fills of days <= d. Shorts carry a negative
    quantity. The curve runs from the day before the first fill, at the starting capital
    (so the first trading day has a return), to ``as_of``; fills after ``as_of`` are left
    out. A day without a close for a symbol held at that close raises ``ValueError``.

    A closed trade is each fill that reduces, closes or flips a position: its P&L under
    average-cost accounting is ``(price - average entry) x amount`` for a long,
    ``(average entry - price) x amount`` for a short, net of the exit fee and of the
    reduced share of the entry fees. Once every position is flat, the closed-trade P&Ls
    add up to the equity's change.
    """
    days_and_fills = [(_utc_day(trade.traded_at), trade) for trade in trades]
    for (_, earlier), (_, later) in zip(days_and_fills, days_and_fills[1:]):
        if later.traded_at < earlier.traded_at:
            raise ValueError(f"trades must be in time order: {later.traded_at} comes after {earlier.traded_at}")
    days_and_fills = [(day, fill) for day, fill in days_and_fills if day <= as_of]
    if not days_and_fills:
        return TrackRecord()

    first_day = days_and_fills[0][0]
    equity = [(first_day - timedelta(days=1), starting_capital)]
    closed_trade_pnls = []
    positions: dict[str, _Position] = {}
    cash = starting_capital
    pending = iter(days_and_fills)
    next_fill = next(pending, None)
    # Two 20-digit money fields multiply to 40 digits: the default 28-digit context would
    # round cash and equity.
    with localcontext(prec=60):
        day = first_day
        while day <= as_of:
            while next_fill is not None and next_fill[0] == day:
                fill = next_fill[1]
                signed_amount = _signed_amount(fill)
                cash -= signed_amount * fill.price + fill.fee
                pnl = positions.setdefault(fill.symbol, _Position()).fill(signed_amount=signed_amount, price=fill.price, fee=fill.fee)
                if pnl is not None:
                    closed_trade_pnls.append((day, pnl))
                next_fill = next(pending, None)
            equity.append((day, cash + _marked_positions(positions, daily_closes, day)))
            day += timedelta(days=1)
    return TrackRecord(equity=equity, closed_trade_pnls=closed_trade_pnls)


def _signed_amount(fill: FillLike) -> Decimal:
    if fill.side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', not {fill.side!r}")
    if fill.amount <= 0 or fill.price <= 0 or fill.fee < 0:
        raise ValueError(f"a fill needs amount > 0, price > 0 and fee >= 0: {fill!r}")
    return fill.amount if fill.side == "buy" else -fill.amount


def _marked_positions(positions: Mapping[str, _Position], daily_closes: Mapping[str, Mapping[date, Decimal]], day: date) -> Decimal:
    value = ZERO
    for symbol, position in positions.items():
        if position.quantity == 0:
            continue
        close = daily_closes.get(symbol, {}).get(day)
        if close is None:
            raise ValueError(f"no close for {symbol} on {day}, where a position is open")
        value += position.quantity * close
    return value


def _utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        raise ValueError(f"trade time must be timezone-aware: {moment}")
    return moment.astimezone(UTC).date()


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1), as pandas ``Series.std()``."""
    mean = _mean(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
