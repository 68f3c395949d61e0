"""config.cache.RedisCache: Django's Redis cache, one redis-py client per pool instead of one per call."""

from __future__ import annotations

import os
import threading

import pytest
import redis

from config.cache import RedisCache


@pytest.fixture
def backend():
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("needs Redis on 127.0.0.1:6379 (CI starts it)")
    cache = RedisCache(url, {"KEY_PREFIX": "cachetest"})
    cache.clear()
    yield cache
    cache.clear()


def test_one_client_per_pool_and_the_cache_behaves_as_djangos(backend):
    client = backend._cache.get_client(write=True)
    assert backend._cache.get_client() is client and backend._cache.get_client("k", write=True) is client
    assert backend.add("k", {"a": 1}, 60) and not backend.add("k", 2, 60)
    assert backend.get("k") == {"a": 1}
    backend.set("n", 1, 60)
    assert backend.incr("n", 5) == 6
    backend.delete("k")
    assert backend.get("k", "gone") == "gone"
    assert backend.get_many(["n", "k"]) == {"n": 6}


def test_threads_share_the_client_safely(backend):
    errors = []

    def work(i):
        try:
            for j in range(200):
                backend.set(f"t{i}:{j}", j, 60)
                assert backend.get(f"t{i}:{j}") == j
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert backend._cache.get_client()  # still one client
    assert len(backend._cache._clients) == 1
