"""Vetting: a risk score (0–100) for a request once its address is known.

Signals and points (RISK_POINTS), summed and capped at 100:
- `disposable_email`: the domain is on the maintained `disposable-email-domains`
  blocklist (the PyPI package, updated with its upstream list) — 50;
- `many_from_ip`: 3 or more requests of this campaign from the same IP in 24 h — 20;
- `many_to_address`: the same household key requested in 2 or more *other*
  campaigns in the last 30 days — 20;
- `country_mismatch`: the IP's country (CDN header) differs from the shipping country — 25;
- `velocity`: the same person requested samples of 2 or more other campaigns in 7 days — 15.
A campaign with a `vetting_threshold` sends requests scoring at or above it to the review queue.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from .models import SampleRequest

RISK_POINTS = {
    "disposable_email": 50,
    "many_from_ip": 20,
    "many_to_address": 20,
    "country_mismatch": 25,
    "velocity": 15,
}
IP_WINDOW = dt.timedelta(hours=24)
IP_LIMIT = 3
ADDRESS_WINDOW = dt.timedelta(days=30)
ADDRESS_LIMIT = 2
VELOCITY_WINDOW = dt.timedelta(days=7)
VELOCITY_LIMIT = 2


@lru_cache(maxsize=1)
def _disposable_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def is_disposable_domain(email: str) -> bool:
    """True when the address' domain (or a parent domain) is a known disposable-mail provider."""
    domain = email.rpartition("@")[2].lower()
    parts = domain.split(".")
    return any(".".join(parts[i:]) in _disposable_domains() for i in range(len(parts) - 1))


def risk_score(*, request: SampleRequest, now: dt.datetime) -> tuple[int, list[str]]:
    """(score 0–100, signal names) for a request whose address fields are set."""
    reasons: list[str] = []
    others = SampleRequest.objects.exclude(pk=request.pk)
    if is_disposable_domain(request.email_normalized):
        reasons.append("disposable_email")
    if request.ip and (
        others.filter(campaign_id=request.campaign_id, ip=request.ip, created_at__gte=now - IP_WINDOW).count() + 1
        >= IP_LIMIT
    ):
        reasons.append("many_from_ip")
    if request.household_key and (
        others.filter(household_key=request.household_key, created_at__gte=now - ADDRESS_WINDOW)
        .exclude(campaign_id=request.campaign_id)
        .count()
        >= ADDRESS_LIMIT
    ):
        reasons.append("many_to_address")
    if request.geo_country and request.ship_country and request.geo_country.upper() != request.ship_country.upper():
        reasons.append("country_mismatch")
    if (
        others.filter(email_normalized=request.email_normalized, created_at__gte=now - VELOCITY_WINDOW)
        .exclude(campaign_id=request.campaign_id)
        .count()
        >= VELOCITY_LIMIT
    ):
        reasons.append("velocity")
    return min(sum(RISK_POINTS[r] for r in reasons), 100), reasons
