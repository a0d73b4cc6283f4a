"""Beat and on-demand jobs of the marketplace: thin, they take ids and call one service."""

import logging

from celery import shared_task
from django.db import transaction

from copytrade.models import LeaderTrade, Strategy
from exchanges.errors import TransientExchangeError
from marketplace.breakers import strategy_circuit_breaker_check
from marketplace.models import SignalProvider
from marketplace.track_record import provider_metrics_recalculate, strategy_metrics_recalculate
from marketplace.verification import strategy_track_record_verify

logger = logging.getLogger(__name__)

RETRY = {"autoretry_for": (TransientExchangeError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 5}


def _strategies_with_trades():
    return Strategy.objects.filter(id__in=LeaderTrade.objects.values("strategy_id")).order_by("id").values_list("id", flat=True)


@shared_task
def recalculate_all_metrics() -> int:
    """Daily (00:15 UTC): one task per strategy that has traded."""
    strategy_ids = list(_strategies_with_trades())
    for strategy_id in strategy_ids:
        recalculate_strategy_metrics.delay(strategy_id)
    return len(strategy_ids)


@shared_task(**RETRY)
def recalculate_strategy_metrics(strategy_id: int) -> None:
    if not strategy_metrics_recalculate(strategy_id=strategy_id):
        return
    provider_id = SignalProvider.objects.filter(user__strategies__id=strategy_id).values_list("id", flat=True).first()
    if provider_id is not None:
        recalculate_provider_metrics.delay(provider_id)


@shared_task
def recalculate_provider_metrics(provider_id: int) -> None:
    provider_metrics_recalculate(provider_id=provider_id)


def provider_metrics_enqueue(*, provider_id: int) -> int:
    """On demand (a curator): recalculate each strategy of the provider, then the provider."""
    strategy_ids = list(Strategy.objects.filter(owner__signal_provider__id=provider_id).order_by("id").values_list("id", flat=True))

    def _enqueue() -> None:
        for strategy_id in strategy_ids:
            recalculate_strategy_metrics.delay(strategy_id)
        if not strategy_ids:
            recalculate_provider_metrics.delay(provider_id)

    transaction.on_commit(_enqueue)
    return len(strategy_ids)


@shared_task
def run_daily_checks() -> int:
    """Daily (00:45 UTC, after the metrics): verification then circuit breakers, one task per strategy."""
    strategy_ids = list(_strategies_with_trades())
    for strategy_id in strategy_ids:
        run_strategy_daily_checks.delay(strategy_id)
    return len(strategy_ids)


@shared_task(**RETRY)
def run_strategy_daily_checks(strategy_id: int) -> None:
    outcome = strategy_track_record_verify(strategy_id=strategy_id)
    strategy_circuit_breaker_check(strategy_id=strategy_id)
    if outcome is not None and outcome.remaining:
        # A long unchecked history goes in batches, one task run each.
        run_strategy_daily_checks.delay(strategy_id)
