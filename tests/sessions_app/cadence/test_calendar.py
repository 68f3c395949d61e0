"""The series' iCalendar feed, parsed back with a second library (recurring_ical_events + icalendar):
UTC instants across both DST changes of 2026 in Europe/Berlin and America/New_York, stable UIDs,
SEQUENCE on move/cancel, STATUS:CANCELLED, VTIMEZONE, HTTP caching that stays correct after a move."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
import recurring_ical_events
from django.utils import timezone

from sessions_app.cadence.calendar import series_calendar
from sessions_app.cadence.services import session_reschedule
from sessions_app.services import session_cancel
from tests.sessions_app.cadence.helpers import make_series, plan, session_at

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def instants(feed: bytes, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    cal = icalendar.Calendar.from_ical(feed)
    events = recurring_ical_events.of(cal).between(start, end)
    return sorted(e["DTSTART"].dt.astimezone(UTC) for e in events)


CASES = [
    # zone, planning "now", the sessions' UTC instants (Monday 09:30 local, weekly)
    (
        "Europe/Berlin",
        dt.datetime(2026, 3, 14, tzinfo=UTC),  # spring forward Sun 29 Mar 2026
        [
            dt.datetime(2026, 3, 16, 8, 30),
            dt.datetime(2026, 3, 23, 8, 30),
            dt.datetime(2026, 3, 30, 7, 30),
            dt.datetime(2026, 4, 6, 7, 30),
        ],
    ),
    (
        "Europe/Berlin",
        dt.datetime(2026, 10, 10, tzinfo=UTC),  # fall back Sun 25 Oct 2026
        [
            dt.datetime(2026, 10, 12, 7, 30),
            dt.datetime(2026, 10, 19, 7, 30),
            dt.datetime(2026, 10, 26, 8, 30),
            dt.datetime(2026, 11, 2, 8, 30),
        ],
    ),
    (
        "America/New_York",
        dt.datetime(2026, 2, 21, tzinfo=UTC),  # spring forward Sun 8 Mar 2026
        [
            dt.datetime(2026, 2, 23, 14, 30),
            dt.datetime(2026, 3, 2, 14, 30),
            dt.datetime(2026, 3, 9, 13, 30),
            dt.datetime(2026, 3, 16, 13, 30),
        ],
    ),
    (
        "America/New_York",
        dt.datetime(2026, 10, 17, tzinfo=UTC),  # fall back Sun 1 Nov 2026
        [
            dt.datetime(2026, 10, 19, 13, 30),
            dt.datetime(2026, 10, 26, 13, 30),
            dt.datetime(2026, 11, 2, 14, 30),
            dt.datetime(2026, 11, 9, 14, 30),
        ],
    ),
]


@pytest.mark.parametrize(("zone", "now", "expected"), CASES, ids=[f"{c[0]}-{c[1]:%b}" for c in CASES])
def test_feed_instants_keep_local_wall_time_across_dst(zone, now, expected):
    series = make_series(tz=zone, slug="weekly")
    plan(series, now=now)
    feed = series_calendar(series=series, now=now)
    got = instants(feed, now, now + dt.timedelta(days=29))
    assert got == [e.replace(tzinfo=UTC) for e in expected]
    cal = icalendar.Calendar.from_ical(feed)
    (vtz,) = cal.walk("VTIMEZONE")
    assert str(vtz["TZID"]) == zone
    for event in cal.walk("VEVENT"):
        assert event["DTSTART"].params["TZID"] == zone
        local = event["DTSTART"].dt
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 30)  # Monday 09:30 local, every week
        assert event["DTEND"].dt - local == dt.timedelta(seconds=600)


def test_a_move_raises_sequence_keeps_the_uid_and_cancel_says_cancelled():
    now = dt.datetime(2026, 3, 14, tzinfo=UTC)
    series = make_series(slug="weekly")
    first, second, *_ = plan(series, now=now)

    def events():
        cal = icalendar.Calendar.from_ical(series_calendar(series=series, now=now))
        return {str(e["UID"]): e for e in cal.walk("VEVENT")}

    before = events()
    uid = f"{first.public_id}@127.0.0.1"
    assert before[uid]["SEQUENCE"] == 0 and str(before[uid]["STATUS"]) == "CONFIRMED"
    assert str(before[uid]["URL"]) == f"http://127.0.0.1:8000/s/{first.public_id}/"
    session_reschedule(session_id=first.pk, starts_at=first.starts_at + dt.timedelta(hours=2), now=now)
    session_cancel(session_id=second.pk, now=now)
    after = events()
    assert set(after) == set(before)  # same UIDs: calendars update the events, never duplicate them
    assert after[uid]["SEQUENCE"] == 1
    assert after[uid]["DTSTART"].dt.astimezone(UTC) == dt.datetime(2026, 3, 16, 10, 30, tzinfo=UTC)
    cancelled = after[f"{second.public_id}@127.0.0.1"]
    assert str(cancelled["STATUS"]) == "CANCELLED" and cancelled["SEQUENCE"] == 1


def test_feed_http_is_text_calendar_cacheable_and_changes_after_a_move(client):
    series = make_series(slug="weekly")
    session = session_at(series, timezone.now() + dt.timedelta(days=3))
    url = f"/series/{series.slug}/calendar.ics"
    first = client.get(url)
    assert first["Content-Type"].startswith("text/calendar")
    assert "max-age=300" in first["Cache-Control"] and first["ETag"]
    assert b"BEGIN:VTIMEZONE" in first.content and f"UID:{session.public_id}@".encode() in first.content
    assert client.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 304
    session_reschedule(session_id=session.pk, starts_at=session.starts_at + dt.timedelta(hours=1))
    moved = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert moved.status_code == 200 and moved["ETag"] != first["ETag"] and b"SEQUENCE:1" in moved.content
    download = client.get(url + "?download=1")
    assert download["Content-Disposition"] == f'attachment; filename="{series.slug}.ics"'


def test_feed_lists_four_weeks_back_and_cancelled_sessions():
    now = dt.datetime(2026, 6, 1, tzinfo=UTC)
    series = make_series(slug="weekly")
    old = session_at(series, now - dt.timedelta(days=40))
    recent = session_at(series, now - dt.timedelta(days=20))
    feed = series_calendar(series=series, now=now).decode()
    assert str(recent.public_id) in feed and str(old.public_id) not in feed
