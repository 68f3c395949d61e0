"""Generated from the URL registry: every URL pattern, given a 70-bit number or a NUL byte where a
parameter goes, answers a 4xx (or a normal page), never a 500 — on PostgreSQL too.

New URL patterns are covered without anyone remembering to: the cases come from the resolver.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

HUGE = str(2**70)
NUL = "a%00b"
PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _value(converter: str, variant: str) -> str:
    if converter == "uuid":
        return str(uuid.UUID(int=2**122 - 1)) if variant == "huge" else "00000000-0000-0000-0000-00000000000%00"
    if converter == "slug":
        return "x" * 300 if variant == "huge" else NUL
    if converter in ("int", "id"):
        return HUGE if variant == "huge" else NUL
    return HUGE if variant == "huge" else NUL  # str, path


def _route(pattern, variant: str) -> str | None:
    if isinstance(pattern, RoutePattern):
        return PARAM.sub(lambda m: _value(m["conv"] or "str", variant), str(pattern))
    if isinstance(pattern, RegexPattern):
        regex = str(pattern).lstrip("^").rstrip("$").replace("\\Z", "")
        return None if any(c in regex for c in "()[]*+?\\") else regex
    return None


def _urls(patterns, prefix: str, variant: str):
    for pattern in patterns:
        route = _route(pattern.pattern, variant)
        if route is None:
            continue
        if isinstance(pattern, URLResolver):
            yield from _urls(pattern.url_patterns, prefix + route, variant)
        elif isinstance(pattern, URLPattern):
            yield prefix + route


def _cases():
    cases = []
    for variant in ("huge", "nul"):
        for url in sorted(set(_urls(get_resolver().url_patterns, "/", variant))):
            if variant == "nul" and NUL not in url and "%00" not in url:
                continue  # no parameter: the "huge" variant already visits it
            cases.append(pytest.param(url, id=f"{variant}:{url}"))
    return cases


@pytest.fixture
def staff_client(db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-0123")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_the_registry_is_walked():
    urls = [c.values[0] for c in _cases()]
    assert any(u.startswith("/admin/") for u in urls)
    assert any(u.startswith("/cart/") for u in urls)
    assert f"/drops/{HUGE}/checkout/" in urls


def test_no_url_uses_the_unbounded_int_converter():
    """`<int:…>` passes any number of digits to the ORM; `<id:…>` stops at 2**63 - 1 (config.bounds)."""

    def walk(patterns, prefix=""):
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + route)
            elif isinstance(p.pattern, RoutePattern) and "<int:" in route:
                yield prefix + route

    assert list(walk(get_resolver().url_patterns)) == []


@pytest.mark.parametrize("url", _cases())
def test_every_url_survives_huge_numbers_and_nul_bytes(staff_client, url):
    for method in (staff_client.get, staff_client.post):
        response = method(url)
        assert response.status_code < 500, (url, method.__name__, response.status_code, response.content[:500])
