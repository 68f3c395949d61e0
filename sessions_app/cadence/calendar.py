"""The iCalendar feed of a series (RFC 5545, built with icalendar; docs/cadence.md "Calendar feed").

One VEVENT per session of the series from FEED_PAST_DAYS ago on (cancelled ones included):
UID `<public_id>@<domain>` (stable), DTSTART/DTEND in the session's IANA zone as TZID with the
matching VTIMEZONE, SEQUENCE = LiveSession.sequence (raised on every move or cancel),
STATUS CONFIRMED or CANCELLED, URL = the session page, SUMMARY, DTSTAMP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from ..models import LiveSession, Series

FEED_PAST_DAYS = 28


def _domain() -> str:
    return getattr(settings, "SERIES_CALENDAR_UID_DOMAIN", "") or urlsplit(settings.SITE_URL).hostname or "localhost"


def feed_sessions(*, series: Series, now: dt.datetime | None = None):
    """The sessions the feed lists: every session of the series starting after now − FEED_PAST_DAYS."""
    now = now or timezone.now()
    return series.sessions.filter(starts_at__gte=now - dt.timedelta(days=FEED_PAST_DAYS), is_private=False).order_by(
        "starts_at", "pk"
    )  # private micro-sessions (bundle seats only) are never listed


def feed_etag(*, series: Series, now: dt.datetime | None = None) -> str:
    """A strong validator that changes whenever a listed session is added, moved, retitled or cancelled."""
    rows = feed_sessions(series=series, now=now).values_list("public_id", "starts_at", "sequence", "status", "title")
    digest = hashlib.sha256(repr((series.name, series.slug, list(rows))).encode()).hexdigest()[:32]
    return f'"{digest}"'


def series_calendar(*, series: Series, now: dt.datetime | None = None) -> bytes:
    """The series' feed as text/calendar bytes (CRLF lines)."""
    now = now or timezone.now()
    cal = Calendar()
    cal.add("prodid", "-//Micromoments//Series calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", series.name)
    cal.add("x-wr-timezone", series.timezone)
    domain = _domain()
    stamp = now.astimezone(dt.UTC).replace(microsecond=0)
    for session in feed_sessions(series=series, now=now):
        tz = session.tz
        event = Event()
        event.add("uid", f"{session.public_id}@{domain}")
        event.add("summary", session.title)
        event.add("dtstart", session.starts_at.astimezone(tz))
        event.add("dtend", session.ends_at.astimezone(tz))
        event.add("dtstamp", stamp)
        event.add("created", session.created_at.astimezone(dt.UTC).replace(microsecond=0))
        event.add("sequence", session.sequence)
        event.add("status", "CANCELLED" if session.status == LiveSession.Status.CANCELLED else "CONFIRMED")
        event.add("url", settings.SITE_URL + session.get_absolute_url())
        event.add(
            "description",
            f"{series.name} with {series.host_name}. Watch live: {settings.SITE_URL}{session.get_absolute_url()}",
        )
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
