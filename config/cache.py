"""Django's Redis cache with one redis-py client per connection pool instead of one per operation.

django.core.cache.backends.redis.RedisCacheClient.get_client builds a new `redis.Redis` for every cache
operation; redis-py's constructor fills its response-callback table each time, about 0.2 ms of Python
per get/set/add on this machine, more than the Redis round trip itself (measured with cProfile on the
heartbeat, issue #15). A `redis.Redis` is thread-safe and shares its pool, so one per pool is enough;
the pool itself still reconnects after a fork (redis-py checks the pid).
"""

from __future__ import annotations

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    """Same behaviour as Django's, with the `redis.Redis` of each pool built once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        """The redis-py client for the pool Django would pick (writes: the first server)."""
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients.setdefault(index, self._client(connection_pool=self._pools[index]))
        return client


class RedisCache(django_redis.RedisCache):
    """settings.CACHES backend `config.cache.RedisCache`: django's RedisCache with RedisCacheClient above."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
