"""A pickup pass expires with its slot as the slot is now: moving the slot moves the pass's expiry."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import signing

from commerce.exceptions import InvalidInput, PassInvalid
from commerce.models import PickupBooking, PickupSlot
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from commerce.services.pickup import PASS_SALT, pickup_pass_token, pickup_pass_verify, pickup_slot_update
from tests.factories import make_pickup_drop, make_slot

pytestmark = pytest.mark.django_db
GRACE = dt.timedelta(hours=2)


@pytest.fixture(autouse=True)
def _grace(settings):
    settings.PICKUP_PASS_GRACE_HOURS = 2


@pytest.fixture
def booked():
    drop = make_pickup_drop(quantity=5, per_customer_limit=5)
    slot = make_slot(drop.popup, starts_in=3600, minutes=30)
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token)
    booking = PickupBooking.objects.select_related("slot").get(order=order)
    return booking, slot, pickup_pass_token(booking)


def assert_expired(token, now):
    with pytest.raises(PassInvalid) as exc:
        pickup_pass_verify(token=token, now=now)
    assert exc.value.code == "pass_expired"


def test_a_slot_moved_later_keeps_the_pass_valid_until_the_new_end(booked):
    booking, slot, token = booked
    old_expiry = slot.ends_at + GRACE
    # when staff move the slot a day later
    moved = pickup_slot_update(
        slot_id=slot.pk, starts_at=slot.starts_at + dt.timedelta(days=1), ends_at=slot.ends_at + dt.timedelta(days=1)
    )
    # then the QR code the buyer already has still works after the old expiry, at the new time
    assert pickup_pass_verify(token=token, now=old_expiry + dt.timedelta(minutes=1)).pk == booking.pk
    assert pickup_pass_verify(token=token, now=moved.starts_at).pk == booking.pk
    assert pickup_pass_verify(token=token, now=moved.ends_at + GRACE - dt.timedelta(seconds=1)).pk == booking.pk
    # and it expires grace hours after the new end
    assert_expired(token, moved.ends_at + GRACE + dt.timedelta(seconds=1))
    # the token itself did not change (same QR code on the page and in the e-mail)
    booking.refresh_from_db()
    assert pickup_pass_token(booking) == token


def test_a_slot_moved_earlier_no_longer_honours_the_old_expiry(booked):
    _booking, slot, token = booked
    moved = pickup_slot_update(
        slot_id=slot.pk, starts_at=slot.starts_at - dt.timedelta(hours=6), ends_at=slot.ends_at - dt.timedelta(hours=6)
    )
    assert_expired(token, moved.ends_at + GRACE + dt.timedelta(seconds=1))  # before the old expiry
    assert moved.ends_at + GRACE + dt.timedelta(seconds=1) < slot.ends_at + GRACE


def test_an_older_token_with_an_embedded_expiry_follows_the_slot_too(booked):
    booking, slot, _token = booked
    old_expiry = int((slot.ends_at + GRACE).timestamp())
    legacy = signing.Signer(salt=PASS_SALT).sign_object({"b": booking.pk, "v": booking.pass_version, "e": old_expiry})
    pickup_slot_update(slot_id=slot.pk, starts_at=slot.starts_at + dt.timedelta(days=1), ends_at=slot.ends_at + dt.timedelta(days=1))
    assert pickup_pass_verify(token=legacy, now=slot.ends_at + GRACE + dt.timedelta(hours=1)).pk == booking.pk


def test_slot_times_must_be_ordered(booked):
    _booking, slot, _token = booked
    with pytest.raises(InvalidInput) as exc:
        pickup_slot_update(slot_id=slot.pk, starts_at=slot.ends_at, ends_at=slot.starts_at)
    assert exc.value.code == "invalid_slot_times"
    assert PickupSlot.objects.get(pk=slot.pk).starts_at == slot.starts_at


def test_moving_a_slot_in_the_admin_moves_the_pass_expiry(booked, admin_client, settings):
    booking, slot, token = booked
    tz = ZoneInfo(settings.SHOP_TIMEZONE)  # the back office shows and reads times in the shop's timezone
    new_start = slot.starts_at + dt.timedelta(days=2)
    new_end = slot.ends_at + dt.timedelta(days=2)
    fmt = lambda t: {"0": t.astimezone(tz).strftime("%Y-%m-%d"), "1": t.astimezone(tz).strftime("%H:%M:%S")}  # noqa: E731
    data = {
        "starts_at_0": fmt(new_start)["0"],
        "starts_at_1": fmt(new_start)["1"],
        "ends_at_0": fmt(new_end)["0"],
        "ends_at_1": fmt(new_end)["1"],
        "capacity": slot.capacity,
        "price_adjust_percent": "0",
    }
    response = admin_client.post(f"/admin/commerce/pickupslot/{slot.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    moved = PickupSlot.objects.get(pk=slot.pk)
    assert moved.ends_at == new_end.replace(microsecond=0)
    assert pickup_pass_verify(token=token, now=slot.ends_at + GRACE + dt.timedelta(hours=1)).pk == booking.pk
