"""Weekly series recur at local wall-clock time in the host's IANA timezone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from sessions_app.models import LiveSession, Series, SessionFormat
from sessions_app.services import (
    SessionError,
    series_occurrences,
    series_plan_sessions,
    session_cancel,
    session_end,
    session_go_live,
)

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@pytest.fixture
def series():
    return Series.objects.create(
        name="Morning AMA",
        slug="morning-ama",
        format=SessionFormat.objects.get(slug="ama-10min"),
        host_name="Mara",
        timezone="Europe/Berlin",
        weekday=4,  # Friday
        local_time=dt.time(9, 30),
        starts_on=dt.date(2026, 3, 1),
        weeks_ahead=4,
    )


def test_three_formats_are_seeded():
    assert set(SessionFormat.objects.values_list("kind", flat=True)) == {"highlight", "ama", "drop_demo"}
    assert SessionFormat.objects.get(kind="highlight").duration_seconds == 60


def test_weekly_0930_berlin_stays_0930_across_dst(series):
    # Berlin moves to summer time on Sunday 2026-03-29.
    start = dt.datetime(2026, 3, 16, tzinfo=dt.UTC)
    times = series_occurrences(series=series, start=start, count=4)
    assert [t.astimezone(BERLIN).strftime("%a %Y-%m-%d %H:%M") for t in times] == [
        "Fri 2026-03-20 09:30",
        "Fri 2026-03-27 09:30",
        "Fri 2026-04-03 09:30",
        "Fri 2026-04-10 09:30",
    ]
    assert [t.strftime("%H:%M") for t in times] == ["08:30", "08:30", "07:30", "07:30"]  # UTC shifts by an hour
    assert all(t.tzinfo is dt.UTC for t in times)


def test_autumn_change_in_new_york():
    s = Series(
        name="x",
        slug="x",
        format=SessionFormat.objects.first(),
        host_name="h",
        timezone="America/New_York",
        weekday=6,
        local_time=dt.time(1, 30),
        starts_on=dt.date(2026, 10, 1),
    )
    # 2026-11-01 01:30 happens twice in New York; the first (EDT, fold=0) is chosen.
    times = series_occurrences(series=s, start=dt.datetime(2026, 10, 30, tzinfo=dt.UTC), count=2)
    assert [t.isoformat() for t in times] == ["2026-11-01T05:30:00+00:00", "2026-11-08T06:30:00+00:00"]


def test_plan_sessions_is_idempotent_and_respects_ends_on(series):
    now = dt.datetime(2026, 3, 16, tzinfo=dt.UTC)
    created = series_plan_sessions(series=series, now=now)
    assert len(created) == 4
    assert series_plan_sessions(series=series, now=now) == []
    assert LiveSession.objects.filter(series=series).count() == 4
    session = LiveSession.objects.filter(series=series).first()
    assert session.format == series.format
    assert session.timezone == "Europe/Berlin"
    assert session.duration_seconds == 600
    series.ends_on = dt.date(2026, 4, 30)
    series.weeks_ahead = 10
    series.save()
    series_plan_sessions(series=series, now=now)
    last = LiveSession.objects.filter(series=series).last()
    assert last.starts_at.astimezone(BERLIN).date() == dt.date(2026, 4, 24)


def test_inactive_series_plans_nothing(series):
    series.is_active = False
    assert series_plan_sessions(series=series, now=dt.datetime(2026, 3, 16, tzinfo=dt.UTC)) == []


def test_status_transitions(series):
    series_plan_sessions(series=series, now=dt.datetime(2026, 3, 16, tzinfo=dt.UTC))
    a, b = LiveSession.objects.filter(series=series)[:2]
    assert session_go_live(session_id=a.pk).status == "live"
    with pytest.raises(SessionError):
        session_cancel(session_id=a.pk)
    assert session_end(session_id=a.pk).status == "ended"
    with pytest.raises(SessionError):
        session_go_live(session_id=a.pk)
    assert session_cancel(session_id=b.pk).status == "cancelled"
