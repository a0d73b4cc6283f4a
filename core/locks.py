"""Locks shared across apps.

Row lock order, everywhere: the user row (`user_row_lock`), then strategies, then copies
(each by id; copytrade/locks.py is the one place that locks strategies and copies). A
follower's allocation-changing writes (copy start, allocation change) and an
exchange-account delete all take the user row first, so two of them never interleave.

`held_lock` is the cross-process mutex for work that is not a row (one exchange sync per
strategy, one attempt per leader signal): a Redis lock with an owner token.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.core.cache import cache
from redis.exceptions import LockError

logger = logging.getLogger(__name__)


def user_row_lock(*, user_id: int) -> None:
    """Lock a user's row until the surrounding transaction ends."""
    get_user_model().objects.select_for_update().only("pk").get(pk=user_id)


@contextmanager
def held_lock(name: str, *, timeout: float) -> Iterator[bool]:
    """Try once to hold the lock `name` for at most `timeout` seconds; yields whether it is held.

    redis-py's Lock stores a random token and releases only if the key still holds it: a
    holder slower than `timeout` has lost the lock, and its release must not delete the lock
    a second holder took since (a plain add-then-delete would). The key lives in the default
    cache's Redis, under its key prefix.
    """
    client = cache._cache.get_client(write=True)  # Django's RedisCache hands out its redis-py client
    lock = client.lock(cache.make_key(f"lock:{name}"), timeout=timeout, blocking=False)
    held = lock.acquire()
    try:
        yield held
    finally:
        if held:
            try:
                lock.release()
            except LockError:
                logger.warning("lock %s expired before its holder finished (held over %s s); another may hold it now", name, timeout)
