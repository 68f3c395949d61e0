"""Abuse limits on hold placement: who the client is, how often it may try, how much it may hold.

- `HoldClient` names the client: its IP network (config.client_ip, behind trusted proxies only),
  its visitor cookie, or the partner API key it came through (with the end customer's IP when the
  partner forwards it in settings.HOLD_API_CLIENT_IP_HEADER).
- `hold_rate_limit_check` counts one attempt per identity (over all drops and on this drop) in the
  shared store (commerce.ratelimit) and raises RateLimited(retry_after=…) when one is over.
- `hold_client_cap` is how many units one client may hold or buy on a drop across every e-mail;
  commerce.locks enforces it in the database in the hold's own transaction.

Defaults and reasons are in docs/abuse-limits.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings

from config.client_ip import client_ip, client_network

from .exceptions import RateLimited
from .ratelimit import Limit, rate_limits_hit


@dataclass(frozen=True)
class HoldClient:
    """Who places a hold. `key` is what the per-client cap counts ('' = no cap).

    `namespace` keeps identities that a partner asserts (its end customer's IP) apart from the
    storefront's: a partner's key can never spend a storefront visitor's rate limit or cap, whatever
    address it forwards (QA: a key locked venue Wi-Fi buyers out by forwarding their IP).
    """

    ip_network: str = ""
    visitor_id: str = ""
    api_key_id: int | None = None
    namespace: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}ip:{self.ip_network}" if self.ip_network else ""


def hold_client_from_request(request) -> HoldClient:
    """A storefront viewer: the IP network the request came from and the visitor cookie."""
    return HoldClient(
        ip_network=client_network(client_ip(request)),
        visitor_id=getattr(request, "visitor_id", None) or "",
    )


def hold_client_from_api(request) -> HoldClient:
    """A partner API call: the API key, plus the end customer's IP if the partner forwards it.

    Every key is issued by the shop to a known partner, so the forwarded address is believed
    (a partner could only lie to weaken limits on its own key, which keeps its per-key limit).
    Without it the per-client cap does not apply (one partner storefront serves many people).
    """
    api_key = getattr(request, "auth", None)
    forwarded = (
        request.headers.get(settings.HOLD_API_CLIENT_IP_HEADER, "") if settings.HOLD_API_CLIENT_IP_HEADER else ""
    )
    return HoldClient(
        ip_network=client_network(forwarded[:64]),
        api_key_id=getattr(api_key, "pk", None),
        namespace=f"p{api_key.partner_id}:" if api_key is not None else "partner:",
    )


def hold_rate_limit_check(*, client: HoldClient, drop_id: int) -> None:
    """Count one hold attempt for every identity of `client`; raise RateLimited if one is over its limit."""
    window = settings.HOLD_RATE_WINDOW_SECONDS
    per_client, per_drop = settings.HOLD_RATE_LIMIT_CLIENT, settings.HOLD_RATE_LIMIT_CLIENT_DROP
    limits: list[Limit] = []
    for kind, value in (("ip", client.ip_network), ("vid", client.visitor_id)):
        if value:
            value = client.namespace + value
            limits.append(Limit(f"hold:{kind}", value, per_client, window))
            limits.append(Limit(f"hold:{kind}:drop", f"{value}|{drop_id}", per_drop, window))
    if client.api_key_id is not None:
        limits.append(Limit("hold:key", str(client.api_key_id), settings.HOLD_RATE_LIMIT_API_KEY, window))
    exceeded = rate_limits_hit(limits)
    if exceeded is not None:
        raise RateLimited(
            f"Too many tries in a short time. Please try again in {exceeded.retry_after} seconds.",
            retry_after=exceeded.retry_after,
        )


def hold_client_cap(*, quantity: int, per_customer_limit: int) -> int | None:
    """Units one client may hold or buy on a drop of `quantity` units; None when no cap is configured.

    The smaller of HOLD_CLIENT_SHARE_PERCENT of the quantity (rounded up) and HOLD_CLIENT_MAX_UNITS,
    whichever are set, but never below the per-customer limit (one honest buyer is never refused).
    """
    caps = []
    if settings.HOLD_CLIENT_SHARE_PERCENT > 0:
        caps.append(math.ceil(quantity * settings.HOLD_CLIENT_SHARE_PERCENT / 100))
    if settings.HOLD_CLIENT_MAX_UNITS > 0:
        caps.append(settings.HOLD_CLIENT_MAX_UNITS)
    if not caps:
        return None
    return max(min(caps), per_customer_limit)
