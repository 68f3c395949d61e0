"""Rate limits for sample requests, counted in the shared store (commerce.ratelimit: Redis, or the database).

Fixed windows: at most SAMPLING_RATE_LIMIT_IP requests per client IP network (config.client_ip)
per 10 minutes (default 10) and SAMPLING_RATE_LIMIT_EMAIL per normalized e-mail per hour
(default 5). Both count every attempt, answered or refused. The private link of a request that
already exists is e-mailed again to the address on file at most SAMPLING_RESEND_LIMIT times per
hour (default 2); further attempts get the same answer and no e-mail.
"""

from __future__ import annotations

from django.conf import settings

from commerce.ratelimit import Limit, rate_limits_hit
from config.client_ip import client_network

IP_WINDOW_SECONDS = 600
EMAIL_WINDOW_SECONDS = 3600
RESEND_WINDOW_SECONDS = 3600


def rate_limit_hit(*, ip: str | None, email_normalized: str) -> str | None:
    """Count one attempt; returns "ip" or "email" when that limit is exceeded, else None."""
    ip_limit = int(getattr(settings, "SAMPLING_RATE_LIMIT_IP", 10))
    email_limit = int(getattr(settings, "SAMPLING_RATE_LIMIT_EMAIL", 5))
    exceeded = rate_limits_hit(
        [
            Limit("sampling:ip", client_network(ip), ip_limit, IP_WINDOW_SECONDS),
            Limit("sampling:email", email_normalized, email_limit, EMAIL_WINDOW_SECONDS),
        ]
    )
    if exceeded is None:
        return None
    return "ip" if exceeded.limit.name == "sampling:ip" else "email"


def resend_allowed(*, request_id: int) -> bool:
    """Count one re-send of a request's link; False when the hourly budget is spent."""
    limit = int(getattr(settings, "SAMPLING_RESEND_LIMIT", 2))
    return rate_limits_hit([Limit("sampling:resend", str(request_id), limit, RESEND_WINDOW_SECONDS)]) is None
