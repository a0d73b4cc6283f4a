import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_ready

from config import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Before the app makes its first connection: workers survive a Redis restart (config/broker.py).
broker.install()

app = Celery("copytrade")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(**kwargs) -> None:
    """Around every task, as Django does around every request: close this thread's
    connections only when broken or older than CONN_MAX_AGE (health-checked on reuse).

    Celery's own Django fixup would close them before and after every task (see
    CELERY_DB_REUSE_MAX in settings), a new PostgreSQL connection per follower order.
    """
    if kwargs.get("task") is not None and getattr(kwargs["task"].request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_ready.connect
def _serve_metrics(**kwargs) -> None:
    """The worker's own `/metrics` (config/metrics.py) from its main process; with prefork,
    the children's figures reach it through PROMETHEUS_MULTIPROC_DIR."""
    from django.conf import settings

    if settings.CELERY_METRICS_PORT:
        from config.metrics import worker_metrics_serve

        worker_metrics_serve(port=settings.CELERY_METRICS_PORT)
