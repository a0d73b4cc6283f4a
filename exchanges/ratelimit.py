"""Order rate limits shared by every worker process: Redis token buckets (core.ratelimit).

Celery's own `rate_limit` task option is enforced per worker process, so N workers send
N times the rate and an exchange bans the account (or our IP). The limits here live in
Redis and hold across all workers and hosts.

One order takes a token from two buckets at once: the exchange account's (the exchange's
per-account order limit, global: an account is the same account from any host) and the
exchange's per-IP limit, atomically. The per-IP bucket is keyed by this host's egress
identity (`EXCHANGE_EGRESS_ID`, e.g. its public IP): worker hosts that leave through
different addresses each get the exchange's per-IP budget; hosts behind one NAT address
must share one id (the default, empty, is one bucket for the whole deployment).

Rates come from `settings.EXCHANGE_RATE_LIMITS[exchange_id]` (else `"default"`):
`{"account": (capacity, window_seconds), "exchange": (capacity, window_seconds)}`.
"""

from django.conf import settings

from core import metrics
from core.ratelimit import buckets_take


def rate_limits_for(exchange_id: str) -> dict[str, tuple[int, float]]:
    limits = settings.EXCHANGE_RATE_LIMITS.get(exchange_id) or settings.EXCHANGE_RATE_LIMITS["default"]
    return {scope: (int(limits[scope][0]), float(limits[scope][1])) for scope in ("account", "exchange")}


def reserve_order_slot(*, exchange_id: str, account_id: int, within: float, cost: int = 1) -> tuple[bool, float]:
    """(reserved, wait): with a wait of at most `within` seconds the tokens are taken now and
    the order may go after `wait` seconds (reserved; 0.0 is "at once"); with a longer wait
    nothing is taken and the caller comes back after `wait`. Waiters on one bucket are
    served in the order they asked, each at its slot, instead of all asking again at once.
    """
    limits = rate_limits_for(exchange_id)
    # The braces are a Redis Cluster hash tag: both keys land on one slot.
    buckets = [
        (f"ratelimit:{{{exchange_id}}}:account:{account_id}", *limits["account"]),
        (_egress_bucket(exchange_id), *limits["exchange"]),
    ]
    reserved, wait = buckets_take(buckets=buckets, cost=cost, reserve_within=within)
    if wait > 0:
        metrics.rate_limit_waited(exchange=exchange_id, seconds=wait, inline=reserved)
    return reserved, wait


def _egress_bucket(exchange_id: str) -> str:
    egress = settings.EXCHANGE_EGRESS_ID
    return f"ratelimit:{{{exchange_id}}}:exchange:{egress}" if egress else f"ratelimit:{{{exchange_id}}}:exchange"
