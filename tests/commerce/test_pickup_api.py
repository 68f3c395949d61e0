"""Pickup partner API: scoped keys, partner sees only its pop-ups, book/reschedule idempotently,
check in by token (409 on repeat), no-shows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.models import Partner, PickupBooking, PickupSlot
from commerce.services.api_keys import api_key_create
from commerce.services.pickup import pickup_pass_token
from tests.factories import make_pickup_drop, make_popup, make_slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner():
    return Partner.objects.create(name="Door Co")


def key(partner, scopes):
    return {"X-API-Key": api_key_create(partner=partner, name="k", scopes=scopes)[1]}


@pytest.fixture
def setup(partner):
    popup = make_popup(partner=partner)
    drop = make_pickup_drop(popup=popup, quantity=10, per_customer_limit=5)
    slot = make_slot(popup, capacity=1)
    other_slot = make_slot(popup, starts_in=7200, capacity=3)
    return popup, drop, slot, other_slot


def test_scopes_are_enforced(client, partner, setup):
    read = key(partner, ["pickup:read"])
    assert client.get("/api/v1/pickup/popups", headers=read).status_code == 200
    response = client.post("/api/v1/pickup/checkins", {"token": "x"}, content_type="application/json", headers=read)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    orders_only = key(partner, ["orders:read"])
    assert client.get("/api/v1/pickup/popups", headers=orders_only).status_code == 403


def test_partner_sees_only_its_popups_and_their_slots(client, partner, setup):
    popup, drop, slot, other_slot = setup
    foreign = make_popup(name="Not yours", partner=Partner.objects.create(name="Other Co"))
    make_slot(foreign)
    auth = key(partner, ["pickup:read"])
    popups = client.get("/api/v1/pickup/popups", headers=auth).json()
    assert [p["id"] for p in popups["items"]] == [popup.pk]
    slots = client.get(f"/api/v1/pickup/popups/{popup.pk}/slots", headers=auth).json()
    assert [s["id"] for s in slots["items"]] == [slot.pk, other_slot.pk]
    assert slots["items"][0]["capacity"] == 1
    assert slots["items"][0]["available"] == 1
    assert slots["items"][0]["label"].endswith(("CET", "CEST"))
    response = client.get(f"/api/v1/pickup/popups/{foreign.pk}/slots", headers=auth)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_book_is_idempotent_and_full_slot_is_409_with_nearest(client, partner, setup):
    popup, drop, slot, other_slot = setup
    auth = {**key(partner, ["pickup:write"]), "Idempotency-Key": "book-1"}
    body = {"drop_id": drop.pk, "slot_id": slot.pk, "email": "ann@example.com", "quantity": 2}
    first = client.post("/api/v1/pickup/bookings", body, content_type="application/json", headers=auth)
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["slot"]["id"] == slot.pk
    assert data["order_status"] == "awaiting_payment"
    assert data["total_minor"] == 8598
    assert data["pass_token"]
    replay = client.post("/api/v1/pickup/bookings", body, content_type="application/json", headers=auth)
    assert replay.status_code == 201
    assert replay.json()["order_number"] == data["order_number"]
    assert PickupBooking.objects.count() == 1
    assert PickupSlot.objects.get(pk=slot.pk).available == 0
    full = client.post(
        "/api/v1/pickup/bookings",
        {**body, "email": "bob@example.com"},
        content_type="application/json",
        headers={**auth, "Idempotency-Key": "book-2"},
    )
    assert full.status_code == 409
    assert full.json()["code"] == "pickup_slot_full"
    assert [s["id"] for s in full.json()["fields"]["nearest"]] == [other_slot.pk]


def test_book_a_foreign_slot_is_404(client, partner, setup):
    _, drop, _, _ = setup
    foreign_slot = make_slot(make_popup(name="Not yours"))
    response = client.post(
        "/api/v1/pickup/bookings",
        {"drop_id": drop.pk, "slot_id": foreign_slot.pk, "email": "a@example.com", "quantity": 1},
        content_type="application/json",
        headers=key(partner, ["pickup:write"]),
    )
    assert response.status_code == 404


def test_bad_input_is_422(client, partner, setup):
    _, drop, slot, _ = setup
    response = client.post(
        "/api/v1/pickup/bookings",
        {"drop_id": drop.pk, "slot_id": slot.pk, "email": "not-an-email", "quantity": 0},
        content_type="application/json",
        headers=key(partner, ["pickup:write"]),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


def test_reschedule_ok_then_into_a_full_slot_is_409(client, partner, setup):
    popup, drop, slot, other_slot = setup
    auth = key(partner, ["pickup:write"])
    number = client.post(
        "/api/v1/pickup/bookings",
        {"drop_id": drop.pk, "slot_id": slot.pk, "email": "ann@example.com", "quantity": 1},
        content_type="application/json",
        headers=auth,
    ).json()["order_number"]
    moved = client.post(
        f"/api/v1/pickup/bookings/{number}/reschedule",
        {"slot_id": other_slot.pk},
        content_type="application/json",
        headers={**auth, "Idempotency-Key": "mv-1"},
    )
    assert moved.status_code == 200
    assert moved.json()["slot"]["id"] == other_slot.pk
    client.post(
        "/api/v1/pickup/bookings",
        {"drop_id": drop.pk, "slot_id": slot.pk, "email": "bob@example.com", "quantity": 1},
        content_type="application/json",
        headers=auth,
    )
    back = client.post(
        f"/api/v1/pickup/bookings/{number}/reschedule",
        {"slot_id": slot.pk},
        content_type="application/json",
        headers=auth,
    )
    assert back.status_code == 409
    assert back.json()["code"] == "pickup_slot_full"
    assert PickupBooking.objects.get(order__number=number).slot_id == other_slot.pk


def test_check_in_by_token_then_409_on_repeat(client, partner, setup):
    _, drop, slot, _ = setup
    number = client.post(
        "/api/v1/pickup/bookings",
        {"drop_id": drop.pk, "slot_id": slot.pk, "email": "ann@example.com", "quantity": 1},
        content_type="application/json",
        headers=key(partner, ["pickup:write"]),
    ).json()["order_number"]
    token = pickup_pass_token(PickupBooking.objects.get(order__number=number))
    auth = key(partner, ["pickup:checkin"])
    unpaid = client.post("/api/v1/pickup/checkins", {"token": token}, content_type="application/json", headers=auth)
    assert unpaid.status_code == 409
    assert unpaid.json()["code"] == "payment_required"
    first = client.post(
        "/api/v1/pickup/checkins",
        {"token": token, "payment_collected": True},
        content_type="application/json",
        headers=auth,
    )
    assert first.status_code == 201
    assert first.json()["checked_in_by"] == "API: Door Co"
    assert first.json()["order_status"] == "paid"
    again = client.post(
        "/api/v1/pickup/checkins",
        {"token": token, "payment_collected": True},
        content_type="application/json",
        headers=auth,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_checked_in"
    assert again.json()["fields"]["checked_in_by"] == "API: Door Co"
    assert again.json()["fields"]["checked_in_at"] == first.json()["checked_in_at"].replace("Z", "+00:00")


def test_check_in_with_forged_or_foreign_token_is_404(client, partner, setup):
    auth = key(partner, ["pickup:checkin"])
    forged = client.post(
        "/api/v1/pickup/checkins", {"token": "eyJiIjoxfQ:abc"}, content_type="application/json", headers=auth
    )
    assert forged.status_code == 404
    assert forged.json()["code"] == "pass_invalid"
    foreign_popup = make_popup(name="Not yours")
    foreign_drop = make_pickup_drop(popup=foreign_popup)
    foreign_slot = make_slot(foreign_popup)
    from commerce.services.pickup import pickup_slot_book

    booking = pickup_slot_book(drop_id=foreign_drop.pk, slot_id=foreign_slot.pk, email="x@example.com", quantity=1)
    response = client.post(
        "/api/v1/pickup/checkins", {"token": pickup_pass_token(booking)}, content_type="application/json", headers=auth
    )
    assert response.status_code == 404


def test_no_shows_listed_after_the_slot_ends(client, partner, setup):
    popup, drop, _, _ = setup
    past = make_slot(popup, starts_at=timezone.now() + dt.timedelta(minutes=1), minutes=1)
    from commerce.services.pickup import pickup_slot_book

    pickup_slot_book(drop_id=drop.pk, slot_id=past.pk, email="late@example.com", quantity=1)
    PickupSlot.objects.filter(pk=past.pk).update(
        starts_at=timezone.now() - dt.timedelta(hours=1), ends_at=timezone.now() - dt.timedelta(minutes=30)
    )
    response = client.get(f"/api/v1/pickup/popups/{popup.pk}/no-shows", headers=key(partner, ["pickup:read"]))
    assert response.status_code == 200
    assert [n["email"] for n in response.json()["items"]] == ["late@example.com"]
