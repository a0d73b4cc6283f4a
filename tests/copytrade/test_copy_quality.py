"""Copy quality (issue 27): each copied trade's delay and price gap as the exchange gave them,
and the per-copy and per-leader figures built from those rows.

The engine runs in this process against the loopback simulator (as in test_execution.py):
the fan-out inserts the rows in its shuffled order, then each copy's order is executed in
that order while the simulated market moves between orders.
"""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import mean, median

import pytest
from django.utils import timezone

from copytrade.models import CopiedTrade, Copy, LeaderTrade
from copytrade.quality import (
    CAPACITY_MIN_FANOUT,
    COPIES_WELL_MIN_ENDED,
    capacity_note,
    copy_quality_of_copy,
    copy_quality_of_strategy,
    price_gap_bps,
)
from copytrade.services.copies import copy_pause, copy_start
from copytrade.services.execution import copied_trade_execute
from copytrade.services.fanout import leader_trade_fan_out
from marketplace.models import StrategyMetrics
from tests.copytrade import market_moves_to, signal_only_strategy, simulator_account, submit
from tests.factories import (
    CopiedTradeFactory,
    CopyFactory,
    LeaderTradeFactory,
    SignalProviderFactory,
    StrategyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
COPIERS = 6


@pytest.fixture
def sim(simulated_binance, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    return simulated_binance


@pytest.fixture
def strategy(owner, sim):
    return signal_only_strategy(owner, capital="100000")


def start_copies(sim, strategy, count: int) -> list[Copy]:
    copies = []
    for index in range(count):
        user = UserFactory(username=f"copier{index}")
        account = simulator_account(sim, user, usdt="10000")
        copies.append(copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20")))
    return copies


def fan_out_while_the_market_moves(leader_trade: LeaderTrade, *, step: Decimal) -> list[CopiedTrade]:
    """Fan the trade out, then execute its copies in their fan-out order, the market moving
    `step` before each order. The rows in that order."""
    leader_trade_fan_out(leader_trade_id=leader_trade.pk)
    rows = list(CopiedTrade.objects.filter(leader_trade=leader_trade).order_by("fanout_place"))
    price = leader_trade.price
    for row in rows:
        price += step
        market_moves_to(str(price))
        copied_trade_execute(copied_trade_id=row.pk)
    return list(CopiedTrade.objects.filter(leader_trade=leader_trade).order_by("fanout_place"))


def expected_from_the_simulator(sim, row: CopiedTrade, leader_trade: LeaderTrade) -> tuple[Decimal, int]:
    """(gap in bps to the cent, delay in ms) computed from the simulator's own order log."""
    (order,) = sim.orders(client_order_id=row.client_order_id)
    average = Decimal(order["cost"]) / Decimal(order["filled"])
    worse_by = average - leader_trade.price if order["side"] == "BUY" else leader_trade.price - average
    gap = (worse_by / leader_trade.price * 10000).quantize(CENT, rounding=ROUND_HALF_UP)
    acknowledged = datetime.fromtimestamp(order["created_ms"] / 1000, tz=UTC)
    return gap, round((acknowledged - leader_trade.traded_at) / timedelta(milliseconds=1))


def test_a_fan_out_while_the_price_moves_records_the_gaps_the_simulator_filled_at(sim, strategy):
    copies = start_copies(sim, strategy, COPIERS)

    # the leader buys at 65,000; each later order of the fan-out fills 13.37 higher
    submit(strategy, "t1", "buy", amount="1", price="65000")
    entry = LeaderTrade.objects.get(strategy=strategy, external_id="t1")
    entries = fan_out_while_the_market_moves(entry, step=Decimal("13.37"))
    # the leader closes at 66,000; each later order of the fan-out fills 21.10 lower
    submit(strategy, "t2", "close", price="66000")
    close = LeaderTrade.objects.get(strategy=strategy, external_id="t2")
    exits = fan_out_while_the_market_moves(close, step=Decimal("-21.10"))

    assert [row.fanout_place for row in entries] == list(range(1, COPIERS + 1))
    assert {row.copy_id for row in entries} == {copy.pk for copy in copies}
    for leader_trade, rows in ((entry, entries), (close, exits)):
        for row in rows:
            assert row.status == CopiedTrade.Status.FILLED
            gap, delay = expected_from_the_simulator(sim, row, leader_trade)
            assert row.price_gap_bps == gap
            assert row.delay_ms == delay
            assert row.delay_ms >= 0
    # a buy filled higher and a sell filled lower are both worse for the follower: positive
    assert all(row.price_gap_bps > 0 for row in entries + exits)
    # the sixth entry paid 6 × 13.37 over 65,000: 12.34 bps
    assert entries[-1].price_gap_bps == Decimal("12.34")


def test_the_leaders_figures_equal_a_hand_computation_from_the_rows(sim, strategy):
    copies = start_copies(sim, strategy, COPIERS)
    submit(strategy, "t1", "buy", amount="1", price="65000")
    fan_out_while_the_market_moves(LeaderTrade.objects.get(external_id="t1"), step=Decimal("9.99"))
    copy_pause(follower=copies[0].follower, copy_id=copies[0].pk)
    submit(strategy, "t2", "buy", amount="0.5", price="65500")
    fan_out_while_the_market_moves(LeaderTrade.objects.get(external_id="t2"), step=Decimal("-4.44"))

    figures = copy_quality_of_strategy(strategy_id=strategy.pk, now=timezone.now())

    rows = list(CopiedTrade.objects.filter(strategy=strategy))
    fills = [row for row in rows if row.status == CopiedTrade.Status.FILLED]
    assert len(fills) == 2 * COPIERS - 1
    for window in ("30d", "all"):
        got = figures.windows[window]
        assert (got.filled, got.skipped, got.failed) == (len(fills), 0, 0)
        assert got.fill_rate == 1
        gaps = [row.price_gap_bps for row in fills]
        assert got.gap_mean_bps == mean(gaps).quantize(CENT, rounding=ROUND_HALF_UP)
        assert got.gap_median_bps == median(gaps).quantize(CENT, rounding=ROUND_HALF_UP)
        delays = sorted(row.delay_ms for row in fills)
        assert got.delay_p50_ms == whole_ms(median(delays))
        assert got.delay_p95_ms == whole_ms(interpolated(delays, Decimal("0.95")))
    # the paused copy was not sent the second entry: not in the fan-out, not a skip
    assert not CopiedTrade.objects.filter(copy=copies[0], sequence=2).exists()
    mine = copy_quality_of_copy(copy_id=copies[1].pk, now=timezone.now()).windows["all"]
    own = sorted(row.price_gap_bps for row in fills if row.copy_id == copies[1].pk)
    assert mine.filled == 2
    assert mine.gap_mean_bps == mean(own).quantize(CENT, rounding=ROUND_HALF_UP)


def whole_ms(value) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def interpolated(ordered: list, fraction: Decimal) -> Decimal:
    """The percentile as PostgreSQL's percentile_cont takes it: linear between the two nearest rows."""
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return Decimal(ordered[below]) + (Decimal(ordered[above]) - Decimal(ordered[below])) * (position - below)


def test_the_fill_rate_counts_skips_and_failures_by_reason(db):
    copy = CopyFactory()
    now = timezone.now()
    CopiedTradeFactory(copy=copy, finished_at=now, delay_ms=120, price_gap_bps=Decimal("2.50"))
    CopiedTradeFactory(copy=copy, finished_at=now, delay_ms=80, price_gap_bps=Decimal("-1.00"))
    for _ in range(2):
        CopiedTradeFactory(copy=copy, finished_at=now, status=CopiedTrade.Status.SKIPPED, reason=CopiedTrade.Reason.SLIPPAGE_EXCEEDED)
    CopiedTradeFactory(copy=copy, finished_at=now, status=CopiedTrade.Status.FAILED, reason=CopiedTrade.Reason.NOT_FILLED)
    # older than 30 days: counted all-time only
    CopiedTradeFactory(
        copy=copy,
        finished_at=now - timedelta(days=45),
        status=CopiedTrade.Status.SKIPPED,
        reason=CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM,
    )
    # a close the platform made itself is no copy of a leader trade
    CopiedTradeFactory(copy=copy, finished_at=now, kind=CopiedTrade.Kind.STOP_LOSS)

    quality = copy_quality_of_copy(copy_id=copy.pk, now=now)

    recent, whole = quality.windows["30d"], quality.windows["all"]
    assert (recent.filled, recent.skipped, recent.failed) == (2, 2, 1)
    assert recent.fill_rate == Decimal(2) / Decimal(5)
    assert [(reason.reason, reason.count) for reason in recent.skip_reasons] == [("slippage_exceeded", 2)]
    assert [(reason.reason, reason.count) for reason in recent.fail_reasons] == [("not_filled", 1)]
    assert whole.skipped == 3
    assert {reason.reason: reason.count for reason in whole.skip_reasons} == {"slippage_exceeded": 2, "below_exchange_minimum": 1}
    assert (recent.delay_p50_ms, recent.gap_mean_bps, recent.gap_median_bps) == (100, Decimal("0.75"), Decimal("0.75"))


def test_a_copy_with_nothing_ended_has_no_figures(db):
    quality = copy_quality_of_copy(copy_id=CopyFactory().pk, now=timezone.now())
    assert quality.windows["all"].fill_rate is None
    assert quality.windows["all"].delay_p50_ms is None


def test_a_price_gap_is_positive_when_worse_for_the_follower():
    assert price_gap_bps(side="buy", leader_price=Decimal("100"), fill_price=Decimal("100.10")) == Decimal("10.00")
    assert price_gap_bps(side="sell", leader_price=Decimal("100"), fill_price=Decimal("100.10")) == Decimal("-10.00")
    assert price_gap_bps(side="sell", leader_price=Decimal("3"), fill_price=Decimal("2.999")) == Decimal("3.33")


def fan_outs(strategy, *, trades: int, copiers: int, gap_of_place) -> None:
    copies = [CopyFactory(strategy=strategy) for _ in range(copiers)]
    now = timezone.now()
    for number in range(1, trades + 1):
        leader_trade = LeaderTradeFactory(strategy=strategy, sequence=number)
        for place, copy in enumerate(copies, start=1):
            CopiedTradeFactory(
                copy=copy,
                leader_trade=leader_trade,
                sequence=number,
                finished_at=now,
                fanout_place=place,
                delay_ms=50 * place,
                price_gap_bps=gap_of_place(number, place),
            )


def test_a_leader_whose_copiers_gap_grows_with_their_place_gets_a_capacity_note(db):
    strategy = StrategyFactory()
    # each trade moves the market its own way (the trade's number), and each place adds 0.5 bps ± noise
    fan_outs(strategy, trades=6, copiers=20, gap_of_place=lambda n, place: Decimal(n * 3) + Decimal(place) / 2 + Decimal(place % 3))

    note = capacity_note(strategy_id=strategy.pk, now=timezone.now())

    assert note.shown
    assert (note.fills, note.fanouts) == (120, 6)
    assert Decimal("45") <= note.slope_bps_per_100 <= Decimal("55")
    assert "worse prices" in note.sentence


def test_no_capacity_note_when_the_gap_does_not_follow_the_place(db):
    strategy = StrategyFactory()
    fan_outs(strategy, trades=6, copiers=20, gap_of_place=lambda n, place: Decimal((place * 7919 + n * 104729) % 13))

    note = capacity_note(strategy_id=strategy.pk, now=timezone.now())

    assert not note.shown
    assert note.sentence == ""


def test_no_capacity_note_below_the_minimum_sample(db):
    strategy = StrategyFactory()
    fan_outs(strategy, trades=2, copiers=CAPACITY_MIN_FANOUT, gap_of_place=lambda n, place: Decimal(place))

    note = capacity_note(strategy_id=strategy.pk, now=timezone.now())

    assert note.correlation == pytest.approx(1.0)
    assert not note.shown


def test_the_copy_and_leader_endpoints_give_copy_quality_with_the_divergence(db, client_for, follower):
    # given a copy started 10 days ago with 1,000 USDT that made 20 USDT net (no fees), a
    # leader whose equity rose from 10,000 to 10,500 over those days (+5 %)
    now = timezone.now()
    copy = CopyFactory(follower=follower, started_at=now - timedelta(days=10), copy_capital=Decimal("1000"))
    strategy = copy.strategy
    CopiedTradeFactory(copy=copy, finished_at=now, pnl_billing=Decimal("20"), delay_ms=300, price_gap_bps=Decimal("4.20"))
    CopiedTradeFactory(copy=copy, finished_at=now, status=CopiedTrade.Status.SKIPPED, reason=CopiedTrade.Reason.INSUFFICIENT_MARGIN)
    day = (now - timedelta(days=11)).date()
    series = [[(day + timedelta(days=offset)).isoformat(), equity] for offset, equity in ((0, "10000"), (5, "10200"), (11, "10500"))]
    StrategyMetrics.objects.create(strategy=strategy, window="all", as_of=now.date(), computed_at=now, equity_series=series)

    mine = client_for(follower).get(f"/api/copy-trading/copies/{copy.pk}")
    leader = client_for(follower).get(f"/api/copy-trading/leader/{strategy.pk}")

    assert mine.status_code == 200 and leader.status_code == 200
    for body in (mine.json()["copy_quality"], leader.json()["copy_quality"]):
        recent = body["windows"][0]
        assert recent["window"] == "30d"
        assert (recent["filled"], recent["skipped"], recent["failed"], recent["fill_rate"]) == (1, 1, 0, 0.5)
        assert recent["skip_reasons"] == [
            {"reason": "insufficient_margin", "label": str(CopiedTrade.Reason.INSUFFICIENT_MARGIN.label), "count": 1}
        ]
        assert (recent["delay_p50_ms"], recent["delay_p95_ms"], recent["gap_mean_bps"], recent["gap_median_bps"]) == (
            300,
            300,
            "4.20",
            "4.20",
        )
        assert recent["copiers_net_return"] == pytest.approx(2.0)
        assert recent["leader_return"] == pytest.approx(5.0)
        assert recent["divergence"] == pytest.approx(-3.0)
    assert mine.json()["copy_quality"]["capacity_note"] is None
    assert leader.json()["copy_quality"]["capacity_note"]["shown"] is False
    listed = client_for(follower).get("/api/copy-trading/my-copies").json()
    assert listed["results"][0]["copy_quality"] == mine.json()["copy_quality"]


def leader_with_copies(name: str, *, fills: int, gap: str, skips: int = 0):
    strategy = StrategyFactory(name=name)
    copy = CopyFactory(strategy=strategy)
    now = timezone.now()
    for _ in range(fills):
        CopiedTradeFactory(copy=copy, finished_at=now, delay_ms=200, price_gap_bps=Decimal(gap))
    for _ in range(skips):
        CopiedTradeFactory(copy=copy, finished_at=now, status=CopiedTrade.Status.SKIPPED, reason=CopiedTrade.Reason.SLIPPAGE_EXCEEDED)
    return strategy


def test_the_leaderboard_sorts_and_filters_on_copies_well(db, client_for, stranger):
    leader_with_copies("Tight", fills=COPIES_WELL_MIN_ENDED, gap="2.00")
    leader_with_copies("Loose", fills=COPIES_WELL_MIN_ENDED, gap="25.00")  # fills, but far from the leader's price
    leader_with_copies("Often skipped", fills=COPIES_WELL_MIN_ENDED, gap="1.00", skips=COPIES_WELL_MIN_ENDED)
    leader_with_copies("Close", fills=COPIES_WELL_MIN_ENDED, gap="6.50")
    leader_with_copies("Too few", fills=COPIES_WELL_MIN_ENDED - 1, gap="0.50")
    client = client_for(stranger)

    def names(**params) -> list[str]:
        response = client.get("/api/copy-trading/top", params)
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    assert names(sort="copies_well")[:3] == ["Tight", "Close", "Loose"]
    assert names(copies_well="true", sort="copies_well") == ["Tight", "Close"]
    assert set(names(copies_well="false")) == {"Loose", "Often skipped", "Too few"}
    row = next(row for row in client.get("/api/copy-trading/top").json()["results"] if row["name"] == "Often skipped")
    assert (row["copies_well"], row["copy_ended_30d"], row["copy_fill_rate_30d"], row["copy_gap_median_bps_30d"]) == (
        False,
        2 * COPIES_WELL_MIN_ENDED,
        0.5,
        "1.00",
    )
    assert client.get("/api/copy-trading/top", {"copies_well": "maybe"}).status_code == 400


def test_the_traders_list_sorts_providers_by_how_well_they_are_copied(db, client_for, stranger):
    tight, loose = (leader_with_copies(name, fills=COPIES_WELL_MIN_ENDED, gap=gap) for name, gap in (("A", "1.00"), ("B", "9.00")))
    for strategy, name in ((loose, "Loose Signals"), (tight, "Tight Signals")):
        SignalProviderFactory(user=strategy.owner, display_name=name)

    response = client_for(stranger).get("/api/marketplace/traders", {"sort_by": "copies_well"})

    assert response.status_code == 200
    assert [row["display_name"] for row in response.json()["results"]] == ["Tight Signals", "Loose Signals"]
