"""Rate limits shared by every process and host: Redis token buckets, taken atomically.

One Lua script checks and takes from several buckets at once: either every bucket has the
tokens and all are taken, or nothing is taken and the caller learns how long to wait until
all would have them (taking from one bucket and then failing on the other would leak
tokens). The script reads the clock with Redis `TIME`, so processes with skewed clocks
share one notion of time. A bucket holds at most `capacity` tokens and refills at
`capacity / window` tokens per second; an idle bucket is full again after a window, so its
key expires then. Check-and-take is one script: a burst of parallel requests cannot all
pass a check before any of them takes (as a read-then-write cache throttle would let them).

A caller may instead reserve: a wait within its limit takes the tokens at once (a bucket
may go into debt) and the caller sleeps until its slot, so waiters are served in the order
they asked rather than all asking again at once.
"""

import functools
import re

import redis
from django.conf import settings

_TAKE_TOKENS = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local cost = tonumber(ARGV[1])
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
    local capacity = tonumber(ARGV[2 * i])
    local window = tonumber(ARGV[2 * i + 1])
    local rate = capacity / window
    local state = redis.call('HMGET', key, 'tokens', 'at')
    local tokens = tonumber(state[1])
    local at = tonumber(state[2])
    if tokens == nil or at == nil then
        tokens = capacity
    else
        tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
    end
    levels[i] = tokens
    if tokens < cost then
        wait = math.max(wait, (cost - tokens) / rate)
    end
end
-- A wait within the reservation limit takes the tokens now (a bucket may go below zero):
-- the caller owns the slot at now + wait, and whoever asks next waits behind it.
local reserve_within = tonumber(ARGV[2 * #KEYS + 2])
if wait > 0 and wait > reserve_within then
    return {0, tostring(wait)}
end
for i, key in ipairs(KEYS) do
    local capacity = tonumber(ARGV[2 * i])
    local window = tonumber(ARGV[2 * i + 1])
    local left = levels[i] - cost
    redis.call('HSET', key, 'tokens', tostring(left), 'at', tostring(now))
    -- Kept until it would be full again (longer than a window when in debt).
    redis.call('PEXPIRE', key, math.ceil(math.max(window, (capacity - left) * window / capacity) * 1000))
end
return {1, tostring(wait)}
"""


@functools.cache
def _take_tokens_script():
    # One pool per process; redis-py replaces its connections after a fork (Celery prefork).
    client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(settings.REDIS_URL))
    return client.register_script(_TAKE_TOKENS)


def buckets_take(*, buckets: list[tuple[str, int, float]], cost: int = 1, reserve_within: float = 0.0) -> tuple[bool, float]:
    """Take `cost` tokens from every `(key, capacity, window_seconds)` bucket, or from none.

    (taken, wait): taken with wait 0.0 is "go now"; taken with a wait up to `reserve_within`
    reserved the slot `wait` seconds from now; not taken: come back after `wait` seconds.
    In Redis Cluster the keys must share a hash tag (`{...}`), as a multi-key script requires.
    """
    args: list = [cost]
    for key, capacity, window in buckets:
        if not 0 < cost <= capacity:
            raise ValueError(f"cost {cost} can never fit the bucket {key} (capacity {capacity})")
        if window <= 0:
            raise ValueError(f"the window of bucket {key} must be positive, not {window}")
        args += [capacity, window]
    args.append(max(0.0, float(reserve_within)))
    taken, wait = _take_tokens_script()(keys=[key for key, _, _ in buckets], args=args)
    return bool(taken), float(wait)


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_PERIOD_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, float]:
    """ "120/min" -> (120, 60.0): DRF's throttle rate notation, as the settings write them."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"a rate is '<number>/<s|min|hour|day>', not {rate!r}")
    return int(match.group(1)), float(_PERIOD_SECONDS[match.group(2)])


def rate_limit_take(*, key: str, rate: str) -> float:
    """One request against `rate` ("120/min") for `key`: 0.0 when allowed, else the seconds
    until it would be (nothing taken)."""
    capacity, window = parse_rate(rate)
    taken, wait = buckets_take(buckets=[(f"throttle:{{{key}}}", capacity, window)])
    return 0.0 if taken else wait
