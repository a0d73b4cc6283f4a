"""config/broker.py: a Redis broker channel builds one synchronous client for its pool, not
one per publish or acknowledgement (bench/RESULTS.md, "Performance III")."""

from django.conf import settings
from kombu import Connection

from config import broker


def test_a_channel_reuses_its_client_until_its_pool_is_replaced_and_still_publishes():
    broker.install()
    with Connection(settings.REDIS_URL) as connection:  # the test Redis (config/settings/test.py)
        channel = connection.default_channel
        assert isinstance(channel, broker.RedisChannel)
        first = channel._create_client()
        assert channel._create_client() is first
        assert channel._create_client(asynchronous=True) is not first

        queue = connection.SimpleQueue("test-broker-client")
        queue.clear()
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}

        channel._disconnect_pools()  # what closing the channel does
        second = channel._create_client()
        assert second is not first and second.connection_pool is channel.pool
        assert second.ping()
        queue.close()
