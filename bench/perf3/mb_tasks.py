# ruff: noqa
import redis
from celery import shared_task
from django.db import connection
import os

_r = redis.Redis.from_url(os.environ["REDIS_URL"])

import os


@shared_task(bind=True, acks_late=not os.environ.get("MB_ACKS_EARLY"), reject_on_worker_lost=True, name="mb_tasks.mb_noop")
def mb_noop(self, i, token=None):
    with connection.cursor() as c:
        c.execute("select 1")
    _r.incr("mb:done")
