"""Rate limits for sample requests, kept in the Django cache (local memory, or Redis in production).

Fixed windows: at most SAMPLING_RATE_LIMIT_IP requests per IP address per 10
minutes (default 10) and SAMPLING_RATE_LIMIT_EMAIL per normalized e-mail per
hour (default 5). Both count every attempt, answered or refused.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

IP_WINDOW_SECONDS = 600
EMAIL_WINDOW_SECONDS = 3600


def _hit(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def rate_limit_hit(*, ip: str | None, email_normalized: str) -> str | None:
    """Count one attempt; returns "ip" or "email" when that limit is exceeded, else None."""
    ip_limit = int(getattr(settings, "SAMPLING_RATE_LIMIT_IP", 10))
    email_limit = int(getattr(settings, "SAMPLING_RATE_LIMIT_EMAIL", 5))
    if ip and _hit(f"sampling:rl:ip:{ip}", IP_WINDOW_SECONDS) > ip_limit:
        return "ip"
    digest = hashlib.sha256(email_normalized.encode()).hexdigest()[:32]
    if _hit(f"sampling:rl:email:{digest}", EMAIL_WINDOW_SECONDS) > email_limit:
        return "email"
    return None
