"""Reminders: once per booking, a configured time before the slot opens, right local time across DST."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django_q.models import Schedule

from commerce.models import PickupBooking
from commerce.services.pickup import pickup_cancel, pickup_reminders_send, pickup_reschedule, pickup_slot_book
from tests.factories import make_pickup_drop, make_slot

pytestmark = pytest.mark.django_db


def reminders():
    return [m for m in mail.outbox if m.subject.startswith("Reminder")]


@pytest.fixture
def drop():
    return make_pickup_drop(quantity=20, per_customer_limit=5)


def test_reminder_goes_out_once_at_the_configured_lead_time(drop, settings, django_capture_on_commit_callbacks):
    settings.PICKUP_REMINDER_MINUTES = 90
    slot = make_slot(drop.popup, starts_in=6 * 3600)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=1)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=91)) == 0
        assert pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=90)) == 1
        assert pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=60)) == 0
        assert pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=5)) == 0
    assert len(reminders()) == 1
    assert reminders()[0].to == ["ann@example.com"]
    assert PickupBooking.objects.get(pk=booking.pk).reminder_sent_at == slot.starts_at - dt.timedelta(minutes=90)


def test_reminder_shows_local_time_on_a_dst_change_day(drop, settings, django_capture_on_commit_callbacks):
    # given a slot at 12:00 local Berlin time on 2030-03-31 (clocks went forward that night: CEST, UTC+2)
    settings.PICKUP_REMINDER_MINUTES = 120
    starts = dt.datetime(2030, 3, 31, 10, 0, tzinfo=dt.UTC)
    slot = make_slot(drop.popup, starts_at=starts, minutes=15)
    pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=1)
    mail.outbox.clear()
    # when the sweep runs at 09:59 local (07:59 UTC) and 10:00 local (08:00 UTC)
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_reminders_send(now=dt.datetime(2030, 3, 31, 7, 59, tzinfo=dt.UTC)) == 0
        assert pickup_reminders_send(now=dt.datetime(2030, 3, 31, 8, 0, tzinfo=dt.UTC)) == 1
    # then the reminder names 12:00 CEST, not 11:00 (yesterday's offset) or 10:00 (UTC)
    (message,) = reminders()
    assert "12:00 CEST" in message.subject
    assert "Sun 31 Mar, 12:00–12:15 CEST" in message.body


def test_cancelled_bookings_get_no_reminder_and_a_reschedule_rearms_it(
    drop, settings, django_capture_on_commit_callbacks
):
    settings.PICKUP_REMINDER_MINUTES = 60
    a = make_slot(drop.popup, starts_in=3000)
    b = make_slot(drop.popup, starts_in=9000)
    cancelled = pickup_slot_book(drop_id=drop.pk, slot_id=a.pk, email="c@example.com", quantity=1)
    pickup_cancel(booking_id=cancelled.pk)
    moved = pickup_slot_book(drop_id=drop.pk, slot_id=a.pk, email="m@example.com", quantity=1)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_reminders_send(now=a.starts_at - dt.timedelta(minutes=30)) == 1
    assert [m.to for m in reminders()] == [["m@example.com"]]
    pickup_reschedule(booking_id=moved.pk, slot_id=b.pk, now=a.starts_at - dt.timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_reminders_send(now=b.starts_at - dt.timedelta(minutes=30)) == 1
        assert pickup_reminders_send(now=b.starts_at - dt.timedelta(minutes=10)) == 0
    assert len(reminders()) == 2


def test_the_schedule_exists():
    schedule = Schedule.objects.get(name="commerce.pickup_reminders")
    assert schedule.func == "commerce.tasks.pickup_reminders"
    assert schedule.minutes == 5


def test_a_booking_picked_up_early_gets_no_reminder(drop, settings, django_capture_on_commit_callbacks):
    settings.PICKUP_REMINDER_MINUTES = 60
    slot = make_slot(drop.popup, starts_in=3 * 3600)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="early@example.com", quantity=1)
    PickupBooking.objects.filter(pk=booking.pk).update(checked_in_at=slot.starts_at - dt.timedelta(hours=2))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=30)) == 0
    assert reminders() == []
