"""The client's IP address, the one place that reads REMOTE_ADDR and X-Forwarded-For.

Behind proxies the peer (REMOTE_ADDR) is the last proxy, and X-Forwarded-For is a
list each proxy appended to: `client, proxy1, proxy2`. Anyone can send that header,
so only hops added by our own proxies count: settings.TRUSTED_PROXIES lists their
networks (CIDRs, env `TRUSTED_PROXIES`, e.g. "127.0.0.1/32,10.0.0.0/8"). The walk
starts at the peer and moves right to left while the hop is a trusted proxy; the
first untrusted address is the client. With no trusted proxies (the default) the
header is ignored and the client is REMOTE_ADDR.

`client_network(ip)` is the identity rate limits and caps use: the IPv4 address,
or the IPv6 /64 (one subscriber line usually gets a whole /64, so counting single
IPv6 addresses would let one client rotate through 2^64 of them).
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in spec if cidr.strip())


def trusted_networks() -> tuple:
    """settings.TRUSTED_PROXIES parsed (a list of CIDRs or single addresses)."""
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))


def _parse(value: str) -> IPAddress | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.9:5123"
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


def _trusted(ip: IPAddress, networks: tuple) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_ip(request) -> str | None:
    """The client's IP address as a string (see the module doc), or None when the peer is unknown."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    networks = trusted_networks()
    if not networks or not _trusted(peer, networks):
        return str(peer)
    client = peer
    header = request.META.get("HTTP_X_FORWARDED_FOR") or ""
    for hop in reversed(header.split(",")):
        ip = _parse(hop)
        if ip is None:  # garbage before our proxies' part: the last hop we trust is all we know
            break
        client = ip
        if not _trusted(ip, networks):
            break
    return str(client)


def client_network(ip: str | None) -> str:
    """The rate-limit identity of an address: "203.0.113.9", "2001:db8:1:2::/64"; '' when unknown."""
    parsed = _parse(ip or "")
    if parsed is None:
        return ""
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
