"""Order rate limits shared by every worker process: Redis token buckets.

Celery's own `rate_limit` task option is enforced per worker process, so N workers send
N times the rate and an exchange bans the account (or our IP). The limits here live in
Redis and hold across all workers and hosts.

One order takes a token from two buckets at once: the exchange account's (the exchange's
per-account order limit) and the exchange's (its per-IP limit, shared by all our accounts
there). A single Lua script checks and takes from all buckets atomically: either every
bucket has the tokens and all are taken, or nothing is taken and the caller learns how
long to wait until all would have them. Taking from one bucket and then failing on the
other would leak tokens. The script reads the clock with Redis `TIME`, so workers with
skewed clocks still share one notion of time.

A caller may instead reserve: a wait within its limit takes the tokens at once (a bucket
may go into debt) and the caller sleeps until its slot, so waiters are served in the order
they asked rather than all asking again at once (`reserve_order_slot`).

Rates come from `settings.EXCHANGE_RATE_LIMITS[exchange_id]` (else `"default"`):
`{"account": (capacity, window_seconds), "exchange": (capacity, window_seconds)}`. A bucket
holds at most `capacity` tokens and refills at `capacity / window` tokens per second; a
bucket left idle for a window is full again, so its key expires then.
"""

import functools

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


def rate_limits_for(exchange_id: str) -> dict[str, tuple[int, float]]:
    limits = settings.EXCHANGE_RATE_LIMITS.get(exchange_id) or settings.EXCHANGE_RATE_LIMITS["default"]
    return {scope: (int(limits[scope][0]), float(limits[scope][1])) for scope in ("account", "exchange")}


def acquire_order_slot(*, exchange_id: str, account_id: int, cost: int = 1) -> float:
    """Take `cost` tokens for one order; 0.0 when granted, else seconds to wait (nothing taken).

    A wait is not a failure: retry the task with that countdown.
    """
    reserved, wait = reserve_order_slot(exchange_id=exchange_id, account_id=account_id, within=0.0, cost=cost)
    return 0.0 if reserved else wait


def reserve_order_slot(*, exchange_id: str, account_id: int, within: float, cost: int = 1) -> tuple[bool, float]:
    """(reserved, wait): with a wait of at most `within` seconds the tokens are taken now and
    the order may go after `wait` seconds (reserved; 0.0 is "at once"); with a longer wait
    nothing is taken and the caller comes back after `wait`. Waiters on one bucket are
    served in the order they asked, each at its slot, instead of all asking again at once.
    """
    limits = rate_limits_for(exchange_id)
    for scope, (capacity, window) in limits.items():
        if not 0 < cost <= capacity:
            raise ValueError(f"cost {cost} can never fit the {scope} bucket of {exchange_id} (capacity {capacity})")
        if window <= 0:
            raise ValueError(f"{exchange_id} {scope} rate window must be positive, not {window}")
    # The braces are a Redis Cluster hash tag: both keys land on one slot, as a multi-key
    # script requires.
    keys = [f"ratelimit:{{{exchange_id}}}:account:{account_id}", f"ratelimit:{{{exchange_id}}}:exchange"]
    args = [cost, *limits["account"], *limits["exchange"], max(0.0, float(within))]
    reserved, wait = _take_tokens_script()(keys=keys, args=args)
    return bool(reserved), float(wait)
