from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from exchanges.models import Candle
from marketplace import tasks
from marketplace.models import ProviderMetrics, StrategyMetrics
from tests.marketplace.support import make_provider, make_strategy, make_trade


def test_the_daily_jobs_fan_out_one_task_per_strategy_that_traded(owner, stranger, monkeypatch):
    traded = make_strategy(owner)
    make_strategy(stranger, name="Never traded")
    make_trade(traded, sequence=1, side="buy", amount="1", price="100", traded_at=timezone.now() - timedelta(days=2))
    metrics_calls, check_calls = [], []
    monkeypatch.setattr(tasks.recalculate_strategy_metrics, "delay", metrics_calls.append)
    monkeypatch.setattr(tasks.run_strategy_daily_checks, "delay", check_calls.append)

    assert tasks.recalculate_all_metrics() == 1
    assert tasks.run_daily_checks() == 1
    assert metrics_calls == [traded.pk]
    assert check_calls == [traded.pk]


def test_a_strategys_metrics_task_also_refreshes_its_providers_metrics(owner, monkeypatch):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    today = timezone.now().date()
    make_trade(strategy, sequence=1, side="buy", amount="1", price="100", traded_at=timezone.now() - timedelta(days=3), position_after="1")
    for age in range(1, 6):
        open_time = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=age)
        Candle.objects.create(
            exchange_id="binance",
            symbol="BTC/USDT",
            timeframe="1d",
            open_time=open_time,
            open=Decimal("100"),
            high=Decimal("100"),
            low=Decimal("100"),
            close=Decimal(110 - age),
            volume=Decimal("1"),
        )
    monkeypatch.setattr(tasks.recalculate_provider_metrics, "delay", lambda provider_id: tasks.recalculate_provider_metrics(provider_id))

    tasks.recalculate_strategy_metrics(strategy.pk)

    assert StrategyMetrics.objects.filter(strategy=strategy).count() == 4
    everything = ProviderMetrics.objects.get(provider=provider, window="all")
    assert everything.as_of == today - timedelta(days=1)
    assert everything.equity_series[-1] == [str(today - timedelta(days=1)), "10009.00"]


def test_tasks_for_a_deleted_strategy_return_quietly(db):
    tasks.recalculate_strategy_metrics(999_999)
    tasks.run_strategy_daily_checks(999_999)
    tasks.recalculate_provider_metrics(999_999)

    assert not StrategyMetrics.objects.exists()
