"""Pickup passes: signed tokens (forged/expired/superseded rejected), e-mail with QR + .ics, reschedule, cancel."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest
from django.core import mail, signing
from django.utils import timezone

from commerce.exceptions import InvalidTransition, PassInvalid, PickupInvalid, PickupSlotUnavailable
from commerce.models import Hold, Order, PickupBooking, PickupSlot, Refund
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_mark_paid
from commerce.services.outbox import outbox_drain
from commerce.services.pickup import (
    PASS_SALT,
    pickup_cancel,
    pickup_pass_token,
    pickup_pass_verify,
    pickup_reschedule,
)
from tests.factories import make_pickup_drop, make_popup, make_slot

pytestmark = pytest.mark.django_db


def book(drop, slot, email="ann@example.com", quantity=1) -> PickupBooking:
    hold = hold_place(drop_id=drop.pk, email=email, quantity=quantity, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token)
    return PickupBooking.objects.select_related("slot__popup", "order").get(order=order)


@pytest.fixture
def drop():
    return make_pickup_drop(quantity=20, per_customer_limit=5)


def test_token_round_trip(drop):
    booking = book(drop, make_slot(drop.popup))
    other = book(drop, make_slot(drop.popup, starts_in=9000), email="bob@example.com")
    token = pickup_pass_token(booking)
    assert token != pickup_pass_token(other)
    assert len(token.rsplit(":", 1)[1]) >= 27  # HMAC-SHA256, base64
    assert pickup_pass_verify(token=token).pk == booking.pk
    assert pickup_pass_verify(token=pickup_pass_token(other)).pk == other.pk


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature altered
        lambda t: signing.Signer(salt="another.salt").sign_object({"b": 1, "v": 1, "e": 4102444800}),
        lambda t: signing.Signer(key="not-our-secret", salt=PASS_SALT).sign_object({"b": 1, "v": 1, "e": 4102444800}),
        lambda t: signing.dumps({"b": 1, "v": 1, "e": 4102444800}, salt=PASS_SALT),  # another signing format
        lambda t: "",
        lambda t: "MM-12345678",
        lambda t: "garbage:more:garbage",
    ],
)
def test_forged_tokens_are_rejected(drop, forge):
    booking = book(drop, make_slot(drop.popup))
    with pytest.raises(PassInvalid) as exc:
        pickup_pass_verify(token=forge(pickup_pass_token(booking)))
    assert exc.value.code == "pass_invalid"


def test_expired_token_is_rejected_after_the_slot_and_grace(drop, settings):
    settings.PICKUP_PASS_GRACE_HOURS = 2
    slot = make_slot(drop.popup, starts_in=3600, minutes=30)
    booking = book(drop, slot)
    token = pickup_pass_token(booking)
    assert pickup_pass_verify(token=token, now=slot.ends_at + dt.timedelta(hours=2) - dt.timedelta(seconds=1))
    with pytest.raises(PassInvalid) as exc:
        pickup_pass_verify(token=token, now=slot.ends_at + dt.timedelta(hours=2, seconds=1))
    assert exc.value.code == "pass_expired"
    assert exc.value.status == 410


def test_cancelled_booking_token_is_rejected(drop):
    booking = book(drop, make_slot(drop.popup))
    token = pickup_pass_token(booking)
    pickup_cancel(booking_id=booking.pk)
    with pytest.raises(PassInvalid):
        pickup_pass_verify(token=token)


def test_pass_email_has_the_qr_code_and_a_calendar_entry(drop, django_capture_on_commit_callbacks):
    slot = make_slot(drop.popup, starts_at=dt.datetime(2030, 3, 31, 10, 0, tzinfo=dt.UTC))  # 12:00 CEST
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(drop, slot)
    pass_mail = [m for m in mail.outbox if "pickup pass" in m.subject]
    assert len(pass_mail) == 1
    message = pass_mail[0]
    assert message.to == ["ann@example.com"]
    assert "Sun 31 Mar, 12:00–12:15 CEST" in message.body
    assert booking.order.token in message.body
    html = message.alternatives[0][0]
    assert 'src="cid:pickup-qr"' in html
    parts = {p.get_content_type(): p for p in message.message().walk()}
    png = parts["image/png"].get_payload(decode=True)
    assert png.startswith(b"\x89PNG")
    ics = parts["text/calendar"].get_payload(decode=True)
    cal = icalendar.Calendar.from_ical(ics)
    event = cal.walk("VEVENT")[0]
    assert event.decoded("dtstart") == slot.starts_at
    assert event.decoded("dtend") == slot.ends_at
    assert "Oranienstraße 1" in str(event["location"])
    assert booking.order.number in str(event["summary"])


def test_reschedule_moves_the_place_and_replaces_the_pass(drop, django_capture_on_commit_callbacks):
    a = make_slot(drop.popup, starts_in=3600, capacity=1)
    b = make_slot(drop.popup, starts_in=7200, capacity=1)
    booking = book(drop, a)
    old_token = pickup_pass_token(booking)
    outbox_drain()  # the pass the booking's commit decided on goes out first, as it would have live
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        booking = pickup_reschedule(booking_id=booking.pk, slot_id=b.pk)
    assert booking.slot_id == b.pk
    assert PickupSlot.objects.get(pk=a.pk).available == 1
    assert PickupSlot.objects.get(pk=b.pk).available == 0
    assert Hold.objects.get(pk=booking.order.hold_id).pickup_slot_id == b.pk
    with pytest.raises(PassInvalid):
        pickup_pass_verify(token=old_token)
    assert pickup_pass_verify(token=pickup_pass_token(booking)).pk == booking.pk
    assert [m.subject for m in mail.outbox] == [f"Your new pickup time at {drop.popup.name} ({booking.order.number})"]


def test_reschedule_into_a_full_slot_is_refused_and_changes_nothing(drop):
    a = make_slot(drop.popup, starts_in=3600, capacity=2)
    full = make_slot(drop.popup, starts_in=7200, capacity=1)
    free = make_slot(drop.popup, starts_in=9000, capacity=2)
    booking = book(drop, a)
    book(drop, full, email="bob@example.com")
    with pytest.raises(PickupSlotUnavailable) as exc:
        pickup_reschedule(booking_id=booking.pk, slot_id=full.pk)
    assert [s["id"] for s in exc.value.extra["nearest"]][:2] == [a.pk, free.pk]
    booking.refresh_from_db()
    assert booking.slot_id == a.pk
    assert booking.pass_version == 1
    assert [PickupSlot.objects.get(pk=s.pk).available for s in (a, full, free)] == [1, 0, 2]


def test_reschedule_to_another_popup_or_after_pickup_is_refused(drop):
    booking = book(drop, make_slot(drop.popup))
    with pytest.raises(PickupInvalid):
        pickup_reschedule(booking_id=booking.pk, slot_id=make_slot(make_popup(name="Other")).pk)
    PickupBooking.objects.filter(pk=booking.pk).update(checked_in_at=timezone.now())
    with pytest.raises(InvalidTransition):
        pickup_reschedule(booking_id=booking.pk, slot_id=make_slot(drop.popup, starts_in=9999).pk)


def test_cancel_unpaid_pay_at_pickup_order_cancels_it_and_frees_place_and_stock(drop):
    slot = make_slot(drop.popup, capacity=1)
    booking = book(drop, slot, quantity=2)
    pickup_cancel(booking_id=booking.pk)
    booking.refresh_from_db()
    assert booking.cancelled_at is not None
    assert booking.order.status == Order.Status.CANCELLED
    assert PickupSlot.objects.get(pk=slot.pk).available == 1
    drop.refresh_from_db()
    assert drop.available == 20
    pickup_cancel(booking_id=booking.pk)  # idempotent
    assert PickupSlot.objects.get(pk=slot.pk).available == 1


def test_cancel_paid_order_refunds_it_in_full_and_frees_the_place(drop, django_capture_on_commit_callbacks):
    slot = make_slot(drop.popup, capacity=1)
    booking = book(drop, slot, quantity=2)
    order_mark_paid(order_id=booking.order_id)
    with django_capture_on_commit_callbacks(execute=True):
        pickup_cancel(booking_id=booking.pk)
    refund = Refund.objects.get(order_id=booking.order_id)
    assert refund.amount_minor == booking.order.total_minor
    assert refund.status == Refund.Status.SUCCEEDED  # the manual provider, run by the (synchronous) task queue
    order = Order.objects.get(pk=booking.order_id)
    assert order.status == Order.Status.REFUNDED
    assert PickupSlot.objects.get(pk=slot.pk).available == 1
    drop.refresh_from_db()
    assert drop.available == 20
