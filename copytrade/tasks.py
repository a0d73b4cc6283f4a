"""Celery tasks of the copy engine: thin (ids in, one service call, quiet when done).

Queues come from CELERY_TASK_ROUTES: `fan_out_leader_trade` → fanout,
`execute_copied_trade` → execution, the rest → default.

Retries: transient exchange errors retry with exponential backoff and jitter up to
COPYTRADE_EXECUTION_MAX_RETRIES; a *wait* (the copy's earlier copied trade is not
done, a rate-limit bucket is empty, an order is still settling) re-sends the task with a
countdown and the same retry count, so waiting never uses up the failure budget.
"""

import logging

from celery import Task, shared_task
from celery.exceptions import Retry
from django.conf import settings
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnavailableError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from copytrade.services.copies import exchange_accounts_keys_verify
from copytrade.services.drift import copies_drift_check
from copytrade.services.exchange_sync import strategies_exchange_sync
from copytrade.services.execution import copied_trade_execute, copied_trade_give_up
from copytrade.services.fanout import leader_trade_fan_out
from copytrade.services.fill_notices import leader_trade_fills_notify
from copytrade.services.funding import funding_accounts_sync
from copytrade.services.marking import copies_mark_to_market
from copytrade.services.sweeper import copied_trades_sweep
from core import log_context
from exchanges.errors import TransientExchangeError

logger = logging.getLogger(__name__)

# A database restart or failover is as transient as an exchange hiccup; so is a Redis restart
# (rate-limit buckets and the market cache live there, and the fan-out publishes to it).
# Without these a task failed outright and its copied trade waited for the sweeper.
RETRYABLE = (
    TransientExchangeError,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
    BrokerUnavailableError,
)


def _retry_later(task: Task, *, countdown: float, why: str, **kwargs) -> None:
    """Re-send this task after `countdown` seconds keeping its retry count (with `kwargs`
    changed), and end this run."""
    task.signature_from_request(kwargs={**(task.request.kwargs or {}), **kwargs}, countdown=countdown).apply_async()
    raise Retry(f"waiting ({why})", when=countdown)


class _ExecuteCopiedTradeTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Out of retries on errors that mean nothing reached the exchange: the copied trade
        # must still end somewhere visible rather than stay pending.
        if isinstance(exc, TransientExchangeError):
            copied_trade_id = kwargs.get("copied_trade_id", args[0] if args else None)
            if copied_trade_id is not None:
                copied_trade_give_up(copied_trade_id=copied_trade_id)


# The engine's tasks: redelivered if a worker dies, retried with backoff and jitter on
# anything transient (a wait for ordering or a rate limit is a retry that keeps the budget).
ENGINE_TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": settings.COPYTRADE_EXECUTION_MAX_RETRIES,
}


@shared_task(**ENGINE_TASK_OPTIONS)
def fan_out_leader_trade(self, leader_trade_id: int, after: int | None = None, until: int | None = None) -> None:
    # `after`: a later chunk of the fan-out, `until` its last place (copytrade/services/fanout.py,
    # "Fair across leaders"); a link sent before `until` existed has none.
    log_context.bind(leader_trade_id=leader_trade_id)
    outcome = leader_trade_fan_out(leader_trade_id=leader_trade_id, after=after, until=until)
    if after is not None:
        return
    if outcome.retry_in is not None:
        _retry_later(self, countdown=outcome.retry_in, why="the strategy's previous fan-out")
    elif outcome.copied_trade_ids:
        notify_leader_trade_fills.apply_async((leader_trade_id,), countdown=settings.COPYTRADE_FILL_NOTICE_SECONDS)


# Until every copy of the trade is final (the sweeper makes a lost one final in seconds).
@shared_task(bind=True, acks_late=True, max_retries=settings.COPYTRADE_FILL_NOTICE_MAX_RETRIES)
def notify_leader_trade_fills(self, leader_trade_id: int) -> None:
    log_context.bind(leader_trade_id=leader_trade_id)
    if leader_trade_fills_notify(leader_trade_id=leader_trade_id):
        raise self.retry(countdown=settings.COPYTRADE_FILL_NOTICE_SECONDS)


@shared_task(base=_ExecuteCopiedTradeTask, **ENGINE_TASK_OPTIONS)
def execute_copied_trade(self, copied_trade_id: int, token: int | None = None) -> None:
    # `token`: set on a message a waiting run re-sent, so that it, and no other, continues
    # the row it holds (copytrade/services/execution.py, "Leases").
    log_context.bind(copied_trade_id=copied_trade_id)
    outcome = copied_trade_execute(copied_trade_id=copied_trade_id, token=token)
    if outcome.retry_in is not None:
        _retry_later(self, countdown=outcome.retry_in, why=outcome.waiting_for, token=outcome.token)


@shared_task(acks_late=True)
def sweep_stuck_copied_trades() -> None:
    copied_trades_sweep()


@shared_task(acks_late=True)
def sync_exchange_strategies() -> None:
    strategies_exchange_sync()


@shared_task(acks_late=True)
def mark_copies_to_market() -> None:
    copies_mark_to_market()


@shared_task(acks_late=True)
def check_copies_drift() -> None:
    copies_drift_check()


@shared_task(acks_late=True)
def sync_funding_payments() -> None:
    """Perpetuals' funding paid and received, read per account and symbol (recorded once)."""
    funding_accounts_sync()


@shared_task(acks_late=True)
def verify_exchange_keys() -> dict[str, int]:
    """Nightly: every active exchange account's key asked about again (config/beat.py)."""
    return exchange_accounts_keys_verify()
