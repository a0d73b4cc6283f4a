"""A worker thread's database connection between tasks (config/celery.py): health-checked
(Django's CONN_HEALTH_CHECKS `SELECT 1`) when it waited for work, not when its previous task
ended a moment ago (a round trip more per order during a fan-out, bench/RESULTS.md)."""

import threading
from types import SimpleNamespace
from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from config import celery as worker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _unpark():
    yield
    with worker._idle_lock:
        worker._idle.pop(threading.get_ident(), None)


def _task():
    return SimpleNamespace(request=SimpleNamespace(is_eager=False))


def _run_task() -> list[str]:
    """One task's life in this thread, as the worker's signals see it: the SQL it sent,
    the health check's included."""
    sent = []
    wrapper = connections[DEFAULT_DB_ALIAS]
    real_is_usable = type(wrapper).is_usable

    def is_usable(self):
        sent.append("SELECT 1")
        return real_is_usable(self)

    with mock.patch.object(type(wrapper), "is_usable", is_usable):
        worker._database_connection_before_task(task=_task())
        with connection.cursor() as cursor:
            cursor.execute("SELECT 2")
        sent.append("SELECT 2")
        worker._database_connection_after_task(task=_task())
    return sent


def _age_idle_entry(seconds: float) -> None:
    with worker._idle_lock:
        worker._idle[threading.get_ident()].since -= seconds


def test_a_connection_used_a_moment_ago_is_not_checked_again_and_one_idle_for_longer_is():
    _run_task()  # the thread's connection is open and parked by the after-task signal
    assert _run_task() == ["SELECT 2"]
    _age_idle_entry(worker.HEALTH_CHECKED_WITHIN_SECONDS + 0.5)
    assert _run_task() == ["SELECT 1", "SELECT 2"]


def test_a_connection_that_died_while_parked_is_replaced_before_the_task_uses_it():
    _run_task()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        old_pid = cursor.fetchone()[0]
    connections[DEFAULT_DB_ALIAS].connection.close()  # as a server restart would leave it
    _age_idle_entry(worker.HEALTH_CHECKED_WITHIN_SECONDS + 0.5)
    assert _run_task() == ["SELECT 1", "SELECT 2"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid
