"""Viewer pages: home and the live session page, plus its tiny status endpoint."""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import cache_control

from analytics.services import event_capture_request
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


def session_page(request, public_id):
    """The session page: stream embedded, its drops with stock, price and countdown."""
    session = get_object_or_404(LiveSession.objects.select_related("format", "series"), public_id=public_id)
    now = timezone.now()
    drops = [(drop, drop_status(drop=drop, now=now)) for drop in drops_for_session(session_id=session.pk)]
    event_capture_request(request, name="view", session_id=session.pk, occurred_at=now)
    return render(
        request,
        "sessions_app/session.html",
        {"session": session, "drops": drops, "embed": stream_embed(session.stream_url), "now": now},
    )


@cache_control(max_age=1, public=True)
def session_status(request, public_id):
    """JSON polled by the session page: {"session": status, "drops": [drop_status…]}."""
    session = get_object_or_404(LiveSession, public_id=public_id)
    now = timezone.now()
    return JsonResponse(
        {
            "session": session.status,
            "server_time": now.isoformat(),
            "drops": [drop_status(drop=d, now=now) for d in drops_for_session(session_id=session.pk)],
        }
    )
