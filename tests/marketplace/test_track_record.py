from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from copytrade.models import Copy, Strategy
from core.models import Notification
from exchanges.models import Candle, ExchangeAccount
from marketplace import metrics
from marketplace.breakers import strategy_circuit_breaker_check
from marketplace.models import ProviderEvent, ProviderMetrics, SignalProvider, StrategyMetrics, TradeVerification
from marketplace.selectors import strategy_metrics_map
from marketplace.services import provider_review_clear
from marketplace.track_record import provider_metrics_recalculate, strategies_metrics_recalculate, strategy_metrics_recalculate
from marketplace.verification import provider_record_check, strategy_track_record_verify
from tests.marketplace.support import make_copy, make_provider, make_strategy, make_trade

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def _daily_candles(closes: dict[str, str], symbol: str = "BTC/USDT") -> None:
    for day, close in closes.items():
        open_time = datetime.fromisoformat(day).replace(tzinfo=UTC)
        Candle.objects.create(
            exchange_id="binance",
            symbol=symbol,
            timeframe="1d",
            open_time=open_time,
            open=Decimal(close),
            high=Decimal(close),
            low=Decimal(close),
            close=Decimal(close),
            volume=Decimal("1"),
        )


def _minute_candle(minute: datetime, low: str, high: str, symbol: str = "BTC/USDT") -> None:
    Candle.objects.create(
        exchange_id="binance",
        symbol=symbol,
        timeframe="1m",
        open_time=minute,
        open=Decimal(low),
        high=Decimal(high),
        low=Decimal(low),
        close=Decimal(high),
        volume=Decimal("1"),
    )


# --- Metrics -------------------------------------------------------------------------------


@pytest.fixture
def winning_record(owner, follower):
    """Buy 1 BTC at 100 on 1 March, sell it at 120 on 3 March: one winning trade, then flat."""
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    make_copy(follower, strategy, copy_capital=Decimal("2500"), exchange_id="binance")
    make_trade(
        strategy, sequence=1, side="buy", amount="1", price="100", traded_at=datetime(2026, 3, 1, 10, tzinfo=UTC), position_after="1"
    )
    make_trade(strategy, sequence=2, side="sell", amount="1", price="120", traded_at=datetime(2026, 3, 3, 10, tzinfo=UTC), effect="close")
    _daily_candles({f"2026-03-{day:02d}": str(100 + day) for day in range(1, 10)})
    return provider, strategy


def test_it_stores_each_windows_metrics_as_the_metrics_engine_computes_them(winning_record):
    provider, strategy = winning_record

    assert strategy_metrics_recalculate(strategy_id=strategy.pk, now=NOW, fetch_candles=False) is True

    rows = {row.window: row for row in StrategyMetrics.objects.filter(strategy=strategy)}
    assert set(rows) == {"7d", "30d", "90d", "all"}
    trades = list(strategy.trades.order_by("traded_at"))
    closes = {"BTC/USDT": {datetime(2026, 3, day).date(): Decimal(100 + day) for day in range(1, 10)}}
    record = metrics.equity_curve_from_trades(trades=trades, daily_closes=closes, starting_capital=Decimal("10000"), as_of=NOW.date() - DAY)
    expected = metrics.compute_all(record.equity, record.closed_trade_pnls, NOW.date() - DAY)
    for window, row in rows.items():
        assert row.total_return == pytest.approx(expected[window].total_return, abs=1e-12)
        assert (
            row.sharpe_ratio == pytest.approx(expected[window].sharpe, abs=1e-12)
            if expected[window].sharpe is not None
            else row.sharpe_ratio is None
        )
        assert row.returns_count == expected[window].returns_count
    everything = rows["all"]
    assert everything.total_return == pytest.approx(0.002)
    assert (everything.win_rate, everything.closed_trades) == (1.0, 1)
    assert (everything.profit_factor, everything.profit_factor_infinite) == (None, True)
    assert (everything.follower_count, everything.copied_aum) == (1, Decimal("2500"))
    assert everything.equity_series[0] == ["2026-02-28", "10000.00"]
    assert everything.equity_series[-1] == ["2026-03-09", "10020.00"]
    assert strategy_metrics_map(strategy_ids=[strategy.pk], window="all") == {strategy.pk: everything}


def test_paper_copies_do_not_count_in_the_copied_aum(winning_record, stranger):
    """Public AUM is money at real exchanges: a paper copy of any size moves it not at all."""
    provider, strategy = winning_record
    make_copy(stranger, strategy, copy_capital=Decimal("100000000000"))

    assert strategy_metrics_recalculate(strategy_id=strategy.pk, now=NOW, fetch_candles=False) is True
    assert provider_metrics_recalculate(provider_id=provider.pk, now=NOW) is True

    assert StrategyMetrics.objects.get(strategy=strategy, window="all").copied_aum == Decimal("2500")
    assert ProviderMetrics.objects.get(provider=provider, window="all").copied_aum == Decimal("2500")


def test_a_provider_is_measured_on_the_sum_of_its_strategies(winning_record, owner):
    provider, strategy = winning_record
    idle = make_strategy(owner, name="Idle", declared_capital=Decimal("5000"))
    make_trade(idle, sequence=1, side="buy", amount="1", price="105", traded_at=datetime(2026, 3, 5, 9, tzinfo=UTC), position_after="1")

    assert provider_metrics_recalculate(provider_id=provider.pk, now=NOW) is True

    everything = ProviderMetrics.objects.get(provider=provider, window="all")
    # 10,020 (flat after its win) + 5,000 - 105 + 1 BTC at the 9 March close of 109.
    assert everything.equity_series[-1] == ["2026-03-09", "15024.00"]
    assert everything.equity_series[0] == ["2026-02-28", "15000.00"]
    assert everything.total_return == pytest.approx(15024 / 15000 - 1)
    assert everything.closed_trades == 1


def test_a_track_record_with_a_missing_close_is_not_stored(owner):
    strategy = make_strategy(owner)
    make_trade(
        strategy, sequence=1, side="buy", amount="1", price="100", traded_at=datetime(2026, 3, 1, 10, tzinfo=UTC), position_after="1"
    )

    assert strategy_metrics_recalculate(strategy_id=strategy.pk, now=NOW, fetch_candles=False) is False
    assert not StrategyMetrics.objects.exists()


def test_a_total_loss_is_stored_as_minus_100_percent_for_the_strategy_and_its_provider(owner):
    # given a short of 100 BTC at 100 on 10,000 of capital, and BTC doubling the next day
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    make_trade(
        strategy, sequence=1, side="sell", amount="100", price="100", traded_at=datetime(2026, 3, 1, 10, tzinfo=UTC), position_after="-100"
    )
    _daily_candles({"2026-03-01": "100", **{f"2026-03-{day:02d}": "200" for day in range(2, 10)}})

    # when
    assert strategy_metrics_recalculate(strategy_id=strategy.pk, now=NOW, fetch_candles=False) is True
    assert provider_metrics_recalculate(provider_id=provider.pk, now=NOW) is True

    # then equity went to -0 and below: a total loss, no ratio
    for row in [
        *StrategyMetrics.objects.filter(strategy=strategy, window__in=["30d", "all"]),
        ProviderMetrics.objects.get(provider=provider, window="all"),
    ]:
        assert row.total_return == -1.0
        assert (row.sharpe_ratio, row.sortino_ratio, row.calmar_ratio) == (None, None, None)
        assert row.max_drawdown == pytest.approx(100.0)
        assert row.current_drawdown == pytest.approx(100.0)


def test_one_strategys_failure_does_not_stop_the_others(winning_record, owner, monkeypatch, caplog):
    # given two strategies, the first of which fails for a reason nobody foresaw
    provider, strategy = winning_record
    broken = make_strategy(owner, name="Broken")
    make_trade(broken, sequence=1, side="buy", amount="1", price="100", traded_at=datetime(2026, 3, 1, 10, tzinfo=UTC), position_after="1")
    real = strategy_metrics_recalculate

    def failing(*, strategy_id, **kwargs):
        if strategy_id == broken.pk:
            raise ZeroDivisionError("a bug")
        return real(strategy_id=strategy_id, **kwargs)

    monkeypatch.setattr("marketplace.track_record.strategy_metrics_recalculate", failing)

    # when
    built = strategies_metrics_recalculate(strategy_ids=[broken.pk, strategy.pk], now=NOW, fetch_candles=False)

    # then the other strategy was measured and the failure logged
    assert built == {broken.pk: False, strategy.pk: True}
    assert StrategyMetrics.objects.filter(strategy=strategy).count() == 4
    assert f"metrics of strategy {broken.pk} not recalculated" in caplog.text


def test_a_curators_record_check_measures_every_strategy_it_can(winning_record, owner, monkeypatch):
    provider, strategy = winning_record
    broken = make_strategy(owner, name="Broken")
    make_trade(broken, sequence=1, side="buy", amount="1", price="100", traded_at=datetime(2026, 3, 1, 10, tzinfo=UTC), position_after="1")
    monkeypatch.setattr("marketplace.verification.strategy_track_record_verify", lambda **kwargs: None)
    monkeypatch.setattr("marketplace.track_record._daily_candles_sync", lambda **kwargs: None)
    real = metrics.equity_curve_from_trades

    def failing(*, trades, **kwargs):
        if trades[0].strategy_id == broken.pk:
            raise OverflowError("a bug")
        return real(trades=trades, **kwargs)

    monkeypatch.setattr(metrics, "equity_curve_from_trades", failing)

    check = provider_record_check(provider_id=provider.pk, now=NOW)

    assert check.metrics is False
    assert StrategyMetrics.objects.filter(strategy=strategy).count() == 4
    assert not StrategyMetrics.objects.filter(strategy=broken).exists()


def test_the_metrics_window_must_be_known():
    with pytest.raises(ValueError, match="unknown window"):
        strategy_metrics_map(strategy_ids=[1], window="1y")


# --- Verification ------------------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_verification_flags_a_trade_whose_price_lies_outside_its_candle(
    owner, curator, simulated_binance, django_capture_on_commit_callbacks
):
    # given: two minutes of BTC/USDT on the exchange: [95, 110] then [96, 96]
    start = (timezone.now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    simulated_binance.add_ticks(
        ticks=[
            {"symbol": "BTC/USDT", "price": "100", "timestamp": _ms(start + timedelta(seconds=10)), "volume": "1"},
            {"symbol": "BTC/USDT", "price": "110", "timestamp": _ms(start + timedelta(seconds=40)), "volume": "2"},
            {"symbol": "BTC/USDT", "price": "95", "timestamp": _ms(start + timedelta(seconds=50)), "volume": "1.5"},
            {"symbol": "BTC/USDT", "price": "96", "timestamp": _ms(start + timedelta(seconds=65)), "volume": "0.25"},
        ]
    )
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    honest = make_trade(
        strategy, sequence=1, side="buy", amount="1", price="104", traded_at=start + timedelta(seconds=20), position_after="1"
    )
    inflated = make_trade(
        strategy, sequence=2, side="sell", amount="1", price="120", traded_at=start + timedelta(seconds=70), effect="close"
    )

    # when
    with django_capture_on_commit_callbacks(execute=True):
        outcome = strategy_track_record_verify(strategy_id=strategy.pk)

    # then
    assert (outcome.checked, outcome.verified, outcome.mismatches) == (2, 1, 1)
    assert TradeVerification.objects.get(leader_trade=honest).status == "verified"
    flag = TradeVerification.objects.get(leader_trade=inflated)
    assert (flag.status, flag.candle_low, flag.candle_high) == ("mismatch", Decimal("96"), Decimal("96"))
    assert Candle.objects.filter(exchange_id="binance", symbol="BTC/USDT", timeframe="1m").count() == 2  # fetched and stored
    provider.refresh_from_db()
    assert (provider.verification_status, provider.needs_review) == ("flagged", True)
    assert ProviderEvent.objects.filter(provider=provider, action="verification_flag").exists()
    assert Notification.objects.filter(user=curator, kind=Notification.Kind.VERIFICATION_FLAG).count() == 1
    assert any(curator.email in message.to and "Verification flag" in message.subject for message in mail.outbox)


def test_a_trade_inside_the_tolerance_is_verified(owner, settings):
    settings.VERIFICATION_TOLERANCE_PERCENT = Decimal("0.5")
    strategy = make_strategy(owner)
    minute = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    _minute_candle(minute, "100", "110")
    make_trade(strategy, sequence=1, side="buy", amount="1", price="110.5", traded_at=minute + timedelta(seconds=5), position_after="1")
    make_trade(strategy, sequence=2, side="sell", amount="1", price="99.4", traded_at=minute + timedelta(seconds=6), effect="close")

    strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False)

    assert list(TradeVerification.objects.order_by("leader_trade__sequence").values_list("status", flat=True)) == ["verified", "mismatch"]


def test_the_badge_is_earned_with_enough_verified_history_and_lost_when_a_flag_appears(owner):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    first = NOW - timedelta(days=40)
    for n in range(20):
        minute = (first + n * DAY).replace(second=0, microsecond=0)
        _minute_candle(minute, "100", "110")
        make_trade(
            strategy,
            sequence=n + 1,
            side="buy" if n % 2 == 0 else "sell",
            amount="1",
            price="105",
            traded_at=minute + timedelta(seconds=30),
        )

    assert strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False).badge is True
    strategy.refresh_from_db()
    provider.refresh_from_db()
    assert strategy.verified_badge is True
    assert provider.verification_status == "verified"

    late = (NOW - timedelta(hours=1)).replace(second=0, microsecond=0)
    _minute_candle(late, "100", "110")
    make_trade(strategy, sequence=21, side="buy", amount="1", price="150", traded_at=late + timedelta(seconds=1))
    assert strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False).badge is False

    strategy.refresh_from_db()
    provider.refresh_from_db()
    assert strategy.verified_badge is False
    assert provider.verification_status == "flagged"


def test_no_badge_before_thirty_days_of_history(owner):
    strategy = make_strategy(owner)
    first = NOW - timedelta(days=25)
    for n in range(20):
        minute = (first + n * timedelta(hours=20)).replace(second=0, microsecond=0)
        _minute_candle(minute, "100", "110")
        make_trade(strategy, sequence=n + 1, side="buy", amount="1", price="105", traded_at=minute + timedelta(seconds=30))

    assert strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False).badge is False
    assert Strategy.objects.get(id=strategy.pk).verified_badge is False


# --- Circuit breakers ------------------------------------------------------------------------


def _drawdown(strategy, percent: float) -> None:
    StrategyMetrics.objects.create(strategy=strategy, window="all", as_of=NOW.date(), current_drawdown=percent, computed_at=NOW)


def test_a_drawdown_over_the_risk_limit_stops_new_copies_and_tells_followers_and_curators(
    owner, follower, curator, client_for, django_capture_on_commit_callbacks
):
    provider = make_provider(owner, risk_level=SignalProvider.RiskLevel.MEDIUM)
    strategy = make_strategy(owner)
    copy = make_copy(follower, strategy)
    _drawdown(strategy, 31.5)

    with django_capture_on_commit_callbacks(execute=True):
        reason = strategy_circuit_breaker_check(strategy_id=strategy.pk)

    assert reason is not None and "31.50 % exceeds the 30 % limit" in reason
    strategy.refresh_from_db()
    provider.refresh_from_db()
    assert strategy.accepting_copies is False
    assert provider.needs_review is True
    assert ProviderEvent.objects.get(provider=provider, action="circuit_breaker").to_value == "False"
    assert Notification.objects.filter(user=follower, kind=Notification.Kind.CIRCUIT_BREAKER).count() == 1
    assert Notification.objects.filter(user=curator, kind=Notification.Kind.CIRCUIT_BREAKER).count() == 1
    assert {address for message in mail.outbox for address in message.to} == {follower.email, curator.email}
    copy.refresh_from_db()
    assert copy.status == Copy.Status.ACTIVE  # existing copies keep mirroring exits

    # a new copy is refused
    account = ExchangeAccount.objects.create(owner=curator, exchange_id="paper", label="paper")
    response = client_for(curator).post(
        "/api/copy-trading/start",
        {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": "10"},
        format="json",
    )
    assert response.status_code == 409
    assert "not accepting new copies" in response.data["message"]

    # a breaker trips once
    assert strategy_circuit_breaker_check(strategy_id=strategy.pk) is None
    assert Notification.objects.filter(kind=Notification.Kind.CIRCUIT_BREAKER).count() == 2


@pytest.mark.parametrize(
    ("risk_level", "drawdown", "trips"), [("low", 15.5, True), ("low", 14.9, False), ("high", 49.0, False), ("high", 50.1, True)]
)
def test_each_risk_level_has_its_own_limit(owner, risk_level, drawdown, trips):
    make_provider(owner, risk_level=risk_level)
    strategy = make_strategy(owner)
    _drawdown(strategy, drawdown)

    assert (strategy_circuit_breaker_check(strategy_id=strategy.pk) is not None) is trips
    assert Strategy.objects.get(id=strategy.pk).accepting_copies is not trips


def test_a_failed_verification_trips_the_breaker(owner):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    minute = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    _minute_candle(minute, "100", "110")
    make_trade(strategy, sequence=1, side="buy", amount="1", price="200", traded_at=minute + timedelta(seconds=5))
    strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False)

    reason = strategy_circuit_breaker_check(strategy_id=strategy.pk)

    assert reason == "1 trade(s) failed track-record verification"
    assert Strategy.objects.get(id=strategy.pk).accepting_copies is False
    provider.refresh_from_db()
    assert provider.needs_review is True


def test_a_long_history_is_verified_in_batches(owner, monkeypatch):
    monkeypatch.setattr("marketplace.verification.VERIFY_BATCH_SIZE", 3)
    strategy = make_strategy(owner)
    minute = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    _minute_candle(minute, "100", "110")
    for n in range(5):
        make_trade(strategy, sequence=n + 1, side="buy", amount="1", price="105", traded_at=minute + timedelta(seconds=n))

    first = strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False)
    second = strategy_track_record_verify(strategy_id=strategy.pk, now=NOW, fetch_candles=False)

    assert (first.checked, first.remaining) == (3, 2)
    assert (second.checked, second.remaining) == (2, 0)
    assert TradeVerification.objects.filter(status="verified").count() == 5


def test_a_curator_clearing_the_review_reopens_a_tripped_strategy(owner, curator):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    _drawdown(strategy, 45.0)
    strategy_circuit_breaker_check(strategy_id=strategy.pk)
    assert Strategy.objects.get(id=strategy.pk).accepting_copies is False

    provider_review_clear(provider_id=provider.pk, actor=curator, reason="Drawdown explained: one-off exchange outage.")

    provider.refresh_from_db()
    assert provider.needs_review is False
    assert Strategy.objects.get(id=strategy.pk).accepting_copies is True
    assert ProviderEvent.objects.filter(provider=provider, action="review_cleared", actor=curator).exists()
