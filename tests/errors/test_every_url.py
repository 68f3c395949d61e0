"""Generated from the URL registry: every URL pattern, given a 70-bit number or a NUL byte where a
parameter goes, answers a 4xx (or a normal page), never a 500 — on PostgreSQL too.

New URL patterns are covered without anyone remembering to: the cases come from the resolver.
Each request runs in its own savepoint, so one database error cannot hide the next (PostgreSQL).
The admin is visited as a superuser with GET (its POSTs need a CSRF-valid form; the per-action
permission tests cover them). dj-stripe's own admin is left out: it is for superusers only and its
sync actions call Stripe (the staff stream's admin tests own it).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

HUGE = str(2**70)
NUL = "a%00b"
PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
SKIPPED_PREFIXES = ("/admin/djstripe/",)


def _value(converter: str, variant: str) -> str:
    if converter == "uuid":
        return str(uuid.UUID(int=2**122 - 1)) if variant == "huge" else "00000000-0000-0000-0000-00000000000%00"
    if converter == "slug":
        return "x" * 300 if variant == "huge" else NUL
    return HUGE if variant == "huge" else NUL  # int, id, str, path


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


def cases() -> list[str]:
    found = []
    for variant in ("huge", "nul"):
        for url in sorted(set(_urls(get_resolver().url_patterns, "/", variant))):
            if url.startswith(SKIPPED_PREFIXES):
                continue
            if variant == "nul" and NUL not in url and "%00" not in url:
                continue  # no parameter: the "huge" variant already visits it
            found.append(url)
    return found


def test_the_registry_is_walked():
    urls = cases()
    assert any(u.startswith("/admin/commerce/") for u in urls)
    assert "/cart/a%00b/" in urls
    assert f"/drops/{HUGE}/checkout/" in urls
    assert f"/api/v1/drops/{HUGE}" in urls


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


@pytest.mark.django_db
def test_every_url_survives_huge_numbers_and_nul_bytes():
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-0123")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    failures = []
    urls = cases()
    for url in urls:
        methods = ("get",) if url.startswith("/admin/") else ("get", "post")
        for method in methods:
            with transaction.atomic():
                sid = transaction.savepoint()
                response = getattr(client, method)(url)
                transaction.savepoint_rollback(sid)
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} -> {response.status_code}")
    assert len(urls) > 100
    assert failures == []
