"""The personal join page of a bundle seat: /join/<join_token>/ (docs/bundles.md).

The token is the proof (sent only on the buyer's order page and confirmation e-mail). A confirmed seat
sees the private micro-session: its time, and its stream embedded while it is live, like the public
session page. Anything else (unknown token, unpaid or released seat) is a 404, the same as a missing page.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from sessions_app.embed import stream_embed

from .selectors_bundles import seat_for_join


@never_cache
def bundle_join_page(request, token: str):
    """GET: the private micro-session for the holder of a confirmed seat; 404 otherwise."""
    seat = seat_for_join(token=token)
    if seat is None:
        raise Http404("No such seat.")
    session = seat.bundle.private_session
    response = render(
        request,
        "commerce/bundles/join.html",
        {
            "seat": seat,
            "session": session,
            "now": timezone.now(),
            "page_zone": session.timezone,
            "embed": stream_embed(session.stream_url) if session.status == "live" else None,
        },
    )
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the token never leaves in a Referer header
    return response
