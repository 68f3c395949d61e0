"""The live-status JSON's fast path: a fresh cached poll answered before the rest of the middleware stack.

Every viewer of a live session polls `/s/<id>/status.json` (sessions_app.views.session_status). The
answer is one cached body, the same for everyone, yet through the full stack a poll pays for the
request guard, whitenoise, sessions, CSRF, auth, messages, the shop timezone, the clickjacking header,
the visitor cookie and the Content-Security-Policy: most of a poll's time (issue #15 measured the
poll at 0.86 of a bare page with the same stack). Like Django's own FetchFromCacheMiddleware, this
middleware sits near the top and answers from the cache:

- only `GET` of exactly that path with no query string, and only while the entry is *fresh*
  (pagecache.cached_fresh: it never claims a rebuild; a stale, missing or just-deleted entry, e.g.
  after a control-room action, goes down the full stack, which rebuilds it or answers 404);
- with the same body and the same headers: the headers are those the full stack gave this process's
  last full-stack poll answer (everything the inner middleware added; Content-Length, Date and cookies
  excepted), so the fast answer cannot drift from the slow one. Until a process has seen one, it
  takes the full stack. (Those headers are the same for every poll today: Content-Type, Cache-Control,
  CSP without a nonce, Permissions-Policy, X-Frame-Options. A middleware added below that sets a
  per-request header must add it to _NOT_LEARNED.);
- the poll still counts as watch evidence for the visitor's cookie (views.status_poll_answer).

It sits below SecurityMiddleware (HTTPS redirect, HSTS, nosniff still apply) and SharedResponseMiddleware.
"""

from __future__ import annotations

import re
import uuid

from django.urls import reverse
from django.utils import timezone

_NOT_LEARNED = frozenset({"content-length", "date", "set-cookie"})


class StatusFastPathMiddleware:
    """Answers fresh cached status polls without the inner middleware; learns their headers from the full stack."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.path_re: re.Pattern | None = None
        self.headers: list[tuple[str, str]] | None = None  # learned from a full-stack answer

    def _match(self, path: str) -> str | None:
        if self.path_re is None:
            probe = uuid.UUID(int=0)
            sample = reverse("sessions_app:session_status", kwargs={"public_id": probe})
            prefix, suffix = sample.split(str(probe))
            uuid_re = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # Django's <uuid:>
            self.path_re = re.compile(f"^{re.escape(prefix)}({uuid_re}){re.escape(suffix)}$")
        found = self.path_re.match(path)
        return found.group(1) if found else None

    def __call__(self, request):
        from .pagecache import cached_fresh
        from .views import status_cache_key, status_poll_answer

        public_id = None
        if request.method == "GET" and not request.META.get("QUERY_STRING"):
            public_id = self._match(request.path_info)
        if public_id is not None and self.headers is not None:
            cached = cached_fresh(status_cache_key(public_id))
            if cached is not None:
                response = status_poll_answer(request, cached, now=timezone.now())
                for name, value in self.headers:
                    response[name] = value
                response["Content-Length"] = str(len(response.content))  # what CommonMiddleware adds below
                return response
        response = self.get_response(request)
        if public_id is not None and response.status_code == 200 and getattr(response, "shared", False):
            self.headers = [(k, v) for k, v in response.items() if k.lower() not in _NOT_LEARNED]
        return response
