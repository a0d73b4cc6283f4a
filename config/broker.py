"""The Redis broker transport, with the one fix workers need to survive a Redis restart.

The crash (issue 15; the code path of celery/kombu#582 and #970): when the broker connection
drops, Celery's consumer (celery 5.7, `on_connection_error_after_connected`) first
`collect()`s the connection, which tries to close its channel (that fails: Redis is down,
and the error is swallowed, so the channel is not marked closed) and then detaches the
transport from the connection (`transport.client = None`); then it closes the connection
once more. That second close closes the channel again, which restores the unacknowledged
messages (acks_late: every task in flight has one), which builds a Redis client from
`transport.client.hostname`: AttributeError, not a connection error, so nothing swallows
it and the worker exits ("Unrecoverable error"). It happens whenever Redis goes away while
a task is in flight; celery 5.7.0 and kombu 5.7.0 are the newest releases, so there is no
version to pin that fixes it.

Fixed here: a channel whose connection was detached raises a ConnectionError (what a Redis
that is down raises anyway), which the close path swallows; the consumer then reconnects
as it does for any lost connection. The messages it could not restore were in flight and
stay in Redis's unacked set, which kombu restores after the visibility timeout; the copied
trades they carried are the sweeper's, within seconds (copytrade/services/sweeper.py).

Also: one synchronous Redis client per channel instead of one per operation. kombu builds a
`redis.Redis` (on the channel's shared connection pool) for every publish, every delivery's
unacked-set entry and every acknowledgement, and building one costs about 100 us of CPU
(its response-callback table): two per follower order in an execution worker, one per order
in the fan-out worker (bench/RESULTS.md, "Performance III"). A client is thread-safe and
holds no connection of its own, so the channel keeps one for as long as its pool lives.

Installed for the `redis://` and `rediss://` schemes by config/celery.py (kombu's transport
aliases), so a RabbitMQ broker URL is untouched.
"""

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class RedisChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed; this channel cannot reconnect")
        return super()._connparams(asynchronous=asynchronous)

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool  # a closed channel's pool is gone: a new one is a new client
        client = self.__dict__.get("_sync_client")
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()
        return client


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def install() -> None:
    from kombu.transport import TRANSPORT_ALIASES

    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = "config.broker:RedisTransport"
