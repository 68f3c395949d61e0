"""Reads for live sessions."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from .models import LiveSession


def sessions_live(*, now: dt.datetime | None = None) -> QuerySet[LiveSession]:
    """Sessions on air now: status live."""
    return LiveSession.objects.filter(status=LiveSession.Status.LIVE).select_related("format", "series")


def sessions_upcoming(*, now: dt.datetime | None = None, days: int = 7) -> QuerySet[LiveSession]:
    """Scheduled sessions starting within the next `days` days (UTC), soonest first."""
    now = now or timezone.now()
    return (
        LiveSession.objects.filter(
            status=LiveSession.Status.SCHEDULED, starts_at__gte=now, starts_at__lt=now + dt.timedelta(days=days)
        )
        .select_related("format", "series")
        .order_by("starts_at")
    )
