"""Reminders: due instants across DST (stored UTC), exactly once per follower/session/offset, the
too-late rule, moved/cancelled after planning → only the right notice, failed sends retried."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client

from commerce.models import OutboxMessage
from commerce.services.outbox import outbox_drain
from sessions_app.cadence.models import Reminder, ReminderBatch, SeriesFollower
from sessions_app.cadence.services import reminders_plan_due, session_reschedule
from sessions_app.cadence.timing import reminder_due_at
from sessions_app.services import session_cancel
from tests.sessions_app.cadence.helpers import followers, make_series, plan, session_at

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MIN = dt.timedelta(minutes=1)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


DST_CASES = [
    # zone, the Monday 09:30 session just after a change (UTC), its 24 h reminder (UTC): same local time a day before
    ("Europe/Berlin", utc(2026, 3, 30, 7, 30), utc(2026, 3, 29, 7, 30)),  # Sun 09:30 CEST: 24 h before is 23 h
    ("Europe/Berlin", utc(2026, 10, 26, 8, 30), utc(2026, 10, 25, 8, 30)),  # Sun 09:30 CET: 25 h elapsed
    ("America/New_York", utc(2026, 3, 9, 13, 30), utc(2026, 3, 8, 13, 30)),  # Sun 09:30 EDT
    ("America/New_York", utc(2026, 11, 2, 14, 30), utc(2026, 11, 1, 14, 30)),  # Sun 09:30 EST
]


@pytest.mark.parametrize(("zone", "starts_at", "day_before"), DST_CASES, ids=[f"{c[0]}-{c[1]:%b}" for c in DST_CASES])
def test_reminder_due_at_is_stored_in_utc_at_the_same_local_time_across_dst(zone, starts_at, day_before):
    series = make_series(tz=zone, slug="weekly")
    sessions = plan(series, now=starts_at - dt.timedelta(days=9))
    session = next(s for s in sessions if s.starts_at == starts_at)  # the planner put it there (local 09:30)
    followers(series, 2)
    assert reminders_plan_due(now=day_before - MIN) == 0  # not yet
    assert reminders_plan_due(now=day_before) == 2
    ten_before = starts_at - dt.timedelta(minutes=10)
    assert reminders_plan_due(now=ten_before) == 2
    stored = sorted(set(Reminder.objects.filter(session=session).values_list("offset_seconds", "due_at")))
    assert stored == [(600, ten_before), (86400, day_before)]
    assert stored[1][1].tzinfo is not None and stored[1][1].utcoffset() == dt.timedelta(0)
    # the previous week's session (before the change) is reminded at the other UTC hour, same local time
    week_before = starts_at - dt.timedelta(days=7)
    earlier = next(s for s in sessions if abs(s.starts_at - week_before) <= dt.timedelta(hours=1))
    assert earlier.starts_at != week_before  # the change lies between the two sessions
    assert reminder_due_at(
        starts_at=earlier.starts_at, tz_name=zone, offset_seconds=86400
    ) == earlier.starts_at - dt.timedelta(days=1)


def test_each_follower_gets_one_email_per_offset_however_often_the_planner_runs():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    followers(series, 3)
    for now in (
        starts - dt.timedelta(hours=24),
        starts - dt.timedelta(hours=23),
        starts - dt.timedelta(minutes=10),
        starts - dt.timedelta(minutes=8),
    ):
        reminders_plan_due(now=now)
        reminders_plan_due(now=now)
        _drain_at(now)
    assert sorted((m.to[0], m.subject.split(":")[0]) for m in mail.outbox) == sorted(
        [(f"viewer{i}@example.com", w) for i in range(3) for w in ("Tomorrow", "In 10 minutes")]
    )
    assert Reminder.objects.filter(session=session, status=Reminder.Status.SENT).count() == 6
    batch = ReminderBatch.objects.get(session=session, offset_seconds=86400)
    assert batch.reminders.count() == 3


def _drain_at(now):
    """Drain with the reminder sender's clock at `now` (its re-check compares with the start)."""
    from unittest import mock

    from sessions_app.cadence import services

    real = services.reminder_deliver

    def at(**kw):
        kw.setdefault("now", now)
        return real(**kw)

    with mock.patch("sessions_app.cadence.senders.reminder_deliver", at):
        return outbox_drain()


def test_too_late_reminders_are_not_planned_and_never_sent_after_the_start():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    followers(series, 1)
    assert reminders_plan_due(now=starts - dt.timedelta(hours=11)) == 0  # more than half of 24 h passed
    assert reminders_plan_due(now=starts - dt.timedelta(minutes=4)) == 0  # more than half of 10 min passed
    assert reminders_plan_due(now=starts - dt.timedelta(minutes=9)) == 1
    _drain_at(starts + MIN)  # the worker only got to it after the start
    assert mail.outbox == []
    assert Reminder.objects.get(session=session).status == Reminder.Status.SKIPPED


def test_moved_before_sending_sends_nothing_for_the_old_time_then_reminds_for_the_new_one():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    followers(series, 2)
    now = starts - dt.timedelta(hours=24)
    reminders_plan_due(now=now)  # planned, not sent yet
    new_start = starts + dt.timedelta(hours=3)
    session_reschedule(session_id=session.pk, starts_at=new_start, now=now)
    _drain_at(now)
    assert mail.outbox == []  # nobody was reminded of the old time: no notice either
    assert set(Reminder.objects.values_list("status", flat=True)) == {Reminder.Status.SKIPPED}
    reminders_plan_due(now=new_start - dt.timedelta(hours=24))
    _drain_at(new_start - dt.timedelta(hours=24))
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Tomorrow", "Tomorrow"]
    assert "12:30 CET" in mail.outbox[0].body  # the new start, 11:30 UTC = 12:30 CET (local, not UTC)


def test_moved_after_a_reminder_sends_the_new_time_once_and_only_unsent_offsets_again():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    (ann, ben) = followers(series, 2)
    now = starts - dt.timedelta(hours=24)
    reminders_plan_due(now=now)
    _drain_at(now)
    assert len(mail.outbox) == 2
    SeriesFollower.objects.filter(pk=ben.pk).update(status=SeriesFollower.Status.UNSUBSCRIBED)
    new_start = starts + dt.timedelta(hours=2)
    session_reschedule(session_id=session.pk, starts_at=new_start, now=now + MIN)
    session.refresh_from_db()
    assert session.sequence == 1
    _drain_at(now + MIN)
    assert [(m.to, m.subject) for m in mail.outbox[2:]] == [([ann.email], f"New time: {session.title}")]
    assert "11:30 CET" in mail.outbox[2].body  # 10:30 UTC = 11:30 CET: the new start
    # the 24 h offset was sent already: not again for the new time; the 10 min one is
    reminders_plan_due(now=new_start - dt.timedelta(hours=23))
    reminders_plan_due(now=new_start - dt.timedelta(minutes=10))
    _drain_at(new_start - dt.timedelta(minutes=10))
    assert [m.subject.split(":")[0] for m in mail.outbox[3:]] == ["In 10 minutes"]


def test_cancelled_after_a_reminder_sends_one_cancellation_and_no_more_reminders():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    followers(series, 2)
    other = make_series(slug="other")
    followers(other, 1, prefix="elsewhere")
    day = starts - dt.timedelta(hours=24)
    reminders_plan_due(now=day)
    _drain_at(day)
    reminders_plan_due(now=starts - dt.timedelta(minutes=10))  # the 10 min reminders planned …
    session_cancel(session_id=session.pk, now=starts - dt.timedelta(minutes=9))  # … then cancelled
    _drain_at(starts - dt.timedelta(minutes=9))
    subjects = sorted(m.subject.split(":")[0] for m in mail.outbox[2:])
    assert subjects == ["Cancelled", "Cancelled"]
    session.refresh_from_db()
    assert session.sequence == 1
    assert Reminder.objects.filter(offset_seconds=600, status=Reminder.Status.SKIPPED).count() == 2
    reminders_plan_due(now=starts - dt.timedelta(minutes=8))
    _drain_at(starts - dt.timedelta(minutes=8))
    assert len(mail.outbox) == 4


def test_cancelled_before_any_reminder_sends_nothing():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    followers(series, 2)
    reminders_plan_due(now=starts - dt.timedelta(hours=24))
    session_cancel(session_id=session.pk, now=starts - dt.timedelta(hours=24))
    _drain_at(starts - dt.timedelta(hours=24))
    assert mail.outbox == []


def test_a_failed_send_is_retried_not_lost_and_staff_see_it_on_the_batch(settings, monkeypatch, admin_client):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    followers(series, 2)
    now = starts - dt.timedelta(hours=24)
    reminders_plan_due(now=now)
    from django.core.mail import EmailMessage

    real_send = EmailMessage.send
    calls = {"n": 0}

    def flaky(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("SMTP down")
        return real_send(self, *a, **kw)

    monkeypatch.setattr(EmailMessage, "send", flaky)
    _drain_at(now)
    assert len(mail.outbox) == 1
    failed = OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED)
    assert failed.count() == 1
    page = admin_client.get("/admin/sessions_app/reminderbatch/").content.decode()
    assert "sent 1 of 2" in page
    batch = ReminderBatch.objects.get(session=session)
    response = admin_client.post(
        "/admin/sessions_app/reminderbatch/", {"action": "retry_failed", "_selected_action": [batch.pk]}
    )
    assert response.status_code == 302
    _drain_at(now)
    assert len(mail.outbox) == 2 and len({m.to[0] for m in mail.outbox}) == 2
    assert "sent 2 of 2" in admin_client.get("/admin/sessions_app/reminderbatch/").content.decode()


def test_unsubscribed_after_planning_gets_nothing():
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session_at(series, starts)
    (ann,) = followers(series, 1)
    now = starts - dt.timedelta(hours=24)
    reminders_plan_due(now=now)
    Client().post(f"/series/unsubscribe/{ann.token}/")
    _drain_at(now)
    assert mail.outbox == []


def test_series_admin_counts_confirmed_followers(admin_client):
    series = make_series(slug="weekly")
    followers(series, 3)
    SeriesFollower.objects.filter(email="viewer0@example.com").update(status=SeriesFollower.Status.PENDING)
    page = admin_client.get("/admin/sessions_app/series/").content.decode()
    assert '<td class="field-followers_count">2</td>' in page
    found = admin_client.get("/admin/sessions_app/seriesfollower/?q=viewer1").content.decode()
    assert "viewer1@example.com" in found and "viewer2@example.com" not in found


def test_reschedule_refuses_a_live_session_and_a_past_time():
    from sessions_app.cadence.services import CadenceError
    from sessions_app.models import LiveSession

    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    with pytest.raises(CadenceError) as past:
        session_reschedule(session_id=session.pk, starts_at=starts, now=starts + MIN)
    assert past.value.code == "invalid"
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.LIVE)
    with pytest.raises(CadenceError) as live:
        session_reschedule(session_id=session.pk, starts_at=starts + dt.timedelta(hours=1), now=starts - MIN)
    assert live.value.code == "invalid_transition"
    session.refresh_from_db()
    assert (session.starts_at, session.sequence) == (starts, 0)


def test_editing_the_start_in_the_admin_goes_through_reschedule(admin_client):
    import zoneinfo

    from django.conf import settings
    from django.utils import timezone as tz

    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 8, 30)
    session = session_at(series, starts)
    (ann,) = followers(series, 1)
    now = starts - dt.timedelta(hours=24)
    reminders_plan_due(now=now)
    _drain_at(now)
    new_local = tz.localtime(starts + dt.timedelta(hours=1), zoneinfo.ZoneInfo(settings.SHOP_TIMEZONE))
    data = {
        "series": series.pk,
        "format": series.format.pk,
        "title": session.title,
        "starts_at_0": f"{new_local:%Y-%m-%d}",
        "starts_at_1": f"{new_local:%H:%M:%S}",
        "duration_seconds": 600,
        "timezone": "Europe/Berlin",
        "stream_url": "",
        "presale_opens_at_0": "",
        "presale_opens_at_1": "",
        "drops-TOTAL_FORMS": "0",
        "drops-INITIAL_FORMS": "0",
        "drops-MIN_NUM_FORMS": "0",
        "drops-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(f"/admin/sessions_app/livesession/{session.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    session.refresh_from_db()
    assert (session.starts_at, session.sequence) == (starts + dt.timedelta(hours=1), 1)
    outbox_drain()
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["Tomorrow", "New time"]


def test_the_series_planner_does_not_recreate_the_slot_a_session_was_moved_from():
    series = make_series(slug="weekly")
    now = utc(2026, 11, 28)
    first, *_ = plan(series, now=now)
    count = series.sessions.count()
    old_start = first.starts_at
    session_reschedule(session_id=first.pk, starts_at=old_start + dt.timedelta(hours=2), now=now)
    plan(series, now=now)
    assert series.sessions.count() == count
    assert not series.sessions.filter(starts_at=old_start).exists()
    assert first.moves.get().from_starts_at == old_start


def test_the_planner_runs_every_minute_from_a_migration_schedule():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="sessions_app.reminders_plan_due")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "sessions_app.tasks.reminders_plan_due",
        Schedule.MINUTES,
        1,
    )


@pytest.mark.parametrize("active_zone", ["UTC", "America/Los_Angeles"])
def test_emails_give_the_start_in_the_sessions_zone_whatever_zone_is_active(settings, active_zone):
    """QA: the worker runs with TIME_ZONE=UTC, and the template's date filter turned 19:00 CET into 18:00."""
    from django.utils import timezone

    settings.TIME_ZONE = active_zone
    series = make_series(slug="weekly")
    starts = utc(2026, 12, 7, 18, 0)  # 19:00 CET
    session = session_at(series, starts)
    followers(series, 1)
    with timezone.override(active_zone):
        reminders_plan_due(now=starts - dt.timedelta(minutes=9))
        _drain_at(starts - dt.timedelta(minutes=9))
        session_reschedule(
            session_id=session.pk, starts_at=starts + dt.timedelta(hours=1), now=starts - dt.timedelta(minutes=8)
        )
        _drain_at(starts - dt.timedelta(minutes=8))
    reminder, moved = mail.outbox
    assert "Monday 7 December, 19:00 CET" in reminder.body
    assert "Monday 7 December, 20:00 CET" in moved.body
