"""Viewer pages: home and the live session page, plus its tiny status endpoint."""

from __future__ import annotations

from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import cache_control

from commerce.selectors import drop_status, drops_for_session

from .embed import stream_embed
from .models import LiveSession
from .selectors import sessions_live, sessions_upcoming


def home(request):
    """Live now and upcoming this week."""
    now = timezone.now()
    return render(
        request, "sessions_app/home.html", {"live": sessions_live(now=now), "upcoming": sessions_upcoming(now=now)}
    )


PAGE_DATA_CACHE_SECONDS = 2


def session_page(request, public_id):
    """The session page: stream embedded, its drops with stock, price and countdown.

    The session and its drops are read at most once per PAGE_DATA_CACHE_SECONDS
    per cache (a live spike sends thousands of viewers here at once); the
    figures on the page are then kept fresh by polling `session_status`.
    """
    key = f"session-page-data:{public_id}"
    data = cache.get(key)
    if data is None:
        session = get_object_or_404(LiveSession.objects.select_related("format", "series"), public_id=public_id)
        now = timezone.now()
        drops = [(drop, drop_status(drop=drop, now=now)) for drop in drops_for_session(session_id=session.pk, now=now)]
        data = (session, drops, now)
        cache.set(key, data, PAGE_DATA_CACHE_SECONDS)
    session, drops, now = data
    return render(
        request,
        "sessions_app/session.html",
        {"session": session, "drops": drops, "embed": stream_embed(session.stream_url), "now": now},
    )


STATUS_CACHE_SECONDS = 1


@cache_control(max_age=STATUS_CACHE_SECONDS, public=True)
def session_status(request, public_id):
    """JSON polled by the session page: {"session": status, "server_time", "drops": [drop_status…]}.

    A thousand viewers poll this at once, so the payload is computed at most once
    per second per cache (Redis shared across web hosts, or per process) and may
    be up to STATUS_CACHE_SECONDS old; a CDN may cache it as long.
    """
    key = f"session-status:{public_id}"
    payload = cache.get(key)
    if payload is None:
        session = get_object_or_404(LiveSession, public_id=public_id)
        now = timezone.now()
        payload = {
            "session": session.status,
            "server_time": now.isoformat(),
            "drops": [drop_status(drop=d, now=now) for d in drops_for_session(session_id=session.pk, now=now)],
        }
        cache.set(key, payload, STATUS_CACHE_SECONDS)
    return JsonResponse(payload)
