"""Reads for series pages, the feed and the API (docs/cadence.md)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from ..models import LiveSession, Series
from .models import SeriesFollower


def series_public(*, slug: str) -> Series | None:
    """An active series by slug (None if unknown or inactive)."""
    return Series.objects.select_related("format").filter(slug=slug, is_active=True).first()


def series_with_follower_counts() -> QuerySet[Series]:
    """Active series annotated with `followers_confirmed` (confirmed followers)."""
    return (
        Series.objects.filter(is_active=True)
        .select_related("format")
        .annotate(followers_confirmed=Count("followers", filter=Q(followers__status=SeriesFollower.Status.CONFIRMED)))
        .order_by("name")
    )


def series_followers_count(*, series: Series) -> int:
    """Confirmed followers of a series."""
    return series.followers.filter(status=SeriesFollower.Status.CONFIRMED).count()


def series_upcoming_sessions(*, series: Series, now: dt.datetime | None = None, limit: int = 8) -> list[LiveSession]:
    """Scheduled or live sessions of the series that have not ended, soonest first."""
    now = now or timezone.now()
    return list(
        series.sessions.filter(status__in=[LiveSession.Status.SCHEDULED, LiveSession.Status.LIVE], is_private=False)
        .filter(starts_at__gte=now - dt.timedelta(hours=3))
        .order_by("starts_at")[:limit]
    )


def series_cadence_text(series: Series) -> str:
    """ "Tuesdays 18:00 Europe/Berlin": the weekday (plural), local wall-clock time and IANA zone."""
    return f"{series.get_weekday_display()}s {series.local_time:%H:%M} {series.timezone}"


def series_calendar_urls(series: Series) -> dict[str, str]:
    """Absolute feed URLs: {"ics": https://…/calendar.ics, "webcal": webcal://…, "download": …?download=1}."""
    ics = settings.SITE_URL + reverse("sessions_app:series_calendar", kwargs={"slug": series.slug})
    scheme, _, rest = ics.partition("://")
    return {"ics": ics, "webcal": f"webcal://{rest}", "download": f"{ics}?download=1"}


def follower_by_token(*, token: str) -> SeriesFollower | None:
    """The follower a confirm/unsubscribe link names (with its series), or None."""
    return SeriesFollower.objects.select_related("series").filter(token=token).first()
