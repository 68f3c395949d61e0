"""config.client_ip: X-Forwarded-For is believed only for hops our trusted proxies appended."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from config.client_ip import client_ip, client_network


def req(remote: str, xff: str | None = None):
    meta = {"REMOTE_ADDR": remote}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **meta)


def test_without_trusted_proxies_a_spoofed_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(req("198.51.100.7", "203.0.113.1")) == "198.51.100.7"


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]
    assert client_ip(req("198.51.100.7", "203.0.113.1, 10.0.0.5")) == "198.51.100.7"


def test_walks_from_the_right_over_trusted_proxies_only(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]
    # the client typed "1.2.3.4" in its own header; our nginx (10.0.0.5) appended the real peer
    assert client_ip(req("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.5")) == "198.51.100.7"
    assert client_ip(req("127.0.0.1", "198.51.100.7")) == "198.51.100.7"
    assert client_ip(req("127.0.0.1")) == "127.0.0.1"  # no header: the proxy is all we know


def test_garbage_stops_the_walk_at_the_last_trusted_hop(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]
    assert client_ip(req("127.0.0.1", "evil, 10.0.0.5")) == "10.0.0.5"
    assert client_ip(req("127.0.0.1", "1.2.3.4, not-an-ip")) == "127.0.0.1"
    assert client_ip(req("127.0.0.1", "\x00, ")) == "127.0.0.1"


def test_ports_brackets_and_mapped_addresses(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert client_ip(req("127.0.0.1", "198.51.100.7:5123")) == "198.51.100.7"
    assert client_ip(req("127.0.0.1", "[2001:db8::1]:443")) == "2001:db8::1"
    assert client_ip(req("::ffff:198.51.100.7")) == "198.51.100.7"
    assert client_ip(req("")) is None


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("", ""),
        (None, ""),
        ("nonsense", ""),
    ],
)
def test_client_network_groups_ipv6_by_64(ip, network):
    assert client_network(ip) == network
