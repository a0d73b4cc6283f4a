"""The periodic schedule, defined in code and synced into django-celery-beat's tables by
`manage.py sync_beat_schedule` (run by `make`). Times are UTC.

Each entry: name → (task, schedule, options). A schedule is either a number of seconds or a
crontab dict. Entries whose task is not registered yet are skipped by the sync.
"""

from django.conf import settings

# Every name we ever synced is prefixed, so the sync can remove entries dropped from code
# without touching schedules an operator added by hand in admin.
PREFIX = "copytrade: "


def schedule() -> dict[str, dict]:
    return {
        "sweep stuck copied trades": {
            "task": "copytrade.tasks.sweep_stuck_copied_trades",
            # Every few seconds: a dead worker's rows are taken back as soon as their lease ends.
            "every": settings.COPYTRADE_SWEEP_EVERY_SECONDS,
        },
        "copy stop-loss marks between fills": {
            "task": "copytrade.tasks.mark_copies_to_market",
            "every": 60.0,
        },
        "copy drift against the exchange accounts": {
            "task": "copytrade.tasks.check_copies_drift",
            "every": settings.COPY_DRIFT_CHECK_SECONDS,
        },
        "funding of perpetual positions": {
            "task": "copytrade.tasks.sync_funding_payments",
            # Binance settles funding every 8 hours; read a few times in between.
            "every": 15 * 60.0,
        },
        "exchange sync of leader fills": {
            "task": "copytrade.tasks.sync_exchange_strategies",
            "every": settings.EXCHANGE_SYNC_INTERVAL_SECONDS,
        },
        "nightly exchange key check": {
            # Revoked keys (and keys given withdrawal permission since) found before an order fails.
            "task": "copytrade.tasks.verify_exchange_keys",
            "crontab": {"minute": "30", "hour": "1"},
        },
        "daily metrics": {
            "task": "marketplace.tasks.recalculate_all_metrics",
            "crontab": {"minute": "15", "hour": "0"},
        },
        "daily verification and circuit breakers": {
            "task": "marketplace.tasks.run_daily_checks",
            "crontab": {"minute": "45", "hour": "0"},
        },
        "monthly billing": {
            "task": "billing.tasks.run_monthly_billing",
            "crontab": {"minute": "30", "hour": "0", "day_of_month": "1"},
        },
        "daily payouts": {
            "task": "billing.tasks.run_daily_payouts",
            "crontab": {"minute": "0", "hour": "2"},
        },
        "daily prune of notifications and other operational rows": {
            # Quiet hours, after the nightly runs (core/retention.py).
            "task": "core.tasks.prune_operational_rows",
            "crontab": {"minute": "30", "hour": "3"},
        },
    }
