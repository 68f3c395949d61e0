"""Viewer pages: slot choice at "add to cart" (local time, places left, full shown as full), the pass."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.models import Hold, Order, PickupBooking, PickupSlot
from commerce.services.holds import hold_place
from commerce.services.pickup import pickup_slot_book
from tests.factories import make_drop, make_pickup_drop, make_slot

pytestmark = pytest.mark.django_db


def test_buy_link_of_a_pickup_drop_leads_to_the_slot_choice(client):
    drop = make_pickup_drop()
    response = client.get(f"/drops/{drop.pk}/checkout/")
    assert response.status_code == 302
    assert response["Location"] == f"/drops/{drop.pk}/pickup/"
    shipped = make_drop()
    assert client.get(f"/drops/{shipped.pk}/checkout/").status_code == 200


def test_slot_list_shows_local_time_places_left_and_full_slots(client):
    drop = make_pickup_drop(per_customer_limit=3)
    free = make_slot(drop.popup, capacity=5)
    full = make_slot(drop.popup, starts_in=7200, capacity=1)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=full.pk)
    html = client.get(f"/drops/{drop.pk}/pickup/").content.decode()
    local = timezone.localtime(free.starts_at, drop.popup.tz).strftime("%H:%M")
    assert local in html
    assert "5 of 5 left" in html
    assert f'data-slot="{full.pk}"' in html
    full_row = html.split(f'data-slot="{full.pk}"')[1].split("</label>")[0]
    assert "disabled" in full_row
    assert "Full" in full_row


def test_reserving_a_slot_places_the_hold_with_its_place(client):
    drop = make_pickup_drop(per_customer_limit=3)
    slot = make_slot(drop.popup, capacity=2)
    response = client.post(f"/drops/{drop.pk}/pickup/", {"email": "v@example.com", "quantity": "2", "slot": slot.pk})
    assert response.status_code == 302
    hold = Hold.objects.get()
    assert response["Location"] == f"/cart/{hold.token}/"
    assert hold.pickup_slot_id == slot.pk
    cart = client.get(response["Location"]).content.decode()
    assert "data-pickup-slot" in cart
    done = client.post(response["Location"], {"pay": "1"})
    order = Order.objects.get()
    assert done["Location"] == order.get_absolute_url()
    assert "data-pickup-pass-link" in client.get(done["Location"]).content.decode()


def test_slot_taken_meanwhile_is_a_409_form_error_with_the_nearest(client):
    drop = make_pickup_drop(per_customer_limit=3)
    slot = make_slot(drop.popup, capacity=1)
    make_slot(drop.popup, starts_in=5400, capacity=2)
    hold_place(drop_id=drop.pk, email="first@example.com", quantity=1, pickup_slot_id=slot.pk)
    response = client.post(f"/drops/{drop.pk}/pickup/", {"email": "v@example.com", "quantity": "1", "slot": slot.pk})
    assert response.status_code == 409
    html = response.content.decode()
    assert "full" in html
    assert "Nearest free slots" in html
    assert Hold.objects.count() == 1


def test_missing_slot_is_a_form_error(client):
    drop = make_pickup_drop()
    make_slot(drop.popup)
    response = client.post(f"/drops/{drop.pk}/pickup/", {"email": "v@example.com", "quantity": "1"})
    assert response.status_code == 400
    assert "Choose a pickup slot." in response.content.decode()


def test_pickup_or_ship_can_choose_shipping(client):
    drop = make_pickup_drop(fulfilment="pickup_or_ship")
    make_slot(drop.popup)
    response = client.post(f"/drops/{drop.pk}/pickup/", {"email": "v@example.com", "quantity": "1", "slot": "ship"})
    assert response.status_code == 302
    assert Hold.objects.get().pickup_slot_id is None


def test_pass_page_shows_qr_slot_and_calendar_and_reschedules(client):
    drop = make_pickup_drop()
    a = make_slot(drop.popup, capacity=2)
    b = make_slot(drop.popup, starts_in=7200, capacity=2)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=a.pk, email="v@example.com", quantity=1)
    url = f"/pickup/pass/{booking.order.token}/"
    html = client.get(url).content.decode()
    assert "<svg" in html
    assert booking.order.number in html
    ics = client.get(f"{url}pickup.ics")
    assert ics["Content-Type"].startswith("text/calendar")
    assert b"BEGIN:VEVENT" in ics.content
    moved = client.post(url, {"action": "reschedule", "slot": b.pk})
    assert moved.status_code == 302
    assert PickupBooking.objects.get(pk=booking.pk).slot_id == b.pk
    assert PickupSlot.objects.get(pk=a.pk).available == 2


def test_pass_page_cancel_and_unknown_token(client):
    drop = make_pickup_drop()
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=make_slot(drop.popup).pk, email="v@example.com", quantity=1)
    url = f"/pickup/pass/{booking.order.token}/"
    assert client.post(url, {"action": "cancel"}).status_code == 302
    html = client.get(url).content.decode()
    assert "data-pass-cancelled" in html
    assert "<svg" not in html
    assert client.get("/pickup/pass/not-a-token/").status_code == 404
