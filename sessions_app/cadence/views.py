"""Public pages: a series page with its follow form, confirm and one-click unsubscribe, the .ics feed.

Thin: parse, call one service, render (docs/cadence.md).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from commerce.identity import normalize_email
from commerce.ratelimit import Limit, rate_limits_hit
from config.client_ip import client_ip, client_network

from . import selectors, services
from .calendar import feed_etag, series_calendar
from .forms import FollowForm

FOLLOW_WINDOW_SECONDS = 600


def _follow_limited(request, email: str) -> bool:
    """Count one follow attempt per client network and per address (commerce.ratelimit); True if over."""
    try:
        key = normalize_email(email)
    except ValidationError:
        key = ""
    return (
        rate_limits_hit(
            [
                Limit(
                    "follow:ip",
                    client_network(client_ip(request)),
                    settings.SERIES_FOLLOW_RATE_LIMIT_IP,
                    FOLLOW_WINDOW_SECONDS,
                ),
                Limit("follow:email", key, settings.SERIES_FOLLOW_RATE_LIMIT_EMAIL, FOLLOW_WINDOW_SECONDS),
            ]
        )
        is not None
    )


@require_http_methods(["GET", "POST"])
def series_page(request, slug: str):
    """The public series page; POST = follow (always the same "check your inbox" answer)."""
    series = selectors.series_public(slug=slug)
    if series is None:
        raise Http404("No such series.")
    form, answered, status = FollowForm(request.POST or None), False, 200
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if _follow_limited(request, email):
            form.add_error(None, "Too many attempts from here. Please try again in a few minutes.")
            status = 429
        else:
            try:
                services.series_follow_request(series_id=series.pk, email=email)
                answered = True
            except services.CadenceError as exc:
                form.add_error("email" if exc.field == "email" else None, exc.message)
                status = 400
    elif request.method == "POST":
        status = 400
    context = {
        "series": series,
        "cadence": selectors.series_cadence_text(series),
        "sessions": selectors.series_upcoming_sessions(series=series),
        "calendar": selectors.series_calendar_urls(series),
        "form": FollowForm() if answered else form,
        "answered": answered,
    }
    return render(request, "sessions_app/cadence/series.html", context, status=status)


@require_http_methods(["GET", "POST"])
def follow_confirm(request, token: str):
    """GET shows a button (mail scanners prefetch GETs); the POST confirms."""
    done, error = None, None
    if request.method == "POST":
        try:
            done = services.series_follow_confirm(token=token)
        except services.CadenceError as exc:
            if exc.status == 404:
                raise Http404(exc.message) from None
            error = exc.message
    elif selectors.follower_by_token(token=token) is None:
        raise Http404("This link is not valid (any more).")
    return render(request, "sessions_app/cadence/confirm.html", {"done": done, "error": error})


@csrf_exempt  # RFC 8058: a mail client POSTs "List-Unsubscribe=One-Click" with no cookie and no token
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET: a one-button page. POST (the button, or a one-click mail client): unsubscribe this follower only."""
    if request.method == "POST":
        follower = services.series_unsubscribe(token=token)
        if follower is None:
            raise Http404("This link is not valid (any more).")
        return render(request, "sessions_app/cadence/unsubscribe.html", {"follower": follower, "done": True})
    follower = selectors.follower_by_token(token=token)
    if follower is None:
        raise Http404("This link is not valid (any more).")
    return render(request, "sessions_app/cadence/unsubscribe.html", {"follower": follower, "done": False})


@require_http_methods(["GET", "HEAD"])
def series_calendar_feed(request, slug: str):
    """text/calendar feed; ETag (changes on every move/cancel), max-age 300 s; `?download=1` = attachment."""
    series = selectors.series_public(slug=slug)
    if series is None:
        raise Http404("No such series.")
    etag = feed_etag(series=series)
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(series_calendar(series=series), content_type="text/calendar; charset=utf-8")
        if request.GET.get("download"):
            response["Content-Disposition"] = content_disposition_header(True, f"{series.slug}.ics")
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=300)
    return response
