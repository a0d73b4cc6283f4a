"""The fan-out's execution messages (copytrade/services/fanout.py) are the ones Celery's
send_task writes: same task, arguments and argument repr, on the execution queue."""

import base64
import json

import redis
from celery import current_app
from django.conf import settings

from copytrade.services import fanout


def _messages(client) -> list[dict]:
    return [json.loads(raw) for raw in reversed(client.lrange(fanout.EXECUTION_QUEUE, 0, -1))]


def test_enqueued_messages_match_what_send_task_writes():
    client = redis.Redis.from_url(current_app.conf.broker_url)
    client.delete(fanout.EXECUTION_QUEUE)
    try:
        with current_app.producer_or_acquire() as producer:
            for copied_trade_id in (7, 123456789):
                current_app.send_task(fanout.EXECUTE_TASK, args=(copied_trade_id,), producer=producer)
        expected = _messages(client)
        client.delete(fanout.EXECUTION_QUEUE)

        fanout.copied_trades_enqueue([7, 123456789])

        got = _messages(client)
        assert len(got) == len(expected) == 2
        for mine, celery_s in zip(got, expected):
            for header in ("task", "argsrepr", "kwargsrepr", "retries", "eta"):
                assert mine["headers"][header] == celery_s["headers"][header]
            assert json.loads(base64.b64decode(mine["body"])) == json.loads(base64.b64decode(celery_s["body"]))
            assert mine["properties"]["delivery_info"] == celery_s["properties"]["delivery_info"]
        assert settings.CELERY_TASK_ROUTES[fanout.EXECUTE_TASK]["queue"] == fanout.EXECUTION_QUEUE
    finally:
        client.delete(fanout.EXECUTION_QUEUE)
