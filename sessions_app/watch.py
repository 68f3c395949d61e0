"""Who is watching a live session, from server-side evidence: the session page's heartbeats and status polls.

While a live session's page is open and visible, its script posts a heartbeat to
`/s/<id>/watching` every WATCH_BEAT_SECONDS (sessions_app.views.session_watching): that endpoint is
never cached, so the evidence survives a CDN or the nginx micro-cache serving the status JSON. Polls
of `/s/<id>/status.json` that reach Django count the same way (a deployment without a cache in front).
Each carries the first-party visitor cookie (analytics.middleware.COOKIE); for a live session it is
recorded in WatchEvidence, throttled to one database write per visitor every WRITE_EVERY_SECONDS
(a cache claim shared across workers with Redis). Between two recorded polls the viewer is
credited the elapsed time, capped at MAX_GAP_SECONDS, so a viewer who closed the tab and came back
later is not credited for the time away. Nothing the client sends can claim watched time: it can
only keep polling, which is what watching the page does.

Used by watch-gated coupons (a personal code after N seconds watched) and by the control room's
"viewers now" counter.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from .models import WatchEvidence

WATCH_BEAT_SECONDS = 20  # the page's heartbeat period while live (below MAX_GAP_SECONDS: full credit)
WRITE_EVERY_SECONDS = 10  # one database write per visitor and session at most this often
MAX_GAP_SECONDS = 30  # a gap between recorded polls longer than this is credited as this
VIEWERS_NOW_SECONDS = 30  # "viewers now": visitors with a recorded poll in the last 30 s
_VISITOR = re.compile(r"^[0-9a-f]{32}$")


def watch_poll_record(
    *, session_id: int, session_status: str, visitor_id: str | None, now: dt.datetime, network: str = ""
) -> bool:
    """Record one status poll of a live session by a visitor; True if it was written.

    `visitor_id` is the request's `mm_vid` cookie as sent (None or malformed: nothing recorded,
    a visitor without a cookie has no identity to credit). Only polls of a `live` session count.
    Throttled per (session, visitor) to one write every WRITE_EVERY_SECONDS; a concurrent write
    for the same visitor that loses the optimistic update is dropped (it would double-count).

    `network` (config.client_ip.client_network of the request; '' = unknown, not limited): a visitor
    seen for the first time on a session costs an INSERT, and a cookie is anyone's to make up, so
    first records are capped per network at settings.WATCH_NEW_VISITORS_PER_NETWORK per
    WATCH_NEW_VISITORS_WINDOW_SECONDS (commerce.ratelimit's shared counters). A real newcomer over the
    cap (hundreds joining behind one venue's address in a minute) is recorded on a beat after the
    window: it loses at most that window's credit. Visitors already recorded are never capped.
    """
    if session_status != "live" or not visitor_id or not _VISITOR.match(visitor_id):
        return False
    if not cache.add(f"watch:{session_id}:{visitor_id}", 1, WRITE_EVERY_SECONDS):
        return False
    row = WatchEvidence.objects.filter(session_id=session_id, visitor_id=visitor_id).first()
    if row is None and _new_watchers_capped(network):
        cache.delete(f"watch:{session_id}:{visitor_id}")  # its next beat may try again
        return False
    if row is None:
        try:
            with transaction.atomic():
                WatchEvidence.objects.create(
                    session_id=session_id, visitor_id=visitor_id, first_poll_at=now, last_poll_at=now
                )
            return True
        except IntegrityError:
            return False  # another worker recorded this visitor's first poll at the same instant
    gap = (now - row.last_poll_at).total_seconds()
    if gap <= 0:
        return False
    credit = int(min(gap, MAX_GAP_SECONDS))
    updated = WatchEvidence.objects.filter(pk=row.pk, last_poll_at=row.last_poll_at).update(
        last_poll_at=now, watched_seconds=row.watched_seconds + credit, polls=row.polls + 1
    )
    return bool(updated)


def _new_watchers_capped(network: str) -> bool:
    from commerce.ratelimit import Limit, rate_limits_hit

    limit = Limit(
        "watch_new",
        network,
        settings.WATCH_NEW_VISITORS_PER_NETWORK,
        settings.WATCH_NEW_VISITORS_WINDOW_SECONDS,
    )
    return rate_limits_hit([limit]) is not None


def watched_seconds(*, session_id: int, visitor_id: str | None) -> int:
    """Seconds of the live session this visitor is credited with (0 if never seen)."""
    if not visitor_id:
        return 0
    return (
        WatchEvidence.objects.filter(session_id=session_id, visitor_id=visitor_id)
        .values_list("watched_seconds", flat=True)
        .first()
        or 0
    )


def viewers_now(*, session_id: int, now: dt.datetime) -> int:
    """Distinct visitors whose polls of the session were recorded in the last VIEWERS_NOW_SECONDS."""
    since = now - dt.timedelta(seconds=VIEWERS_NOW_SECONDS)
    return WatchEvidence.objects.filter(session_id=session_id, last_poll_at__gte=since).count()
