import os
import threading
import time
from dataclasses import dataclass

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

from config import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Before the app makes its first connection: workers survive a Redis restart (config/broker.py).
broker.install()

app = Celery("copytrade")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Threads of this process whose connection is kept while they wait for work: thread id ->
# its idle connection. A janitor thread closes those idle for DATABASE_IDLE_SECONDS beyond the
# DATABASE_IDLE_CONNECTIONS_PER_WORKER most recently used; a thread takes its entry back
# (under the lock) before it touches its connection again, so the janitor never closes a
# connection in use.
@dataclass
class _IdleConnection:
    wrapper: object  # the thread's django.db connection
    since: float
    closed: bool = False


_idle: dict[int, _IdleConnection] = {}
_idle_lock = threading.Lock()
_janitor: threading.Thread | None = None

# A connection this thread's previous task ended with less than this long ago is not
# health-checked again (CONN_HEALTH_CHECKS: Django's `SELECT 1` on first use): during a
# fan-out each thread runs an order every few milliseconds, and the check was a round trip
# more per order (bench/RESULTS.md, "Performance III"). A connection idle for longer, or one
# that saw an error (closed by close_old_connections), is checked as before.
HEALTH_CHECKED_WITHIN_SECONDS = 1.0


def _janitor_loop() -> None:
    from django.conf import settings

    while True:
        time.sleep(0.5)
        now = time.monotonic()
        with _idle_lock:
            open_ = sorted((entry for entry in _idle.values() if not entry.closed), key=lambda entry: entry.since, reverse=True)
            for entry in open_[settings.DATABASE_IDLE_CONNECTIONS_PER_WORKER :]:
                if now - entry.since >= settings.DATABASE_IDLE_SECONDS and entry.wrapper.connection is not None:
                    entry.wrapper.connection.close()  # psycopg2's; its thread resets the wrapper
                    entry.closed = True


def _janitor_start() -> None:
    global _janitor
    with _idle_lock:
        if _janitor is None or not _janitor.is_alive():  # once per process (prefork children too)
            _janitor = threading.Thread(target=_janitor_loop, name="db-idle-janitor", daemon=True)
            _janitor.start()


def _eager(kwargs) -> bool:
    return kwargs.get("task") is not None and getattr(kwargs["task"].request, "is_eager", False)


@task_prerun.connect
def _database_connection_before_task(**kwargs) -> None:
    """Before every task, as Django does before every request: close this thread's
    connection only when broken or older than CONN_MAX_AGE (health-checked on reuse).

    Celery's own Django fixup would close it before and after every task (see
    CELERY_DB_REUSE_MAX in settings), a new PostgreSQL connection per follower order.
    """
    if _eager(kwargs):
        return
    from django.db import close_old_connections, connection

    from core import log_context

    log_context.bind_from_task(kwargs["task"].request)
    with _idle_lock:
        entry = _idle.pop(threading.get_ident(), None)
    if entry is not None and entry.closed:
        connection.close()  # the janitor closed it while idle: the next query opens a new one
    close_old_connections()
    if entry is not None and not entry.closed and time.monotonic() - entry.since < HEALTH_CHECKED_WITHIN_SECONDS:
        entry.wrapper.health_check_done = True  # it answered its last task a moment ago


@task_postrun.connect
def _database_connection_after_task(**kwargs) -> None:
    """After every task the thread keeps its connection for the next one: during a fan-out
    each busy thread reuses its own (a new PostgreSQL connection per order halved the
    engine's throughput, bench/RESULTS.md). Once a thread has waited DATABASE_IDLE_SECONDS
    for work, the janitor closes its connection unless it is among the
    DATABASE_IDLE_CONNECTIONS_PER_WORKER most recently used (docs/OPERATING.md, "Connection
    budget")."""
    if _eager(kwargs):
        return
    from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections

    from core import log_context

    log_context.clear()
    close_old_connections()
    if connection.connection is None:
        return
    # `connection` is a proxy to the calling thread's; the janitor needs this thread's own.
    wrapper = connections[DEFAULT_DB_ALIAS]
    with _idle_lock:
        _idle[threading.get_ident()] = _IdleConnection(wrapper=wrapper, since=time.monotonic())
    _janitor_start()


@worker_ready.connect
def _serve_metrics(**kwargs) -> None:
    """The worker's own `/metrics` (config/metrics.py) from its main process; with prefork,
    the children's figures reach it through PROMETHEUS_MULTIPROC_DIR."""
    from django.conf import settings

    if settings.CELERY_METRICS_PORT:
        from config.metrics import worker_metrics_serve

        worker_metrics_serve(port=settings.CELERY_METRICS_PORT)


@before_task_publish.connect
def _carry_log_context(headers=None, **kwargs) -> None:
    """A message carries the request id and trade ids bound where it is sent (core/log_context.py)."""
    if headers is not None:
        from core import log_context

        headers.update(log_context.message_headers())
