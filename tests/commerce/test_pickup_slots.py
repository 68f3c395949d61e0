"""Slot generation from a rule in the pop-up's timezone, DST change days included; slot edits."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from commerce.exceptions import InvalidInput
from commerce.models import PickupSlot
from commerce.services.holds import hold_place
from commerce.services.pickup import pickup_slot_update, pickup_slots_generate
from tests.factories import make_pickup_drop, make_popup, make_slot

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def local_hm(slot) -> str:
    return slot.starts_at.astimezone(BERLIN).strftime("%H:%M")


def test_every_15_minutes_from_12_to_18_with_capacity_8():
    popup = make_popup(starts_on=dt.date(2026, 6, 12), ends_on=dt.date(2026, 6, 13))
    result = pickup_slots_generate(
        popup_id=popup.pk,
        dates=[dt.date(2026, 6, 12)],
        start=dt.time(12),
        end=dt.time(18),
        every_minutes=15,
        capacity=8,
    )
    slots = list(PickupSlot.objects.filter(popup=popup))
    assert len(result.created) == len(slots) == 24
    assert slots[0].starts_at == utc(2026, 6, 12, 10, 0)  # 12:00 CEST
    assert slots[-1].ends_at == utc(2026, 6, 12, 16, 0)  # 18:00 CEST
    assert {s.capacity for s in slots} == {8}
    assert {s.available for s in slots} == {8}


def test_same_local_times_on_both_sides_of_spring_forward():
    # given a pop-up running across the night Berlin moves from CET (+1) to CEST (+2)
    popup = make_popup(starts_on=dt.date(2026, 3, 28), ends_on=dt.date(2026, 3, 29))
    # when staff generate 12:00–13:00 every 30 minutes on both days
    pickup_slots_generate(
        popup_id=popup.pk,
        dates=[dt.date(2026, 3, 28), dt.date(2026, 3, 29)],
        start=dt.time(12),
        end=dt.time(13),
        every_minutes=30,
        capacity=4,
    )
    slots = list(PickupSlot.objects.filter(popup=popup).order_by("starts_at"))
    # then the local times are the same every day and the UTC times shift by the offset change
    assert [local_hm(s) for s in slots] == ["12:00", "12:30", "12:00", "12:30"]
    assert [s.starts_at for s in slots] == [
        utc(2026, 3, 28, 11, 0),
        utc(2026, 3, 28, 11, 30),
        utc(2026, 3, 29, 10, 0),
        utc(2026, 3, 29, 10, 30),
    ]
    assert all(s.ends_at - s.starts_at == dt.timedelta(minutes=30) for s in slots)


def test_wall_times_inside_the_spring_forward_gap_are_skipped():
    popup = make_popup(starts_on=dt.date(2026, 3, 29), ends_on=dt.date(2026, 3, 29))
    result = pickup_slots_generate(
        popup_id=popup.pk, dates=[dt.date(2026, 3, 29)], start=dt.time(1), end=dt.time(4), every_minutes=30, capacity=2
    )
    slots = list(PickupSlot.objects.filter(popup=popup).order_by("starts_at"))
    assert result.nonexistent == ["2026-03-29 02:00", "2026-03-29 02:30"]
    assert [local_hm(s) for s in slots] == ["01:00", "01:30", "03:00", "03:30"]
    assert [s.starts_at for s in slots] == [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 30),
    ]


def test_the_repeated_hour_on_fall_back_gets_a_slot_for_each_real_instant():
    popup = make_popup(starts_on=dt.date(2026, 10, 25), ends_on=dt.date(2026, 10, 25))
    pickup_slots_generate(
        popup_id=popup.pk, dates=[dt.date(2026, 10, 25)], start=dt.time(1), end=dt.time(4), every_minutes=60, capacity=2
    )
    slots = list(PickupSlot.objects.filter(popup=popup).order_by("starts_at"))
    assert [s.starts_at for s in slots] == [
        utc(2026, 10, 24, 23, 0),  # 01:00 CEST
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc(2026, 10, 25, 1, 0),  # 02:00 CET (the clock went back)
        utc(2026, 10, 25, 2, 0),  # 03:00 CET
    ]
    assert [s.starts_at.astimezone(BERLIN).strftime("%H:%M %Z") for s in slots] == [
        "01:00 CEST",
        "02:00 CEST",
        "02:00 CET",
        "03:00 CET",
    ]


def test_other_timezones_use_their_own_offsets():
    popup = make_popup(timezone_name="America/New_York", starts_on=dt.date(2026, 3, 8), ends_on=dt.date(2026, 3, 8))
    pickup_slots_generate(
        popup_id=popup.pk, dates=[dt.date(2026, 3, 8)], start=dt.time(9), end=dt.time(10), every_minutes=60, capacity=1
    )
    assert PickupSlot.objects.get(popup=popup).starts_at == utc(2026, 3, 8, 13, 0)  # 09:00 EDT, the DST day


def test_running_a_rule_twice_keeps_existing_slots():
    popup = make_popup(starts_on=dt.date(2026, 6, 12), ends_on=dt.date(2026, 6, 12))
    rule = {
        "popup_id": popup.pk,
        "dates": [dt.date(2026, 6, 12)],
        "start": dt.time(12),
        "end": dt.time(13),
        "every_minutes": 20,
        "capacity": 3,
    }
    assert len(pickup_slots_generate(**rule).created) == 3
    again = pickup_slots_generate(**rule)
    assert again.created == []
    assert len(again.existing) == 3
    assert PickupSlot.objects.filter(popup=popup).count() == 3


@pytest.mark.parametrize(
    "change",
    [
        {"every_minutes": 0},
        {"capacity": 0},
        {"end": dt.time(11)},
        {"dates": []},
        {"every_minutes": 1, "dates": [dt.date(2026, 6, d) for d in range(1, 29)]},
    ],
)
def test_bad_rules_are_refused(change):
    popup = make_popup()
    rule = {
        "popup_id": popup.pk,
        "dates": [dt.date(2026, 6, 12)],
        "start": dt.time(12),
        "end": dt.time(18),
        "every_minutes": 15,
        "capacity": 3,
        **change,
    }
    with pytest.raises(InvalidInput):
        pickup_slots_generate(**rule)
    assert not PickupSlot.objects.exists()


def test_capacity_edit_moves_available_and_never_below_used():
    drop = make_pickup_drop(per_customer_limit=5)
    slot = make_slot(drop.popup, capacity=3)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, pickup_slot_id=slot.pk)
    slot = pickup_slot_update(slot_id=slot.pk, capacity=5)
    assert (slot.capacity, slot.available, slot.used) == (5, 3, 2)
    with pytest.raises(InvalidInput) as exc:
        pickup_slot_update(slot_id=slot.pk, capacity=1)
    assert exc.value.code == "capacity_below_used"
    slot = pickup_slot_update(slot_id=slot.pk, capacity=2)
    assert (slot.capacity, slot.available) == (2, 0)


def test_close_and_reopen_a_slot():
    drop = make_pickup_drop()
    slot = make_slot(drop.popup)
    assert pickup_slot_update(slot_id=slot.pk, closed=True).closed
    from commerce.exceptions import PickupSlotUnavailable

    with pytest.raises(PickupSlotUnavailable) as exc:
        hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    assert "closed" in exc.value.message
    pickup_slot_update(slot_id=slot.pk, closed=False)
    assert hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk).pickup_slot_id


def test_database_refuses_available_above_capacity():
    from django.db import IntegrityError, transaction

    slot = make_slot(make_popup(), capacity=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        PickupSlot.objects.filter(pk=slot.pk).update(available=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        PickupSlot.objects.filter(pk=slot.pk).update(available=-1)


def test_admin_generates_slots_from_a_rule_and_shows_capacity_used(admin_client):
    popup = make_popup(starts_on=dt.date(2026, 3, 28), ends_on=dt.date(2026, 3, 30))
    url = f"/admin/commerce/popup/{popup.pk}/generate/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "2026-03-29" in page.content.decode()
    response = admin_client.post(
        url,
        {
            "dates": ["2026-03-28", "2026-03-29"],
            "start": "12:00",
            "end": "18:00",
            "every_minutes": "15",
            "capacity": "8",
            "price_adjust_percent": "0",
        },
    )
    assert response.status_code == 302
    slots = PickupSlot.objects.filter(popup=popup)
    assert slots.count() == 48
    assert {s.starts_at.astimezone(BERLIN).strftime("%H:%M") for s in slots} == {
        f"{h:02d}:{m:02d}" for h in range(12, 18) for m in (0, 15, 30, 45)
    }
    changelist = admin_client.get("/admin/commerce/pickupslot/")
    assert changelist.status_code == 200
    assert "0 / 8" in changelist.content.decode()
    assert admin_client.get(f"/admin/commerce/popup/{popup.pk}/change/").status_code == 200
    assert admin_client.get("/admin/commerce/popup/").status_code == 200


def test_admin_rule_with_bad_times_is_a_form_error(admin_client):
    popup = make_popup(starts_on=dt.date(2026, 6, 1), ends_on=dt.date(2026, 6, 2))
    response = admin_client.post(
        f"/admin/commerce/popup/{popup.pk}/generate/",
        {
            "dates": ["2026-06-01"],
            "start": "18:00",
            "end": "12:00",
            "every_minutes": "15",
            "capacity": "8",
            "price_adjust_percent": "0",
        },
    )
    assert response.status_code == 200
    assert "End after the start time." in response.content.decode()
    assert not PickupSlot.objects.exists()


def test_admin_slot_edit_cannot_go_below_used_capacity(admin_client):
    drop = make_pickup_drop(per_customer_limit=5)
    slot = make_slot(drop.popup, capacity=3)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, pickup_slot_id=slot.pk)
    data = {
        "starts_at_0": slot.starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": slot.starts_at.strftime("%H:%M:%S"),
        "ends_at_0": slot.ends_at.strftime("%Y-%m-%d"),
        "ends_at_1": slot.ends_at.strftime("%H:%M:%S"),
        "capacity": "1",
        "price_adjust_percent": "0",
    }
    response = admin_client.post(f"/admin/commerce/pickupslot/{slot.pk}/change/", data)
    assert response.status_code == 200
    assert "2 places are already booked or held" in response.content.decode()
    response = admin_client.post(
        f"/admin/commerce/pickupslot/{slot.pk}/change/", {**data, "capacity": "6", "closed": "on"}
    )
    assert response.status_code == 302
    slot.refresh_from_db()
    assert (slot.capacity, slot.available, slot.closed) == (6, 4, True)


def test_admin_drop_form_requires_a_popup_for_pickup(admin_client):
    drop = make_pickup_drop()
    response = admin_client.get(f"/admin/commerce/drop/{drop.pk}/change/")
    assert response.status_code == 200
    assert 'name="fulfilment"' in response.content.decode()
