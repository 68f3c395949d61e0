"""Check-in: exactly once, says when and by whom, pay-at-pickup, fulfils the lines; staff door pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from commerce.exceptions import AlreadyCheckedIn, CommerceError, PassInvalid
from commerce.models import Order, OrderLine, PickupBooking
from commerce.selectors_pickup import pickup_no_shows
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_mark_paid
from commerce.services.outbox import outbox_drain
from commerce.services.pickup import (
    booking_by_code,
    checkin_record,
    pickup_cancel,
    pickup_no_shows_message,
    pickup_pass_token,
)
from tests.factories import make_pickup_drop, make_slot, make_staff

pytestmark = pytest.mark.django_db


def book(drop, slot, email="ann@example.com", quantity=1) -> PickupBooking:
    hold = hold_place(drop_id=drop.pk, email=email, quantity=quantity, pickup_slot_id=slot.pk)
    return PickupBooking.objects.select_related("order").get(order=checkout_start(hold_token=hold.token))


@pytest.fixture
def drop():
    return make_pickup_drop(quantity=20, per_customer_limit=5)


@pytest.fixture
def staff(django_user_model):
    return make_staff("door", role="fulfilment", password="pw-door-123", first_name="Dana")


def test_check_in_once_then_the_second_scan_says_when_and_by_whom(drop, staff):
    booking = book(drop, make_slot(drop.popup), quantity=2)
    order_mark_paid(order_id=booking.order_id)
    when = timezone.now()
    result = checkin_record(booking_id=booking.pk, actor=staff, now=when)
    assert result.booking.checked_in_at == when
    assert result.booking.checked_in_by == staff
    assert OrderLine.objects.get(order_id=booking.order_id).fulfilled_quantity == 2
    other = get_user_model().objects.create_user("second", is_staff=True)
    with pytest.raises(AlreadyCheckedIn) as exc:
        checkin_record(booking_id=booking.pk, actor=other)
    assert exc.value.status == 409
    assert exc.value.extra["checked_in_by"] == "Dana"
    assert exc.value.extra["checked_in_at"] == when.isoformat()
    assert "Dana" in exc.value.message
    booking.refresh_from_db()
    assert booking.checked_in_by == staff


def test_pay_at_pickup_needs_the_payment_first(drop, staff):
    booking = book(drop, make_slot(drop.popup))
    assert booking.order.status == Order.Status.AWAITING_PAYMENT
    with pytest.raises(CommerceError) as exc:
        checkin_record(booking_id=booking.pk, actor=staff)
    assert exc.value.code == "payment_required"
    assert PickupBooking.objects.get(pk=booking.pk).checked_in_at is None
    result = checkin_record(booking_id=booking.pk, actor=staff, payment_collected=True)
    assert result.paid_now
    assert Order.objects.get(pk=booking.order_id).status == Order.Status.PAID
    assert OrderLine.objects.get(order_id=booking.order_id).fulfilled_quantity == 1


def test_cancelled_booking_cannot_check_in(drop, staff):
    booking = book(drop, make_slot(drop.popup))
    pickup_cancel(booking_id=booking.pk)
    with pytest.raises(PassInvalid):
        checkin_record(booking_id=booking.pk, actor=staff, payment_collected=True)


def test_code_can_be_the_token_a_url_with_it_or_the_order_number(drop):
    booking = book(drop, make_slot(drop.popup))
    token = pickup_pass_token(booking)
    assert booking_by_code(code=token).pk == booking.pk
    assert booking_by_code(code=f"https://shop.example/x?code={token}").pk == booking.pk
    assert booking_by_code(code=f"  {booking.order.number.lower()} ").pk == booking.pk
    with pytest.raises(PassInvalid):
        booking_by_code(code=booking.order.number, allow_order_number=False)
    with pytest.raises(PassInvalid):
        booking_by_code(code="MM-00000000")


def test_no_shows_are_listed_after_the_slot_ends_and_messaged_once(drop, staff, django_capture_on_commit_callbacks):
    slot = make_slot(drop.popup, starts_in=600, minutes=15)
    came = book(drop, slot, email="came@example.com")
    missed = book(drop, slot, email="missed@example.com")
    order_mark_paid(order_id=came.order_id)
    checkin_record(booking_id=came.pk, actor=staff)
    assert list(pickup_no_shows(slot_id=slot.pk)) == []  # not ended yet
    after = slot.ends_at + dt.timedelta(minutes=1)
    assert [b.pk for b in pickup_no_shows(slot_id=slot.pk, now=after)] == [missed.pk]
    outbox_drain()  # the passes the setup's commits decided on go out first, as they would have live
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_no_shows_message(slot_id=slot.pk, message="Come tomorrow!", now=after) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert pickup_no_shows_message(slot_id=slot.pk, message="Come tomorrow!", now=after) == 0
    assert [m.to for m in mail.outbox] == [["missed@example.com"]]
    assert "Come tomorrow!" in mail.outbox[0].body


def test_staff_door_requires_staff_login(client, django_user_model):
    response = client.get("/pickup/staff/checkin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    django_user_model.objects.create_user("viewer", password="pw-viewer-123")
    client.login(username="viewer", password="pw-viewer-123")
    assert client.get("/pickup/staff/checkin/").status_code == 302


def test_staff_door_checks_in_by_scanned_token_and_refuses_the_repeat(client, drop, staff):
    booking = book(drop, make_slot(drop.popup), quantity=2)
    order_mark_paid(order_id=booking.order_id)
    client.force_login(staff)
    page = client.get("/pickup/staff/checkin/")
    assert page.status_code == 200
    assert b"vendor/jsqr/jsQR.js" in page.content
    token = pickup_pass_token(booking)
    first = client.post("/pickup/staff/checkin/", {"code": token})
    assert first.status_code == 200
    html = first.content.decode()
    assert 'data-checkin-result="ok"' in html
    assert "ann@example.com" in html
    assert f"2 × {drop.display_title}" in html
    second = client.post("/pickup/staff/checkin/", {"code": token})
    assert second.status_code == 409
    assert 'data-checkin-result="already"' in second.content.decode()
    assert "Dana" in second.content.decode()


def test_staff_door_pay_at_pickup_flow_by_typed_order_number(client, drop, staff):
    booking = book(drop, make_slot(drop.popup))
    client.force_login(staff)
    due = client.post("/pickup/staff/checkin/", {"code": booking.order.number})
    assert due.status_code == 409
    assert 'data-checkin-result="payment"' in due.content.decode()
    done = client.post("/pickup/staff/checkin/", {"code": booking.order.number, "payment_collected": "1"})
    assert 'data-checkin-result="ok"' in done.content.decode()
    assert Order.objects.get(pk=booking.order_id).status == Order.Status.PAID


def test_staff_door_rejects_a_forged_code(client, staff):
    client.force_login(staff)
    response = client.post("/pickup/staff/checkin/", {"code": "eyJiIjoxfQ:forged"})
    assert response.status_code == 404
    assert 'data-checkin-result="invalid"' in response.content.decode()


def test_staff_overview_shows_capacity_used_and_no_shows_page(client, drop, staff):
    slot = make_slot(drop.popup, capacity=4)
    book(drop, slot)
    client.force_login(staff)
    html = client.get("/pickup/staff/").content.decode()
    assert "1 / 4" in html
    response = client.get(f"/pickup/staff/popups/{drop.popup.pk}/no-shows/")
    assert response.status_code == 200
