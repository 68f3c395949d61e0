"""Pickup slot capacity moves with the hold: taken together, given back together, priced per slot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from commerce.exceptions import DropUnavailable, PickupInvalid, PickupSlotUnavailable
from commerce.models import Drop, Hold, Order, PickupBooking, PickupSlot
from commerce.services.holds import hold_place, hold_release, holds_release_lapsed
from commerce.services.orders import checkout_start, order_cancel
from commerce.services.payments import checkout_expire, payment_confirm
from tests.factories import make_drop, make_pickup_drop, make_popup, make_slot

pytestmark = pytest.mark.django_db


def slot_available(slot) -> int:
    return PickupSlot.objects.get(pk=slot.pk).available


def test_hold_takes_a_place_and_the_booking_follows_the_order():
    # given a pickup-only drop with a slot of capacity 2
    drop = make_pickup_drop(quantity=5)
    slot = make_slot(drop.popup, capacity=2)
    # when a viewer reserves 2 units for that slot
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2, pickup_slot_id=slot.pk)
    # then one place (not one per unit) is held with the same expiry as the units
    assert hold.pickup_slot_id == slot.pk
    assert slot_available(slot) == 1
    assert Drop.objects.get(pk=drop.pk).available == 3
    order = checkout_start(hold_token=hold.token)
    booking = PickupBooking.objects.get(order=order)
    assert booking.slot_id == slot.pk
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert slot_available(slot) == 1


def test_pickup_only_drop_needs_a_slot_and_ship_drop_refuses_one():
    drop = make_pickup_drop()
    with pytest.raises(PickupInvalid) as exc:
        hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    assert exc.value.code == "pickup_slot_required"
    shipped = make_drop()
    slot = make_slot(drop.popup)
    with pytest.raises(PickupInvalid) as exc:
        hold_place(drop_id=shipped.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    assert exc.value.code == "pickup_slot_invalid"


def test_slot_of_another_popup_is_refused():
    drop = make_pickup_drop()
    other = make_slot(make_popup(name="Elsewhere"))
    with pytest.raises(PickupInvalid):
        hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=other.pk)
    assert Drop.objects.get(pk=drop.pk).available == drop.quantity


def test_pickup_or_ship_drop_can_ship_without_a_slot():
    drop = make_pickup_drop(fulfilment="pickup_or_ship")
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    assert hold.pickup_slot_id is None


def test_full_slot_refuses_and_names_the_nearest_free_slots_and_keeps_the_stock():
    # given a slot with one place, taken
    drop = make_pickup_drop(quantity=10, per_customer_limit=5)
    full = make_slot(drop.popup, starts_in=3 * 3600, capacity=1)
    near_before = make_slot(drop.popup, starts_in=2 * 3600 + 1800, capacity=3)
    near_after = make_slot(drop.popup, starts_in=3 * 3600 + 900, capacity=3)
    far = make_slot(drop.popup, starts_in=9 * 3600, capacity=3)
    make_slot(drop.popup, starts_in=3 * 3600 + 1800, capacity=3, closed=True)
    hold_place(drop_id=drop.pk, email="first@example.com", quantity=1, pickup_slot_id=full.pk)
    # when a second viewer asks for it
    with pytest.raises(PickupSlotUnavailable) as exc:
        hold_place(drop_id=drop.pk, email="second@example.com", quantity=2, pickup_slot_id=full.pk)
    # then the refusal is clear, lists the nearest open slots, and no unit stays taken
    assert exc.value.code == "pickup_slot_full"
    assert "full" in exc.value.message
    nearest_ids = [s["id"] for s in exc.value.extra["nearest"]]
    assert nearest_ids == [near_before.pk, near_after.pk, far.pk]
    assert "Nearest free slots" in exc.value.message
    assert Drop.objects.get(pk=drop.pk).available == 9
    assert slot_available(full) == 0


def test_sold_out_drop_does_not_take_a_place():
    drop = make_pickup_drop(quantity=1)
    slot = make_slot(drop.popup, capacity=5)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    with pytest.raises(DropUnavailable):
        hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, pickup_slot_id=slot.pk)
    assert slot_available(slot) == 4


def test_closed_or_ended_slot_is_refused():
    drop = make_pickup_drop()
    closed = make_slot(drop.popup, closed=True)
    ended = make_slot(drop.popup, starts_at=timezone.now() - dt.timedelta(hours=2), minutes=30)
    for slot in (closed, ended):
        with pytest.raises(PickupSlotUnavailable):
            hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)


def test_expired_hold_gives_its_place_back_in_the_sweep():
    drop = make_pickup_drop(hold_seconds=60)
    slot = make_slot(drop.popup, capacity=1)
    now = timezone.now()
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk, now=now)
    assert slot_available(slot) == 0
    assert holds_release_lapsed(now=now + dt.timedelta(seconds=61)) == 1
    assert slot_available(slot) == 1
    # a second sweep frees nothing twice
    assert holds_release_lapsed(now=now + dt.timedelta(seconds=120)) == 0
    assert slot_available(slot) == 1


def test_a_new_hold_sweeps_lapsed_places_on_the_drop_first():
    drop = make_pickup_drop(hold_seconds=60)
    slot = make_slot(drop.popup, capacity=1)
    now = timezone.now()
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk, now=now)
    later = now + dt.timedelta(seconds=90)
    hold = hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, pickup_slot_id=slot.pk, now=later)
    assert hold.pickup_slot_id == slot.pk
    assert slot_available(slot) == 0


def test_released_hold_gives_its_place_back_once():
    drop = make_pickup_drop()
    slot = make_slot(drop.popup, capacity=1)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    hold_release(hold_id=hold.pk)
    hold_release(hold_id=hold.pk)
    assert slot_available(slot) == 1


def test_cancelled_order_gives_its_place_back():
    drop = make_pickup_drop()
    slot = make_slot(drop.popup, capacity=1)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token)
    assert slot_available(slot) == 0
    order_cancel(order_id=order.pk)
    assert slot_available(slot) == 1
    assert Drop.objects.get(pk=drop.pk).available == drop.quantity


def _pending_provider_order(hold, reference="cs_test_pickup"):
    """An order started with a hosted-checkout provider (payment pending), without calling the provider."""
    return Order.objects.create(
        number="MM-PICKUP01",
        customer=hold.customer,
        currency=hold.currency,
        payment_provider="stripe",
        payment_reference=reference,
        subtotal_minor=hold.unit_price_minor,
        total_minor=hold.unit_price_minor,
        hold=hold,
    )


def test_expired_checkout_gives_its_place_back():
    drop = make_pickup_drop()
    slot = make_slot(drop.popup, capacity=1)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk)
    _pending_provider_order(hold)
    outcome = checkout_expire(provider="stripe", reference="cs_test_pickup")
    assert outcome.outcome == "released"
    assert slot_available(slot) == 1
    assert checkout_expire(provider="stripe", reference="cs_test_pickup").outcome == "duplicate"
    assert slot_available(slot) == 1


def test_late_payment_takes_the_place_again_or_refunds_when_the_slot_filled_up():
    drop = make_pickup_drop(hold_seconds=60)
    slot = make_slot(drop.popup, capacity=1)
    now = timezone.now()
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk, now=now)
    order = _pending_provider_order(hold)
    holds_release_lapsed(now=now + dt.timedelta(seconds=61))
    assert slot_available(slot) == 1
    # someone else takes the only place meanwhile
    hold_place(
        drop_id=drop.pk, email="b@example.com", quantity=1, pickup_slot_id=slot.pk, now=now + dt.timedelta(seconds=62)
    )
    outcome = payment_confirm(
        provider="stripe",
        reference="cs_test_pickup",
        amount_minor=order.total_minor,
        currency="USD",
        now=now + dt.timedelta(seconds=70),
    )
    assert outcome.outcome == "refunded_late"
    assert slot_available(slot) == 0
    # the units it briefly took again went back: only b's unit is out
    assert Drop.objects.get(pk=drop.pk).available == drop.quantity - 1


def test_late_payment_is_honoured_when_the_place_is_still_free():
    drop = make_pickup_drop(hold_seconds=60)
    slot = make_slot(drop.popup, capacity=1)
    now = timezone.now()
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=slot.pk, now=now)
    order = _pending_provider_order(hold)
    holds_release_lapsed(now=now + dt.timedelta(seconds=61))
    outcome = payment_confirm(
        provider="stripe",
        reference="cs_test_pickup",
        amount_minor=order.total_minor,
        currency="USD",
        now=now + dt.timedelta(seconds=70),
    )
    assert outcome.outcome == "paid_late"
    assert slot_available(slot) == 0
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.CONVERTED


def test_later_slot_is_priced_lower_through_the_drop_price_schedule():
    # given a drop at $42.99 and a late slot 20 % cheaper
    drop = make_pickup_drop(per_customer_limit=5)
    early = make_slot(drop.popup, starts_in=3600)
    late = make_slot(drop.popup, starts_in=5 * 3600, price_adjust_percent=Decimal("-20"))
    # when holds are placed for each slot
    a = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, pickup_slot_id=early.pk)
    b = hold_place(drop_id=drop.pk, email="b@example.com", quantity=2, pickup_slot_id=late.pk)
    # then the late slot's unit price is 4299 - round_half_up(859.8) = 3439, locked into the hold and the order
    assert a.unit_price_minor == 4299
    assert b.unit_price_minor == 3439
    order = checkout_start(hold_token=b.token)
    assert order.total_minor == 6878


def test_slot_price_stacks_on_a_step_down_schedule():
    from commerce.pricing import drop_price_quote

    drop = make_pickup_drop(
        pricing="step_down", step_percent=Decimal("10"), step_seconds=60, floor_price_minor=1000, opens_in=-130
    )
    slot = make_slot(drop.popup, price_adjust_percent=Decimal("-50"))
    now = timezone.now()
    base = drop_price_quote(drop, now=now)
    assert (base.step, base.unit_price_minor) == (2, 3439)  # 4299 − 20 %
    quote = drop_price_quote(drop, now=now, slot=slot)
    assert (quote.step, quote.unit_price_minor) == (2, 1719)  # 3439 − round_half_up(1719.5)
