"""Fixed-window rate limits shared by every worker process (holds, the sample micro-form).

`rate_limits_hit(limits)` counts one attempt against each Limit in one round trip and
returns the first one exceeded (with the seconds until its window ends) or None.

Where the counters live (settings.RATE_LIMIT_STORE, env `RATE_LIMIT_STORE`):
- "redis" (the default when REDIS_URL is set): INCR + EXPIRE NX in one pipeline; shared by
  every process on every host.
- "database" (the default otherwise): an upsert on commerce_ratecounter, one statement
  for all the limits of an attempt; shared by every process using the database.
- "cache": the Django cache; with the local-memory cache that is per process (a limit of
  N per window becomes N × processes), so only for single-process setups and debugging.

Windows are fixed (aligned to multiples of `window` seconds since the epoch): a client can
make up to 2 × limit attempts around a window boundary, never more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

PRUNE_ONE_IN = 500  # database store: one call in this many deletes expired counters


@dataclass(frozen=True)
class Limit:
    """At most `limit` attempts per `window` seconds for the client `value` under `name`."""

    name: str
    value: str
    limit: int
    window: int

    def key(self, now: float) -> str:
        digest = hashlib.sha256(self.value.encode()).hexdigest()[:32]
        return f"rl:{self.name}:{digest}:{int(now // self.window)}"

    def retry_after(self, now: float) -> int:
        """Whole seconds until this limit's current window ends (at least 1)."""
        return max(1, math.ceil((int(now // self.window) + 1) * self.window - now))


@dataclass(frozen=True)
class Exceeded:
    limit: Limit
    retry_after: int


def store() -> str:
    configured = getattr(settings, "RATE_LIMIT_STORE", "") or ""
    if configured:
        return configured
    return "redis" if getattr(settings, "REDIS_URL", None) else "database"


def rate_limits_hit(limits: list[Limit], *, now: float | None = None) -> Exceeded | None:
    """Count one attempt against each limit (limits <= 0 are off); the first exceeded, or None."""
    active = [lim for lim in limits if lim.limit > 0 and lim.value]
    if not active:
        return None
    now = time.time() if now is None else now
    keys = [lim.key(now) for lim in active]
    kind = store()
    if kind == "redis":
        counts = _hit_redis(keys, active)
    elif kind == "database":
        counts = _hit_database(keys, active, now)
    else:
        counts = [_hit_cache(key, lim.window) for key, lim in zip(keys, active, strict=True)]
    for lim, count in zip(active, counts, strict=True):
        if count > lim.limit:
            return Exceeded(lim, lim.retry_after(now))
    return None


def _hit_cache(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        return 1


_redis_client = None


def _redis():
    global _redis_client  # noqa: PLW0603 - one connection pool per process
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client


def _hit_redis(keys: list[str], limits: list[Limit]) -> list[int]:
    pipe = _redis().pipeline(transaction=False)
    for key, lim in zip(keys, limits, strict=True):
        pipe.incr(f"mm:{key}")
        pipe.expire(f"mm:{key}", lim.window + 1, nx=True)
    return [int(n) for n in pipe.execute()[::2]]


def _hit_database(keys: list[str], limits: list[Limit], now: float) -> list[int]:
    rows = []
    params: list = []
    for key, lim in zip(keys, limits, strict=True):
        rows.append("(%s, 1, %s)")
        params += [key, dt.datetime.fromtimestamp((int(now // lim.window) + 1) * lim.window, tz=dt.UTC)]
    sql = (
        "INSERT INTO commerce_ratecounter (key, hits, expires_at) VALUES "  # noqa: S608 - placeholders only
        + ", ".join(rows)
        + " ON CONFLICT (key) DO UPDATE SET hits = commerce_ratecounter.hits + 1 RETURNING key, hits"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = dict(cursor.fetchall())
        if random.randrange(PRUNE_ONE_IN) == 0:  # noqa: S311 - not security relevant
            cursor.execute(
                "DELETE FROM commerce_ratecounter WHERE expires_at < %s",
                [dt.datetime.fromtimestamp(now, tz=dt.UTC)],
            )
    return [found[key] for key in keys]
