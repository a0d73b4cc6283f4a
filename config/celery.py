import os
import threading

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

from config import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Before the app makes its first connection: workers survive a Redis restart (config/broker.py).
broker.install()

app = Celery("copytrade")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Threads of this process whose connection is kept while they wait for work (thread ids).
_idle_holders: set[int] = set()
_idle_holders_lock = threading.Lock()


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
    from django.db import close_old_connections

    from core import log_context

    log_context.bind_from_task(kwargs["task"].request)
    with _idle_holders_lock:
        _idle_holders.discard(threading.get_ident())
    close_old_connections()


@task_postrun.connect
def _database_connection_after_task(**kwargs) -> None:
    """After every task: the thread keeps its connection for the next task only while fewer
    than DATABASE_IDLE_CONNECTIONS_PER_WORKER threads of this process keep one idle. A burst
    uses one connection per busy thread; once it is over, the process holds that many, not
    one per thread of its pool (docs/OPERATING.md, "Connection budget")."""
    if _eager(kwargs):
        return
    from django.conf import settings
    from django.db import close_old_connections, connection

    from core import log_context

    log_context.clear()
    close_old_connections()
    if connection.connection is None:
        return
    with _idle_holders_lock:
        keep = len(_idle_holders) < settings.DATABASE_IDLE_CONNECTIONS_PER_WORKER
        if keep:
            _idle_holders.add(threading.get_ident())
    if not keep:
        connection.close()


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
