"""The live-status JSON's and the heartbeat's fast path: answered before the rest of the middleware stack.

Every viewer of a live session polls `/s/<id>/status.json` (sessions_app.views.session_status). The
answer is one cached body, the same for everyone, yet through the full stack a poll pays for the
request guard, whitenoise, sessions, CSRF, auth, messages, the shop timezone, the clickjacking header,
the visitor cookie and the Content-Security-Policy: most of a poll's time (issue #15 measured the
poll at 0.86 of a bare page with the same stack). Like Django's own FetchFromCacheMiddleware, this
middleware sits near the top and answers from the cache:

- only `GET` of exactly that path with no query string, and only while the entry is *fresh*, or stale
  while another request holds its rebuild claim (pagecache.cached_unless_rebuild_due: it never claims
  a rebuild; a missing or just-deleted entry, e.g. after a control-room action, and a stale one nobody
  is rebuilding go down the full stack, which rebuilds it or answers 404; a process other than the one
  that deleted it sees that within PAGE_CACHE_LOCAL_SECONDS, pagecache's local copy). Serving the stale
  copy during the rebuild matters under threads: when every poll of that window took the full stack,
  the rebuild itself was starved of the GIL and the window grew (gthread measured 0.64 of a bare page);
- with the same body and the same headers: the headers are those the full stack gave this process's
  last full-stack poll answer (everything the inner middleware added; Content-Length, Date and cookies
  excepted), so the fast answer cannot drift from the slow one. Until a process has seen one, it
  takes the full stack. (Those headers are the same for every poll today: Content-Type, Cache-Control,
  CSP without a nonce, Permissions-Policy, X-Frame-Options. A middleware added below that sets a
  per-request header must add it to _NOT_LEARNED.);
- the poll still counts as watch evidence for the visitor's cookie (views.status_poll_answer).

The page's heartbeat (`POST /s/<id>/watching`, views.session_watching) is never cacheable, and at
10,000 viewers it is about 500 requests a second to the origin (tests/perf/bench_edge.py measures it):
a beat that carries a visitor cookie, with no query string, is answered here too, by the same code as
the view (views.watching_answer: 204 no-store, watch evidence, per-network cap on new watchers), with
the headers of the last full-stack beat; an unknown session, a newcomer without the cookie (who gets
it from the full stack) and anything else go down the whole stack.

It sits below SecurityMiddleware (HTTPS redirect, HSTS, nosniff still apply) and SharedResponseMiddleware.
"""

from __future__ import annotations

import re
import uuid

from django.urls import reverse
from django.utils import timezone

from analytics.middleware import COOKIE, is_visitor_id

from .pagecache import cached_unless_rebuild_due, status_cache_key
from .views import status_poll_answer, watching_answer

_NOT_LEARNED = frozenset({"content-length", "date", "set-cookie"})


class StatusFastPathMiddleware:
    """Answers fresh cached status polls (and heartbeats) without the inner middleware; learns their
    headers from the full stack."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.routes: dict[str, re.Pattern] | None = None
        self.headers: dict[str, list[tuple[str, str]]] = {}  # per route, learned from a full-stack answer

    def _match(self, path: str) -> tuple[str, str] | None:
        if self.routes is None:
            probe = uuid.UUID(int=0)
            uuid_re = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # Django's <uuid:>
            routes = {}
            for name in ("session_status", "session_watching"):
                prefix, suffix = reverse(f"sessions_app:{name}", kwargs={"public_id": probe}).split(str(probe))
                routes[name] = re.compile(f"^{re.escape(prefix)}({uuid_re}){re.escape(suffix)}$")
            self.routes = routes
        for name, pattern in self.routes.items():
            if found := pattern.match(path):
                return name, found.group(1)
        return None

    def _fast(self, request, route: str, public_id: str):
        if route == "session_status":
            if request.method != "GET":
                return None
            cached = cached_unless_rebuild_due(status_cache_key(public_id))
            return None if cached is None else status_poll_answer(request, cached, now=timezone.now())
        # a heartbeat: only from a visitor who has the cookie (a newcomer gets it from the full stack)
        if request.method != "POST" or not is_visitor_id(request.COOKIES.get(COOKIE)):
            return None
        return watching_answer(request, public_id)

    def __call__(self, request):
        matched = None
        if request.method in ("GET", "POST") and not request.META.get("QUERY_STRING"):
            matched = self._match(request.path_info)
        if matched is not None and matched[0] in self.headers:
            response = self._fast(request, *matched)
            if response is not None:
                for name, value in self.headers[matched[0]]:
                    response[name] = value
                response["Content-Length"] = str(len(response.content))  # what CommonMiddleware adds below
                return response
        response = self.get_response(request)
        learn = matched is not None and (
            (matched[0] == "session_status" and response.status_code == 200 and getattr(response, "shared", False))
            or (matched[0] == "session_watching" and response.status_code == 204)
        )
        if learn:
            self.headers[matched[0]] = [(k, v) for k, v in response.items() if k.lower() not in _NOT_LEARNED]
        return response
