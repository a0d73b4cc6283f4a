"""Prometheus metrics the processes export (issue 30): what an operator on call looks at.

Counters and histograms observed where things happen, in web and worker processes alike.
With PROMETHEUS_MULTIPROC_DIR set (gunicorn's and Celery's prefork children), each process
writes its values to files there and `/metrics` adds them up (`config/metrics.py`); without
it they live in this process's default registry. Figures read from the database or the
broker at scrape time (queue depth and age, billing progress, pending payouts) are not
here: `config/metrics.py` collects them for the web's `/metrics` only.

Names and labels are what `deploy/prometheus/alerts.yml` and the Grafana dashboard query
(tests/test_deploy.py checks each expression names a metric exported here or there).
"""

import os

from prometheus_client import Counter, Histogram

if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # The files are opened as the metrics are defined, just below.
    os.makedirs(directory, exist_ok=True)

# Leader fill → follower order acknowledged: seconds to minutes when healthy.
DELAY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

COPY_DELAY = Histogram(
    "copytrade_copy_delay_seconds",
    "Seconds from the leader's trade to the follower's order acknowledged by the exchange.",
    ["exchange"],
    buckets=DELAY_BUCKETS,
)
COPIED_TRADES = Counter(
    "copytrade_copied_trades",
    "Copied trades that ended, by exchange, status (filled, partially_filled, skipped, failed) and reason code.",
    ["exchange", "status", "reason"],
)
SWEEPER_TAKEN_BACK = Counter(
    "copytrade_sweeper_taken_back",
    "Work the sweeper took back and enqueued again (copied_trade: a lost message or a dead worker's row; fan_out: an unfinished fan-out).",
    ["kind"],
)
RATE_LIMIT_WAITS = Counter(
    "copytrade_rate_limit_waits",
    "Orders that waited for a rate-limit token (inline: slept in the worker; requeued: the task was sent again with a countdown).",
    ["exchange", "how"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "copytrade_rate_limit_wait_seconds",
    "Seconds orders waited for rate-limit tokens.",
    ["exchange"],
)
WEBHOOK_LATENCY = Histogram(
    "copytrade_webhook_seconds",
    "Seconds to answer a webhook (signal: a leader's signal; stripe: Stripe's events), by HTTP status.",
    ["webhook", "status"],
    buckets=WEBHOOK_BUCKETS,
)


def copied_trade_ended(trade, *, status: str) -> None:
    """A copied trade reached its outcome (`status`, its reason as written). A filled one
    observes its delay: the leader's trade time to the follower's order acknowledged."""
    exchange = trade.copy.exchange_account.exchange_id
    COPIED_TRADES.labels(exchange=exchange, status=status, reason=trade.reason or "").inc()
    leader_trade = trade.leader_trade if trade.leader_trade_id is not None else None
    if trade.acknowledged_at is not None and leader_trade is not None:
        COPY_DELAY.labels(exchange=exchange).observe(max(0.0, (trade.acknowledged_at - leader_trade.traded_at).total_seconds()))


def rate_limit_waited(*, exchange: str, seconds: float, inline: bool) -> None:
    RATE_LIMIT_WAITS.labels(exchange=exchange, how="inline" if inline else "requeued").inc()
    RATE_LIMIT_WAIT_SECONDS.labels(exchange=exchange).inc(seconds)


def sweeper_took_back(*, copied_trades: int, fan_outs: int) -> None:
    SWEEPER_TAKEN_BACK.labels(kind="copied_trade").inc(copied_trades)
    SWEEPER_TAKEN_BACK.labels(kind="fan_out").inc(fan_outs)
