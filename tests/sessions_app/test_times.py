"""Times, once and right: coupon cutoffs, one named zone per page, pop-up zones, DST rules for series."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from commerce.admin import CouponForm
from commerce.admin_pickup import PickupSlotForm
from commerce.models import Coupon, PickupSlot
from commerce.services.holds import hold_place
from commerce.zoned_fields import end_of_local_day, local_to_utc
from sessions_app.models import LiveSession, Series, SessionFormat
from sessions_app.services import series_occurrence_note, series_occurrences, series_plan_sessions
from sessions_app.templatetags.times import zoned_text
from tests.factories import LiveSessionFactory, make_drop, make_popup

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def coupon_data(**times):
    return {
        "code": "cutoff",
        "kind": "percent",
        "percent_off": "10",
        "currency": "",
        "per_customer_limit": "1",
        "is_active": "on",
        **times,
    }


# --- coupon "valid until" -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected_until"),
    [
        ("Europe/Berlin", dt.datetime(2026, 12, 1, 22, 59, 59, 999999, tzinfo=UTC)),  # CET = UTC+1
        ("America/New_York", dt.datetime(2026, 12, 2, 4, 59, 59, 999999, tzinfo=UTC)),  # EST = UTC-5
    ],
)
def test_date_only_valid_until_is_the_end_of_that_day_in_the_shop_zone(settings, zone, expected_until):
    settings.SHOP_TIMEZONE = zone
    form = CouponForm(data=coupon_data(valid_from_0="2026-11-30", valid_from_1="", valid_until_0="2026-12-01"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == expected_until
    assert form.cleaned_data["valid_from"] == local_to_utc(dt.date(2026, 11, 30), dt.time(0), zone)
    assert zone in form.fields["valid_until"].help_text and "end of that day" in form.fields["valid_until"].help_text


def test_a_typed_time_is_kept_and_a_missing_date_is_an_error(settings):
    settings.SHOP_TIMEZONE = "America/New_York"
    form = CouponForm(data=coupon_data(valid_from_0="2026-11-30", valid_until_0="2026-12-01", valid_until_1="18:30"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["valid_until"] == dt.datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    form = CouponForm(data=coupon_data(valid_from_0="2026-11-30", valid_until_0="", valid_until_1="18:30"))
    assert not form.is_valid() and "valid_until" in form.errors


def test_admin_saves_a_date_only_coupon_and_shows_it_back_without_a_midnight_trap(admin_client, settings):
    settings.SHOP_TIMEZONE = "America/New_York"
    response = admin_client.post(
        reverse("admin:commerce_coupon_add"),
        coupon_data(valid_from_0="2026-11-30", valid_from_1="", valid_until_0="2026-12-01", valid_until_1=""),
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    coupon = Coupon.objects.get()
    assert coupon.valid_until == end_of_local_day(dt.date(2026, 12, 1), "America/New_York")
    page = admin_client.get(reverse("admin:commerce_coupon_change", args=[coupon.pk])).content.decode()
    assert 'name="valid_until_0" value="2026-12-01"' in page
    assert 'name="valid_until_1" value=""' not in page or 'placeholder="empty = end of day"' in page
    assert 'name="valid_until_1" class="vTimeField"' not in page  # no "Midnight" shortcut on this box


def test_cart_shows_the_coupon_cutoff_with_its_zone(client, settings):
    session = LiveSessionFactory(timezone="America/New_York")
    drop = make_drop(session=session)
    now = timezone.now()
    Coupon.objects.create(
        code="NY10",
        kind="percent",
        percent_off=10,
        valid_from=now - dt.timedelta(days=1),
        valid_until=end_of_local_day((now + dt.timedelta(days=2)).date(), "America/New_York"),
    )
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    page = client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": "ny10", "apply": "1"})
    html = page.content.decode()
    assert "data-coupon-cutoff" in html
    assert ", 23:59 EST (America/New_York)</time>" in html


# --- one named zone per page ----------------------------------------------------------------


def test_zoned_text_names_the_zone_and_follows_dst():
    winter = dt.datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    summer = dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    assert zoned_text(winter, "Europe/Berlin") == "Tue 1 Dec, 18:00 CET (Europe/Berlin)"
    assert zoned_text(summer, "Europe/Berlin", "time") == "18:00 CEST (Europe/Berlin)"
    assert zoned_text(winter.isoformat(), "America/New_York", "time") == "12:00 EST (America/New_York)"
    assert zoned_text(None) == ""


def test_drop_page_times_are_in_the_session_zone(client):
    session = LiveSessionFactory(timezone="America/New_York")
    drop = make_drop(session=session, opens_in=3600, closes_in=7200)
    html = client.get(reverse("commerce:checkout", args=[drop.pk])).content.decode()
    assert "(America/New_York)</time>" in html
    assert "UTC</time>" not in html


# --- pop-up and slot times in the pop-up's zone -----------------------------------------------


def test_slot_form_reads_typed_times_in_the_popups_zone():
    popup = make_popup(timezone_name="America/New_York")
    form = PickupSlotForm(
        data={
            "popup": popup.pk,
            "starts_at_0": "2026-12-05",
            "starts_at_1": "12:00",
            "ends_at_0": "2026-12-05",
            "ends_at_1": "12:15",
            "capacity": "5",
            "price_adjust_percent": "0",
        }
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["starts_at"] == dt.datetime(2026, 12, 5, 17, 0, tzinfo=UTC)  # EST, not Berlin
    assert "America/New_York" in form.fields["starts_at"].help_text


def test_slot_change_form_shows_local_times_of_the_popup(admin_client):
    popup = make_popup(timezone_name="America/New_York")
    start = dt.datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
    slot = PickupSlot.objects.create(
        popup=popup, starts_at=start, ends_at=start + dt.timedelta(minutes=15), capacity=3, available=3
    )
    page = admin_client.get(reverse("admin:commerce_pickupslot_change", args=[slot.pk])).content.decode()
    assert 'name="starts_at_1" value="12:00:00"' in page
    assert "in America/New_York" in page


# --- series at DST changes --------------------------------------------------------------------


def make_series(zone: str, weekday: int, local_time: dt.time, starts_on: dt.date) -> Series:
    fmt, _ = SessionFormat.objects.get_or_create(
        slug="dst", defaults={"name": "DST", "kind": "ama", "duration_seconds": 600}
    )
    return Series.objects.create(
        name=f"Weekly {zone}",
        slug=f"weekly-{zone.replace('/', '-').lower()}-{local_time:%H%M}",
        format=fmt,
        host_name="Host",
        timezone=zone,
        weekday=weekday,
        local_time=local_time,
        starts_on=starts_on,
    )


@pytest.mark.parametrize(
    ("zone", "day", "local_time", "expected_utc", "note_has"),
    [
        # Spring forward: 02:30 does not exist; shifted forward by the gap → 03:30 summer time.
        (
            "Europe/Berlin",
            dt.date(2027, 3, 28),
            dt.time(2, 30),
            dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
            "does not exist",
        ),
        (
            "America/New_York",
            dt.date(2027, 3, 14),
            dt.time(2, 30),
            dt.datetime(2027, 3, 14, 7, 30, tzinfo=UTC),
            "does not exist",
        ),
        # Fall back: 02:30 / 01:30 occur twice; the first (summer time, fold=0) is used.
        (
            "Europe/Berlin",
            dt.date(2026, 10, 25),
            dt.time(2, 30),
            dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            "occurs twice",
        ),
        (
            "America/New_York",
            dt.date(2026, 11, 1),
            dt.time(1, 30),
            dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
            "occurs twice",
        ),
        # An ordinary Sunday: no note.
        ("Europe/Berlin", dt.date(2026, 12, 6), dt.time(2, 30), dt.datetime(2026, 12, 6, 1, 30, tzinfo=UTC), None),
    ],
)
def test_series_dst_rule_and_note(zone, day, local_time, expected_utc, note_has):
    series = make_series(zone, day.weekday(), local_time, day)
    start = dt.datetime.combine(day, dt.time(0), tzinfo=UTC) - dt.timedelta(days=1)
    (occurrence,) = series_occurrences(series=series, start=start, count=1)
    assert occurrence == expected_utc
    note = series_occurrence_note(series=series, starts_at=occurrence)
    if note_has is None:
        assert note == ""
    else:
        assert note_has in note and zone in note and f"{day:%Y-%m-%d}" in note
    # The week after is at the same wall-clock time again, with no note.
    (_, following) = series_occurrences(series=series, start=start, count=2)
    assert following.astimezone(series.tz).time() == local_time
    assert series_occurrence_note(series=series, starts_at=following) == ""


def test_planned_session_records_the_note_and_admin_says_it(admin_client):
    series = make_series("Europe/Berlin", 6, dt.time(2, 30), dt.date(2027, 3, 21))
    created = series_plan_sessions(series=series, now=dt.datetime(2027, 3, 20, tzinfo=UTC))
    noted = [s for s in created if s.schedule_note]
    assert [s.starts_at for s in noted] == [dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)]
    assert "03:30 CEST" in noted[0].schedule_note
    listing = admin_client.get(reverse("admin:sessions_app_livesession_changelist")).content.decode()
    assert "does not exist in Europe/Berlin on 2027-03-28" in listing


def test_saving_a_series_in_admin_warns_about_dst_occurrences(admin_client, monkeypatch):
    fmt, _ = SessionFormat.objects.get_or_create(
        slug="dst", defaults={"name": "DST", "kind": "ama", "duration_seconds": 600}
    )
    # Plan from "now" = just before the New York fall-back Sunday.
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 10, 30, 12, 0, tzinfo=UTC))
    response = admin_client.post(
        reverse("admin:sessions_app_series_add"),
        {
            "name": "NY nights",
            "slug": "ny-nights",
            "format": fmt.pk,
            "host_name": "Host",
            "timezone": "America/New_York",
            "weekday": "6",
            "local_time": "01:30",
            "starts_on": "2026-10-30",
            "weeks_ahead": "2",
            "is_active": "on",
            "sessions-TOTAL_FORMS": "0",
            "sessions-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("occurs twice in America/New_York on 2026-11-01" in m for m in shown), shown
    assert LiveSession.objects.filter(series__slug="ny-nights").exclude(schedule_note="").count() == 1


def test_zoned_text_names_edt_or_est_on_the_fall_back_night():
    """QA: 01:30 America/New_York on 1 Nov 2026 occurs twice; Django's "T" printed nothing for it."""
    import datetime as dt

    from sessions_app.templatetags.times import zoned_text

    first = dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # 01:30 EDT
    second = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)  # 01:30 EST
    assert zoned_text(first, "America/New_York", "time") == "01:30 EDT (America/New_York)"
    assert zoned_text(second, "America/New_York", "time") == "01:30 EST (America/New_York)"
