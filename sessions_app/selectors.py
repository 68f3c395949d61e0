"""Reads for live sessions."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from .models import LiveSession


def _listed(qs: QuerySet[LiveSession], include_private: bool) -> QuerySet[LiveSession]:
    """Private micro-sessions (bundle seats' join links only: docs/bundles.md) are listed to staff only."""
    return qs if include_private else qs.filter(is_private=False)


def sessions_live(*, now: dt.datetime | None = None, include_private: bool = False) -> QuerySet[LiveSession]:
    """Sessions on air now: status live (private micro-sessions only with include_private: staff)."""
    return _listed(LiveSession.objects.filter(status=LiveSession.Status.LIVE), include_private).select_related(
        "format", "series"
    )


def sessions_upcoming(
    *, now: dt.datetime | None = None, days: int = 7, include_private: bool = False
) -> QuerySet[LiveSession]:
    """Scheduled sessions starting within the next `days` days (UTC), soonest first (private: staff only)."""
    now = now or timezone.now()
    qs = LiveSession.objects.filter(
        status=LiveSession.Status.SCHEDULED, starts_at__gte=now, starts_at__lt=now + dt.timedelta(days=days)
    )
    return _listed(qs, include_private).select_related("format", "series").order_by("starts_at")


def sessions_late(
    *, now: dt.datetime | None = None, since: dt.datetime | None = None, include_private: bool = False
) -> QuerySet[LiveSession]:
    """Scheduled sessions whose planned start has passed but that have not gone live, oldest first.

    `since` (aware UTC) drops sessions planned before it (the home page only shows today's
    stragglers); None keeps them all (the back office lists every one: staff go live or cancel).
    """
    now = now or timezone.now()
    qs = _listed(LiveSession.objects.filter(status=LiveSession.Status.SCHEDULED, starts_at__lt=now), include_private)
    if since is not None:
        qs = qs.filter(starts_at__gte=since)
    return qs.select_related("format", "series").order_by("starts_at")


LATE_SHOWN_FOR = dt.timedelta(hours=12)


def sessions_late_since(now: dt.datetime) -> dt.datetime:
    """How far back the viewer pages still show a late session as "Starting soon" (12 hours)."""
    return now - LATE_SHOWN_FOR
