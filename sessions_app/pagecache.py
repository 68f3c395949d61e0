"""Shared caching for the pages a live spike hits: fresh for N seconds, refreshed by one request.

A plain cache entry that expires makes every request arriving in that instant rebuild it at once
(a thousand viewers poll the status JSON every second). Here an entry carries its own freshness:
when it goes stale, the first request to claim it (`cache.add`, atomic on Redis and in-process)
rebuilds it while every other request keeps getting the previous value, at most a rebuild's time old.

In front of the shared cache (Redis in every deployment) each process keeps the entries it read for
settings.PAGE_CACHE_LOCAL_SECONDS (0.5 s; 0 turns it off, as the test settings do): a spike's thousands
of requests per second then cost each process about two Redis reads a second per URL instead of one
per request (a Redis round trip took the status JSON from 1.8 to 0.8 of a bare page, issue #15). A
local copy is used only while the entry is itself fresh, and `cache_store`/`cache_forget` replace or
drop it in the process that made the change; another process may serve a replaced or forgotten entry
for up to that half second longer, less than the max-age a CDN in front is allowed anyway.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.cache import patch_cache_control

from commerce.memberships.identity import MEMBER_COOKIE

# A request with any of these gets a rendering of its own, never the shared copy: a Django session (staff:
# the "Back office" link), pending messages. Pages whose HTML is the same for members and non-members (the
# session page, whose member parts js/member.js fills in from `session_me`, and the home page) use these.
ACCOUNT_COOKIES = (settings.SESSION_COOKIE_NAME, "messages")
# Pages that still render a member's parts on the server (replay, clip) also treat a member pass as personal.
PERSONAL_COOKIES = (*ACCOUNT_COOKIES, MEMBER_COOKIE)
CLAIM_SECONDS = 5  # a rebuild that dies leaves its claim this long before another request retries
KEEP_FACTOR = 30  # a stale value is kept this many freshness periods for concurrent requests


def status_cache_key(public_id) -> str:
    """A session's status JSON entry: (fresh_until, (pk, status, body, members_only)); sessions_app.views."""
    return f"session-status:{public_id}"


def page_cache_key(public_id) -> str:
    """A session page's shared copy: (fresh_until, (pk, html)); sessions_app.views.session_page."""
    return f"session-page:{public_id}"


_local: dict[str, tuple[float, tuple[float, Any]]] = {}  # key → (kept until, monotonic; the shared entry)
_LOCAL_MAX_KEYS = 1000
# key → monotonic time until which this process saw another request holding the key's rebuild claim: it
# serves its local (stale) copy meanwhile instead of asking the shared cache on every request
_rebuilding: dict[str, float] = {}
REBUILD_RECHECK_SECONDS = 0.05


def _stale_while_rebuilt_elsewhere(key: str) -> Any | None:
    """This process's copy of `key` while it recently saw another request rebuilding it, else None."""
    if _rebuilding.get(key, 0.0) > time.monotonic() and (kept := _local.get(key)) is not None:
        return kept[1][1]
    return None


def _note_rebuilt_elsewhere(key: str) -> None:
    if len(_rebuilding) >= _LOCAL_MAX_KEYS:
        _rebuilding.clear()
    _rebuilding[key] = time.monotonic() + REBUILD_RECHECK_SECONDS


def cached_entry(key: str, *, stale_ok_seconds: float = 0.0) -> tuple[float, Any] | None:
    """The shared cache's entry (fresh_until as epoch seconds, value) for `key`, or None; read through the
    process-local copy (module docstring) while that copy is fresh and the entry is fresh or, for a
    reader that accepts it, stale by at most `stale_ok_seconds`."""
    local_seconds = settings.PAGE_CACHE_LOCAL_SECONDS
    if local_seconds > 0:
        kept = _local.get(key)
        if kept is not None and kept[0] > time.monotonic() and kept[1][0] > time.time() - stale_ok_seconds:
            return kept[1]
    entry = cache.get(key)
    if local_seconds > 0:
        if entry is None:
            _local.pop(key, None)
        else:
            if len(_local) >= _LOCAL_MAX_KEYS:
                _local.clear()
            _local[key] = (time.monotonic() + local_seconds, entry)
    return entry


def cached_or_claim(key: str) -> Any | None:
    """The cached value if fresh, or stale while another request rebuilds it; None = the caller rebuilds.

    A caller that gets None must call `cache_store(key, …)` (or let its claim lapse after
    CLAIM_SECONDS when it cannot build the value).
    """
    if (value := _stale_while_rebuilt_elsewhere(key)) is not None:
        return value
    entry = cached_entry(key)
    if entry is None:
        return None
    fresh_until, value = entry
    if fresh_until > time.time():
        return value
    if not cache.add(f"{key}:claim", 1, CLAIM_SECONDS):
        _note_rebuilt_elsewhere(key)
        return value
    return None


def cached_unless_rebuild_due(key: str) -> Any | None:
    """For read-only fast paths: the value while it is fresh, or while it is stale and another request
    holds its rebuild claim (the stale value cached_or_claim gives every request but the rebuilder);
    None when nothing is cached or a rebuild is due and unclaimed (the caller goes the full way, which
    claims it). Never claims. While another request rebuilds, this process asks the shared cache again
    at most every REBUILD_RECHECK_SECONDS (0.05 s) and serves its local copy in between."""
    if (value := _stale_while_rebuilt_elsewhere(key)) is not None:
        return value
    entry = cached_entry(key)
    if entry is None:
        return None
    if entry[0] > time.time():
        return entry[1]
    if cache.get(f"{key}:claim") is None:
        return None
    _note_rebuilt_elsewhere(key)
    return entry[1]


def cached_fresh(key: str) -> Any | None:
    """The cached value while it is fresh, else None; never claims a rebuild (read-only fast paths)."""
    entry = cached_entry(key)
    if entry is None or entry[0] <= time.time():
        return None
    return entry[1]


def cache_store(key: str, value: Any, fresh_seconds: float) -> None:
    """Store `value` as fresh for `fresh_seconds` (kept longer, stale, for requests racing a rebuild)."""
    entry = (time.time() + fresh_seconds, value)
    cache.set(key, entry, max(int(fresh_seconds * KEEP_FACTOR), 60))
    cache.delete(f"{key}:claim")
    _rebuilding.pop(key, None)
    if settings.PAGE_CACHE_LOCAL_SECONDS > 0:
        _local[key] = (time.monotonic() + settings.PAGE_CACHE_LOCAL_SECONDS, entry)


def cache_forget(*keys: str) -> None:
    """Drop entries from the shared cache and this process's copies: the next request rebuilds them."""
    cache.delete_many(keys)
    for key in keys:
        _local.pop(key, None)
        _rebuilding.pop(key, None)


def request_gets_shared_copy(request, *, personal: tuple[str, ...] = PERSONAL_COOKIES) -> bool:
    """True when the request carries none of the `personal` cookie names (default PERSONAL_COOKIES; pages
    the same for members pass ACCOUNT_COOKIES): it gets (and may make) the shared copy. A name counts
    whatever its value, empty included (as nginx's map in config/deploy/nginx.conf section 5 does)."""
    return not any(name in request.COOKIES for name in personal)


def response_shared(response, *, max_age: int):
    """Mark `response` as the same for everyone: `Cache-Control: public, max-age=<max_age>` (seconds),
    so a CDN or the nginx micro-cache (config/deploy/nginx.conf section 5) may keep it that long, and
    SharedResponseMiddleware strips its cookies and `Vary: Cookie`. Returns the response."""
    response.shared = True
    patch_cache_control(response, public=True, max_age=max_age)
    return response


def response_private(response):
    """Mark `response` as personal: `Cache-Control: private, max-age=0`, no shared cache may keep it."""
    patch_cache_control(response, private=True, max_age=0)
    return response


class SharedResponseMiddleware:
    """Outermost middleware: shared responses (`response_shared`) leave without cookies or Vary: Cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(response, "shared", False):
            response.cookies.clear()
            vary = [v.strip() for v in response.get("Vary", "").split(",") if v.strip()]
            if any(v.lower() == "cookie" for v in vary):
                remaining = [v for v in vary if v.lower() != "cookie"]
                if remaining:
                    response["Vary"] = ", ".join(remaining)
                else:
                    del response["Vary"]
        return response
