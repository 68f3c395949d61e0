"""Writes for formats, series and live sessions. The only code that changes their state."""

from __future__ import annotations

import datetime as dt

from dateutil.rrule import WEEKLY, rrule
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import LiveSession, Series


class SessionError(Exception):
    """A session state change that is not allowed. `code` is stable for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def series_occurrences(*, series: Series, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` start times of a series at or after `start`, as aware UTC datetimes.

    Recurrence is computed by dateutil's rrule on *naive local* wall-clock times
    and only then attached to the series' IANA zone, so a weekly 09:30
    Europe/Berlin session is 09:30 local both in winter (08:30 UTC) and summer
    (07:30 UTC). A local time that does not exist on a DST spring-forward day
    is resolved with `fold=0` (zoneinfo shifts it forward by the gap).
    """
    tz = series.tz
    local_start = timezone.localtime(start, tz).replace(tzinfo=None)
    first_day = max(series.starts_on, local_start.date())
    dtstart = dt.datetime.combine(first_day, series.local_time)
    until = dt.datetime.combine(series.ends_on, dt.time.max) if series.ends_on else None
    rule = rrule(WEEKLY, byweekday=series.weekday, dtstart=dtstart, until=until, count=None if until else count + 1)
    result: list[dt.datetime] = []
    for naive in rule:
        aware = naive.replace(tzinfo=tz)
        if aware.astimezone(dt.UTC) < start:
            continue
        result.append(aware.astimezone(dt.UTC))
        if len(result) >= count:
            break
    return result


def series_plan_sessions(*, series: Series, now: dt.datetime | None = None) -> list[LiveSession]:
    """Create the series' missing upcoming sessions (up to `series.weeks_ahead`); return the new ones.

    Idempotent: a unique (series, starts_at) constraint makes a second run, or two
    runs racing, create each occurrence once. Inactive series plan nothing.
    """
    now = now or timezone.now()
    if not series.is_active:
        return []
    created: list[LiveSession] = []
    for starts_at in series_occurrences(series=series, start=now, count=series.weeks_ahead):
        try:
            with transaction.atomic():
                session, was_created = LiveSession.objects.get_or_create(
                    series=series,
                    starts_at=starts_at,
                    defaults={
                        "format": series.format,
                        "title": f"{series.name} — {timezone.localtime(starts_at, series.tz):%a %d %b}",
                        "duration_seconds": series.format.duration_seconds,
                        "timezone": series.timezone,
                        "stream_url": series.stream_url,
                    },
                )
        except IntegrityError:
            continue  # created by a concurrent run
        if was_created:
            created.append(session)
    return created


def series_plan_all(*, now: dt.datetime | None = None) -> int:
    """Plan upcoming sessions for every active series. Returns how many were created."""
    return sum(len(series_plan_sessions(series=s, now=now)) for s in Series.objects.filter(is_active=True))


def _transition(session_id: int, *, allowed_from: set[str], to: str, now: dt.datetime, **fields) -> LiveSession:
    with transaction.atomic():
        session = LiveSession.objects.select_for_update().get(pk=session_id)
        if session.status not in allowed_from:
            raise SessionError(
                "invalid_transition", f"A {session.get_status_display().lower()} session cannot become {to}."
            )
        session.status = to
        for name, value in fields.items():
            setattr(session, name, value)
        session.save(update_fields=["status", *fields])
    return session


def session_go_live(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """scheduled → live. Raises SessionError(invalid_transition) from any other state."""
    now = now or timezone.now()
    return _transition(
        session_id, allowed_from={LiveSession.Status.SCHEDULED}, to=LiveSession.Status.LIVE, now=now, went_live_at=now
    )


def session_end(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """live → ended (or scheduled → ended if it never went live)."""
    now = now or timezone.now()
    return _transition(
        session_id,
        allowed_from={LiveSession.Status.LIVE, LiveSession.Status.SCHEDULED},
        to=LiveSession.Status.ENDED,
        now=now,
        ended_at=now,
    )


def session_cancel(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """scheduled → cancelled. A live or ended session cannot be cancelled."""
    now = now or timezone.now()
    return _transition(
        session_id, allowed_from={LiveSession.Status.SCHEDULED}, to=LiveSession.Status.CANCELLED, now=now
    )
