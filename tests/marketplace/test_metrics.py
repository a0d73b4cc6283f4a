"""The performance-metrics engine, checked against quantstats as the oracle.

Pure tests: no database, no Redis state is touched.
"""

import math
import random
import warnings
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest

from marketplace.metrics import (
    WINDOWS,
    Fill,
    compute_all,
    daily_returns,
    drawdown_percent,
    equity_curve_from_trades,
    max_drawdown,
    profit_factor,
    profit_factor_for_api,
    win_rate,
    windowed,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import quantstats as qs

CENT = Decimal("0.01")
SATOSHI = Decimal("0.00000001")
AS_OF = date(2024, 12, 31)
ORACLE_TOLERANCE = 1e-9
QUANTSTATS_METRICS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar")


def _equity_from_returns(*, first_day: date, capital: Decimal, returns: list[float]) -> list[tuple[date, Decimal]]:
    points = [(first_day, capital)]
    for offset, r in enumerate(returns, start=1):
        points.append((first_day + timedelta(days=offset), (points[-1][1] * (1 + Decimal(repr(r)))).quantize(CENT)))
    return points


def _random_returns(*, seed: int, days: int, mean: float, stdev: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, stdev) for _ in range(days)]


def _quantstats(points: list[tuple[date, Decimal]]) -> dict[str, float]:
    """quantstats' metrics of an equity series, returns computed here independently."""
    equity = [float(value) for _, value in points]
    returns = pd.Series(
        [today / yesterday - 1 for yesterday, today in zip(equity, equity[1:])],
        index=pd.date_range(points[1][0], periods=len(points) - 1, freq="D"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "total_return": qs.stats.comp(returns),
            "cagr": qs.stats.cagr(returns, rf=0, periods=365),
            "volatility": qs.stats.volatility(returns, periods=365),
            "sharpe": qs.stats.sharpe(returns, rf=0, periods=365, annualize=True),
            "sortino": qs.stats.sortino(returns, rf=0, periods=365),
            "max_drawdown": qs.stats.max_drawdown(returns),
            "calmar": qs.stats.calmar(returns, periods=365),
        }


def _oracle_approx(expected: float):
    # The calmar of a short window annualises to tens of thousands; there a relative
    # tolerance says "equal" where an absolute 1e-9 would demand digits floats lack.
    return pytest.approx(expected, abs=ORACLE_TOLERANCE, rel=1e-12)


def _window_points(points, window: str):
    days = WINDOWS[window]
    first = date.min if days is None else AS_OF - timedelta(days=days)
    return [point for point in points if first <= point[0] <= AS_OF]


def _trade_driven_record(*, seed: int):
    """Random long and short fills on two symbols, every position closed on the last day."""
    rng = random.Random(seed)
    first_day = AS_OF - timedelta(days=149)
    days = [first_day + timedelta(days=offset) for offset in range(150)]
    closes = {}
    for symbol, start in (("BTC/USDT", 30000.0), ("ETH/USDT", 2000.0)):
        price, closes[symbol] = start, {}
        for day in days:
            price *= 1 + rng.gauss(0.0005, 0.03)
            closes[symbol][day] = Decimal(repr(price)).quantize(CENT)
    max_amount = {"BTC/USDT": 0.5, "ETH/USDT": 8.0}
    held = {"BTC/USDT": Decimal(0), "ETH/USDT": Decimal(0)}
    fills = []

    def fill(day, hour, symbol, side, amount):
        price = (closes[symbol][day] * Decimal(repr(1 + rng.uniform(-0.01, 0.01)))).quantize(CENT)
        fee = (amount * price * Decimal("0.001")).quantize(SATOSHI)
        traded_at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)
        fills.append(Fill(traded_at, symbol, side, amount, price, fee))
        held[symbol] += amount if side == "buy" else -amount

    for day in days[:-1]:
        for hour in sorted(rng.sample(range(24), rng.randint(0, 3))):
            symbol = rng.choice(list(held))
            amount = Decimal(repr(rng.uniform(0.01, max_amount[symbol]))).quantize(Decimal("0.0001"))
            fill(day, hour, symbol, rng.choice(("buy", "sell")), amount)
    for hour, (symbol, quantity) in enumerate(list(held.items())):
        if quantity:
            fill(days[-1], hour, symbol, "sell" if quantity > 0 else "buy", abs(quantity))
    return equity_curve_from_trades(trades=fills, daily_closes=closes, starting_capital=Decimal(100000), as_of=AS_OF)


# Generated track records: (equity points, closed-trade P&Ls).
STEADY = (
    _equity_from_returns(
        first_day=AS_OF - timedelta(days=400),
        capital=Decimal(10000),
        returns=_random_returns(seed=11, days=400, mean=0.001, stdev=0.02),
    ),
    [
        (AS_OF, Decimal("120.50")),
        (AS_OF - timedelta(days=6), Decimal("-40.25")),
        (AS_OF - timedelta(days=7), Decimal("0")),
        (AS_OF - timedelta(days=100), Decimal("80")),
    ],
)
FIRST_DAY_LOSS = (
    _equity_from_returns(
        first_day=AS_OF - timedelta(days=120),
        capital=Decimal(5000),
        returns=[-0.05] + _random_returns(seed=22, days=119, mean=0.002, stdev=0.015),
    ),
    [
        (AS_OF - timedelta(days=3), Decimal("15")),
        (AS_OF - timedelta(days=50), Decimal("0")),
        (AS_OF - timedelta(days=110), Decimal("30.5")),
    ],
)
_TRADED = _trade_driven_record(seed=33)
TRADED = (_TRADED.equity, _TRADED.closed_trade_pnls)
RECORDS = {"steady": STEADY, "first_day_loss": FIRST_DAY_LOSS, "traded": TRADED}


@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("record", list(RECORDS))
def test_it_matches_quantstats_on_generated_track_records(record, window):
    # given
    equity, pnls = RECORDS[record]
    expected = _quantstats(_window_points(equity, window))

    # when
    result = compute_all(equity, pnls, AS_OF)[window]

    # then
    for name in QUANTSTATS_METRICS:
        assert math.isfinite(expected[name]), f"{record}/{window}: quantstats {name} is {expected[name]}"
        assert getattr(result, name) == _oracle_approx(expected[name]), f"{record}/{window}: {name}"


def test_it_counts_the_returns_of_each_window_and_no_later_day():
    equity, pnls = STEADY
    beyond_as_of = [*equity, (AS_OF + timedelta(days=1), Decimal(1))]

    results = compute_all(beyond_as_of, pnls, AS_OF)

    assert {window: result.returns_count for window, result in results.items()} == {
        "7d": 7,
        "30d": 30,
        "90d": 90,
        "all": 400,
    }
    assert results["7d"].first_day == AS_OF - timedelta(days=6)
    assert results["all"].first_day == equity[1][0]
    assert all(result.last_day == AS_OF for result in results.values())


def test_it_counts_a_loss_on_the_first_day_in_the_drawdown():
    equity, pnls = FIRST_DAY_LOSS

    result = compute_all(equity, pnls, AS_OF)["all"]

    assert result.max_drawdown <= -0.05
    assert result.max_drawdown_percent == pytest.approx(-result.max_drawdown * 100)


def test_it_computes_win_rate_and_profit_factor_per_window_by_hand():
    results = compute_all(*STEADY, AS_OF)

    # 7d: +120.50 and -40.25; 30d and 90d add a zero trade; all adds +80.
    assert (results["7d"].closed_trades, results["7d"].win_rate) == (2, 0.5)
    assert results["7d"].profit_factor == pytest.approx(120.50 / 40.25)
    assert (results["30d"].closed_trades, results["30d"].win_rate) == (3, 1 / 3)
    assert results["90d"].profit_factor == pytest.approx(120.50 / 40.25)
    assert (results["all"].closed_trades, results["all"].win_rate) == (4, 0.5)
    assert results["all"].profit_factor == pytest.approx(200.50 / 40.25)


def test_a_record_without_losing_trade_has_an_infinite_profit_factor():
    results = compute_all(*FIRST_DAY_LOSS, AS_OF)

    assert results["7d"].closed_trades == 1
    assert results["7d"].profit_factor == math.inf
    assert results["all"].win_rate == 2 / 3
    assert results["all"].profit_factor == math.inf
    assert profit_factor_for_api(results["all"].profit_factor) == {
        "profit_factor": None,
        "profit_factor_infinite": True,
    }


def test_closed_trade_pnls_of_a_flat_record_add_up_to_its_equity_change():
    # Partial closes release a pro-rata share of the basis, exact only to 60 digits.
    pnl_total = sum(pnl for _, pnl in _TRADED.closed_trade_pnls)

    assert pnl_total.quantize(SATOSHI) == (_TRADED.equity[-1][1] - Decimal(100000)).quantize(SATOSHI)


@pytest.mark.parametrize(
    ("pnls", "expected_win_rate", "expected_profit_factor"),
    [
        ([], None, None),
        ([Decimal("0"), Decimal("0")], 0.0, None),
        ([Decimal("-5"), Decimal("-2.5")], 0.0, 0.0),
        ([Decimal("10"), Decimal("0")], 0.5, math.inf),
        ([Decimal("30"), Decimal("-10"), Decimal("-5"), Decimal("15")], 0.5, 3.0),
        ([Decimal("1.5"), Decimal("-0.5"), Decimal("0")], 1 / 3, 3.0),
    ],
)
def test_it_computes_win_rate_and_profit_factor(pnls, expected_win_rate, expected_profit_factor):
    assert win_rate(pnls) == expected_win_rate
    assert profit_factor(pnls) == expected_profit_factor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.inf, {"profit_factor": None, "profit_factor_infinite": True}),
        (2.5, {"profit_factor": 2.5, "profit_factor_infinite": False}),
        (0.0, {"profit_factor": 0.0, "profit_factor_infinite": False}),
        (None, {"profit_factor": None, "profit_factor_infinite": False}),
    ],
)
def test_it_shows_the_profit_factor_to_the_api_without_infinity(value, expected):
    assert profit_factor_for_api(value) == expected


def test_it_reports_the_drawdown_as_a_negative_fraction_and_a_positive_percent():
    fraction = max_drawdown([0.10, -0.20, 0.05])

    assert fraction == pytest.approx(-0.20)
    assert drawdown_percent(fraction) == pytest.approx(20.0)
    assert drawdown_percent(None) is None


def test_an_empty_record_has_no_metrics():
    results = compute_all([], [], AS_OF)

    for result in results.values():
        assert result.returns_count == 0
        assert result.first_day is None
        assert all(getattr(result, name) is None for name in QUANTSTATS_METRICS)
        assert (result.closed_trades, result.win_rate, result.profit_factor) == (0, None, None)


def test_a_single_return_has_a_total_return_and_drawdown_but_no_ratios():
    points = [(AS_OF - timedelta(days=1), Decimal(100)), (AS_OF, Decimal(90))]

    result = compute_all(points, [], AS_OF)["all"]

    assert result.total_return == pytest.approx(-0.10)
    assert result.max_drawdown == pytest.approx(-0.10)
    assert (result.volatility, result.sharpe, result.sortino, result.calmar) == (None, None, None, None)


def test_flat_equity_has_no_ratios_where_quantstats_has_nan_or_infinity():
    points = [(AS_OF - timedelta(days=offset), Decimal(1000)) for offset in range(10, -1, -1)]

    result = compute_all(points, [], AS_OF)["all"]

    assert (result.total_return, result.volatility, result.max_drawdown) == (0.0, 0.0, 0.0)
    assert (result.sharpe, result.sortino, result.calmar) == (None, None, None)


def test_a_record_without_losing_day_has_a_sharpe_but_no_sortino_or_calmar():
    points = _equity_from_returns(first_day=AS_OF - timedelta(days=3), capital=Decimal(1000), returns=[0.01, 0.02, 0.005])

    result = compute_all(points, [], AS_OF)["all"]

    assert result.sharpe == _oracle_approx(_quantstats(points)["sharpe"])
    assert (result.sortino, result.calmar) == (None, None)


def test_it_refuses_equity_points_that_are_not_on_consecutive_days():
    with pytest.raises(ValueError, match="consecutive days"):
        daily_returns([(date(2024, 1, 1), Decimal(100)), (date(2024, 1, 3), Decimal(101))])


def test_no_return_is_measured_from_a_non_positive_equity():
    assert daily_returns([(date(2024, 1, 1), Decimal(0)), (date(2024, 1, 2), Decimal(10))]) == []


def test_a_total_loss_is_a_return_of_minus_100_percent_with_no_ratios():
    # given a record that made money, then lost more than everything (a short squeezed)
    first_day = AS_OF - timedelta(days=5)
    equity = [Decimal(1000), Decimal(1010), Decimal(1030), Decimal(990), Decimal(-250), Decimal(-250)]
    points = [(first_day + timedelta(days=offset), value) for offset, value in enumerate(equity)]

    # when
    results = compute_all(points, [], AS_OF)

    # then the loss is total, not -125 %, and no return follows it
    whole = results["all"]
    assert whole.total_return == -1.0
    assert whole.returns_count == 4
    assert whole.last_day == first_day + timedelta(days=4)
    assert whole.max_drawdown_percent == pytest.approx(100.0)
    assert (whole.sharpe, whole.sortino, whole.calmar) == (None, None, None)
    assert whole.cagr == -1.0
    # a window that opens after the loss has nothing to measure
    assert results["7d"].total_return == -1.0
    after = compute_all(points, [], AS_OF + timedelta(days=6))["7d"]
    assert (after.returns_count, after.total_return, after.sharpe) == (0, None, None)


def test_near_constant_returns_have_no_ratios():
    # given a steady 0.1 % a day whose only variation is rounding noise
    returns = [0.001 + (1e-13 if day % 2 else -1e-13) for day in range(60)]
    points = [(AS_OF - timedelta(days=60), Decimal(1000))]
    for offset, r in enumerate(returns, start=1):
        points.append((AS_OF - timedelta(days=60 - offset), points[-1][1] * (1 + Decimal(repr(r)))))

    # when
    result = compute_all(points, [], AS_OF)["all"]

    # then quantstats would say a Sharpe in the billions; here it is undefined
    assert _quantstats(points)["sharpe"] > 1e6
    assert result.total_return == pytest.approx(1.001**60 - 1, rel=1e-9)
    assert (result.sharpe, result.sortino, result.calmar) == (None, None, None)


def test_returns_that_vary_by_more_than_the_threshold_keep_their_ratios():
    points = _equity_from_returns(first_day=AS_OF - timedelta(days=4), capital=Decimal(1000), returns=[0.01, 0.012, -0.004, 0.009])

    result = compute_all(points, [], AS_OF)["all"]

    assert result.sharpe == _oracle_approx(_quantstats(points)["sharpe"])
    assert result.sortino == _oracle_approx(_quantstats(points)["sortino"])


def test_windows_cover_their_last_n_days_and_stop_at_as_of():
    series = [(AS_OF - timedelta(days=offset), offset) for offset in range(39, -3, -1)]

    assert [offset for _, offset in windowed(series, "7d", AS_OF)] == [6, 5, 4, 3, 2, 1, 0]
    assert [offset for _, offset in windowed(series, "7d", AS_OF, with_opening_point=True)] == [7, 6, 5, 4, 3, 2, 1, 0]
    assert len(windowed(series, "30d", AS_OF)) == 30
    assert len(windowed(series, "all", AS_OF)) == 40


def test_it_refuses_an_unknown_window():
    with pytest.raises(ValueError, match="unknown window"):
        windowed([], "1y", AS_OF)


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


def _fill(traded_at: datetime, symbol: str, side: str, amount: str, price: str, fee: str = "0") -> Fill:
    return Fill(traded_at, symbol, side, Decimal(amount), Decimal(price), Decimal(fee))


def _curve(trades, closes, *, as_of: date):
    return equity_curve_from_trades(trades=trades, daily_closes=closes, starting_capital=Decimal(10000), as_of=as_of)


def test_it_builds_the_equity_curve_of_a_hand_worked_example():
    # given: open, increase, partial close, close, then a short opened and covered
    trades = [
        _fill(_at(1), "BTC/USDT", "buy", "1", "100", "1"),
        # 20:00 in New York on March 1st is March 2nd in UTC.
        _fill(datetime(2024, 3, 1, 20, tzinfo=timezone(timedelta(hours=-5))), "BTC/USDT", "buy", "1", "120", "1"),
        _fill(_at(3), "BTC/USDT", "sell", "0.5", "130", "0.5"),
        _fill(_at(4, 9), "BTC/USDT", "sell", "1.5", "105", "1.5"),
        _fill(_at(4, 10), "ETH/USDT", "sell", "2", "50", "0.2"),
        _fill(_at(6), "ETH/USDT", "buy", "2", "42", "0.2"),
    ]
    closes = {
        "BTC/USDT": {
            date(2024, 3, 1): Decimal("110"),
            date(2024, 3, 2): Decimal("115"),
            date(2024, 3, 3): Decimal("125"),
        },
        "ETH/USDT": {date(2024, 3, 4): Decimal("45"), date(2024, 3, 5): Decimal("40")},
    }

    # when
    record = _curve(trades, closes, as_of=date(2024, 3, 7))

    # then
    assert record.equity == [
        (date(2024, 2, 29), Decimal("10000")),
        (date(2024, 3, 1), Decimal("10009")),  # cash 9899 + 1 BTC at 110
        (date(2024, 3, 2), Decimal("10008")),  # cash 9778 + 2 BTC at 115
        (date(2024, 3, 3), Decimal("10030.0")),  # cash 9842.5 + 1.5 BTC at 125
        (date(2024, 3, 4), Decimal("10008.3")),  # cash 10098.3 - 2 ETH at 45
        (date(2024, 3, 5), Decimal("10018.3")),  # cash 10098.3 - 2 ETH at 40
        (date(2024, 3, 6), Decimal("10014.1")),
        (date(2024, 3, 7), Decimal("10014.1")),
    ]
    assert record.closed_trade_pnls == [
        (date(2024, 3, 3), Decimal("9")),  # 65 - 222 x 0.5 / 2 - 0.5
        (date(2024, 3, 4), Decimal("-10.5")),  # 157.5 - 166.5 - 1.5
        (date(2024, 3, 6), Decimal("15.6")),  # (100 - 0.2) - 84 - 0.2
    ]
    assert sum(pnl for _, pnl in record.closed_trade_pnls) == Decimal("14.1")


def test_a_fill_larger_than_the_position_closes_it_and_opens_the_other_side():
    # given: long 1, sell 3 (close 1 with a third of the fee, short 2), cover the short
    trades = [
        _fill(_at(1), "BTC/USDT", "buy", "1", "100", "1"),
        _fill(_at(2), "BTC/USDT", "sell", "3", "110", "3"),
        _fill(_at(3), "BTC/USDT", "buy", "2", "100", "0"),
    ]
    closes = {"BTC/USDT": {date(2024, 3, 1): Decimal("100"), date(2024, 3, 2): Decimal("108")}}

    # when
    record = _curve(trades, closes, as_of=date(2024, 3, 3))

    # then
    assert [equity for _, equity in record.equity] == [Decimal(10000), Decimal(9999), Decimal(10010), Decimal(10026)]
    assert record.closed_trade_pnls == [(date(2024, 3, 2), Decimal("8")), (date(2024, 3, 3), Decimal("18"))]


def test_fills_after_as_of_are_left_out_and_no_fill_means_no_record():
    trades = [_fill(_at(5), "BTC/USDT", "buy", "1", "100")]

    record = _curve(trades, {}, as_of=date(2024, 3, 4))

    assert (record.equity, record.closed_trade_pnls) == ([], [])


def test_it_refuses_a_day_without_close_for_an_open_position():
    trades = [_fill(_at(1), "BTC/USDT", "buy", "1", "100")]
    closes = {"BTC/USDT": {date(2024, 3, 1): Decimal("100")}}

    with pytest.raises(ValueError, match="no close for BTC/USDT on 2024-03-02"):
        _curve(trades, closes, as_of=date(2024, 3, 2))


@pytest.mark.parametrize(
    ("trades", "message"),
    [
        ([_fill(datetime(2024, 3, 1, 12), "BTC/USDT", "buy", "1", "100")], "timezone-aware"),
        (
            [
                _fill(_at(2), "BTC/USDT", "buy", "1", "100"),
                _fill(_at(1), "BTC/USDT", "sell", "1", "100"),
            ],
            "time order",
        ),
        ([_fill(_at(1), "BTC/USDT", "long", "1", "100")], "side"),
        ([_fill(_at(1), "BTC/USDT", "buy", "0", "100")], "amount > 0"),
    ],
)
def test_it_refuses_malformed_fills(trades, message):
    with pytest.raises(ValueError, match=message):
        _curve(trades, {}, as_of=date(2024, 3, 3))
