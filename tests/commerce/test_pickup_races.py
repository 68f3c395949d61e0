"""Pickup-slot capacity under real concurrency (PostgreSQL): exact winners, never over capacity."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from commerce.exceptions import AlreadyCheckedIn, PickupSlotUnavailable
from commerce.models import Drop, Hold, OrderLine, PickupBooking, PickupSlot
from commerce.services.holds import hold_place
from commerce.services.orders import order_mark_paid
from commerce.services.pickup import checkin_record, pickup_reschedule, pickup_slot_book
from tests.commerce.test_races import race
from tests.factories import make_pickup_drop, make_slot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("capacity", "buyers"), [(1, 40), (5, 60)])
def test_many_bookings_race_for_a_slot(capacity, buyers):
    # given a slot with `capacity` places and plenty of stock
    drop = make_pickup_drop(quantity=500, per_customer_limit=1)
    slot = make_slot(drop.popup, capacity=capacity)
    make_slot(drop.popup, starts_in=7200, capacity=3)
    # when `buyers` viewers book it at the same instant
    results = race(
        buyers,
        lambda i: pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email=f"buyer{i}@example.com", quantity=1),
    )
    # then exactly `capacity` win and every other one gets the full-slot message with the nearest free slots
    won = [r for r in results if isinstance(r, PickupBooking)]
    refused = [r for r in results if isinstance(r, PickupSlotUnavailable)]
    assert [r for r in results if not isinstance(r, PickupBooking | PickupSlotUnavailable)] == []
    assert len(won) == capacity
    assert len(refused) == buyers - capacity
    assert all(r.code == "pickup_slot_full" and len(r.extra["nearest"]) == 1 for r in refused)
    assert PickupSlot.objects.get(pk=slot.pk).available == 0
    assert PickupBooking.objects.filter(slot=slot).count() == capacity
    # and no unit stayed taken by a loser: stock moved by exactly the winners
    assert Drop.objects.get(pk=drop.pk).available == 500 - capacity
    assert Hold.objects.filter(pickup_slot=slot).count() == capacity


def test_holds_race_for_the_last_place():
    drop = make_pickup_drop(quantity=100, per_customer_limit=1)
    slot = make_slot(drop.popup, capacity=3)
    results = race(
        30, lambda i: hold_place(drop_id=drop.pk, email=f"h{i}@example.com", quantity=1, pickup_slot_id=slot.pk)
    )
    assert sum(isinstance(r, Hold) for r in results) == 3
    assert PickupSlot.objects.get(pk=slot.pk).available == 0
    assert Drop.objects.get(pk=drop.pk).available == 97


def test_reschedules_race_into_the_last_place():
    drop = make_pickup_drop(quantity=100, per_customer_limit=1)
    source = make_slot(drop.popup, capacity=20)
    target = make_slot(drop.popup, starts_in=7200, capacity=2)
    bookings = [
        pickup_slot_book(drop_id=drop.pk, slot_id=source.pk, email=f"r{i}@example.com", quantity=1) for i in range(12)
    ]
    results = race(12, lambda i: pickup_reschedule(booking_id=bookings[i].pk, slot_id=target.pk))
    assert sum(isinstance(r, PickupBooking) for r in results) == 2
    assert sum(isinstance(r, PickupSlotUnavailable) for r in results) == 10
    assert PickupSlot.objects.get(pk=target.pk).available == 0
    assert PickupSlot.objects.get(pk=source.pk).available == 20 - 10


def test_several_staff_scan_the_same_pass_at_once():
    drop = make_pickup_drop(quantity=10)
    slot = make_slot(drop.popup, capacity=5)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=2)
    order_mark_paid(order_id=booking.order_id)
    staff = [get_user_model().objects.create_user(f"door{i}", is_staff=True) for i in range(8)]
    results = race(8, lambda i: checkin_record(booking_id=booking.pk, actor=staff[i]))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert sum(isinstance(r, AlreadyCheckedIn) for r in results) == 7
    assert OrderLine.objects.get(order_id=booking.order_id).fulfilled_quantity == 2
