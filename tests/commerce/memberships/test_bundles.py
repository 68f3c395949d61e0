"""Community bundles (docs/bundles.md): a hold takes a unit and a seat or neither; the seat follows the unit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.exceptions import DropUnavailable, ErrorCode, InvalidInput
from commerce.memberships.services_bundles import BundleInvalid, SeatsGone, bundle_create, bundle_set_seat_cap
from commerce.models import BundleSeat, Hold
from commerce.services.holds import (
    hold_convert,
    hold_place,
    hold_release,
    holds_release_for_session,
    holds_release_lapsed,
)
from commerce.services.orders import checkout_start, order_cancel, order_mark_paid
from commerce.services.refunds import refund_create, refund_submit
from tests.commerce.memberships.bundle_support import bundle_drop, counters, live_seats
from tests.factories import LiveSessionFactory, make_drop

pytestmark = pytest.mark.django_db


def test_a_bundle_hold_takes_one_unit_and_one_seat_and_writes_a_held_seat():
    # given a bundle of 5 units and 3 seats
    bundle = bundle_drop(units=5, seats=3)
    # when a viewer holds it
    hold = hold_place(drop_id=bundle.drop_id, email="ann@example.com", quantity=1)
    # then one unit and one seat are taken and the seat is held with the hold, for the hold's customer
    assert counters(bundle) == (4, 2)
    seat = BundleSeat.objects.get(hold=hold)
    assert (
        seat.status == BundleSeat.Status.HELD and seat.customer_id == hold.customer_id and seat.bundle_id == bundle.pk
    )


def test_when_the_seats_run_out_the_hold_is_refused_with_seats_gone_and_no_unit_is_taken():
    # given a bundle with plenty of units and one seat, already held
    bundle = bundle_drop(units=10, seats=1)
    hold_place(drop_id=bundle.drop_id, email="first@example.com", quantity=1)
    # when another viewer tries
    with pytest.raises(SeatsGone) as caught:
        hold_place(drop_id=bundle.drop_id, email="second@example.com", quantity=1)
    # then the answer says the seats ran out, and the unit taken before the seat was refused went back
    assert caught.value.code == ErrorCode.SEATS_GONE and caught.value.extra["reason"] == "seats"
    assert counters(bundle) == (9, 0)
    assert not Hold.objects.filter(customer__email="second@example.com").exists()


def test_when_the_units_run_out_the_hold_is_refused_sold_out_and_no_seat_is_taken():
    bundle = bundle_drop(units=1, seats=5)
    hold_place(drop_id=bundle.drop_id, email="first@example.com", quantity=1)
    with pytest.raises(DropUnavailable) as caught:
        hold_place(drop_id=bundle.drop_id, email="second@example.com", quantity=1)
    assert caught.value.code == ErrorCode.SOLD_OUT
    assert counters(bundle) == (0, 4)
    assert live_seats(bundle) == 1


def test_a_bundle_hold_is_one_unit_with_one_seat():
    bundle = bundle_drop(units=5, seats=5, per_customer_limit=3)
    with pytest.raises(InvalidInput) as caught:
        hold_place(drop_id=bundle.drop_id, email="ann@example.com", quantity=2)
    assert caught.value.code == ErrorCode.BUNDLE_ONE_PER_HOLD
    assert counters(bundle) == (5, 5)


def test_released_and_lapsed_holds_give_the_seat_back():
    bundle = bundle_drop(units=5, seats=2)
    a = hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1)
    b = hold_place(drop_id=bundle.drop_id, email="b@example.com", quantity=1)
    assert counters(bundle) == (3, 0)
    # when one is released and the other lapses and is swept
    hold_release(hold_id=a.pk)
    later = timezone.now() + dt.timedelta(hours=2)
    assert holds_release_lapsed(drop_id=bundle.drop_id, now=later) == 1
    # then both units and both seats are back, the seats released
    assert counters(bundle) == (5, 2)
    assert set(BundleSeat.objects.values_list("status", flat=True)) == {BundleSeat.Status.RELEASED}
    assert b.pk in BundleSeat.objects.values_list("hold_id", flat=True)


def test_a_seat_held_by_a_lapsed_hold_is_taken_back_for_a_new_buyer():
    # given the only seat held by a hold past its expiry that no sweep has released
    bundle = bundle_drop(units=5, seats=1)
    hold_place(drop_id=bundle.drop_id, email="slow@example.com", quantity=1)
    later = timezone.now() + dt.timedelta(hours=2)
    bundle.drop.__class__.objects.filter(pk=bundle.drop_id).update(closes_at=later + dt.timedelta(hours=1))
    # when a new buyer holds
    hold = hold_place(drop_id=bundle.drop_id, email="new@example.com", quantity=1, now=later)
    # then the lapsed hold's seat went back and the new buyer has it
    assert BundleSeat.objects.get(hold=hold).status == BundleSeat.Status.HELD
    assert counters(bundle) == (4, 0)


def test_checkout_confirms_the_seat_with_its_order_and_one_line_names_the_seat():
    bundle = bundle_drop(units=5, seats=3)
    hold = hold_place(drop_id=bundle.drop_id, email="ann@example.com", quantity=1)
    order = checkout_start(hold_token=hold.token)  # manual provider: the hold converts at once
    seat = BundleSeat.objects.get(hold=hold)
    assert seat.status == BundleSeat.Status.CONFIRMED and seat.order_id == order.pk
    [line] = order.lines.all()
    assert line.title.endswith("+ seat in Maker Q&A") and line.quantity == 1


def test_cancelling_the_unpaid_order_gives_back_the_unit_and_the_seat():
    bundle = bundle_drop(units=5, seats=3)
    order = checkout_start(hold_token=hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1).token)
    order_cancel(order_id=order.pk)
    assert counters(bundle) == (5, 3)
    assert BundleSeat.objects.get(order=order).status == BundleSeat.Status.RELEASED


def test_a_refund_of_the_bundle_unit_gives_back_the_unit_and_the_seat():
    bundle = bundle_drop(units=5, seats=3)
    order = checkout_start(hold_token=hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1).token)
    order_mark_paid(order_id=order.pk)
    refund_submit(refund_id=refund_create(order_id=order.pk).pk)  # manual provider: succeeds at once
    assert counters(bundle) == (5, 3)
    assert BundleSeat.objects.get(order=order).status == BundleSeat.Status.RELEASED


def test_a_goodwill_amount_refund_keeps_the_seat():
    bundle = bundle_drop(units=5, seats=3, price_minor=2000)
    order = checkout_start(hold_token=hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1).token)
    order_mark_paid(order_id=order.pk)
    refund_submit(refund_id=refund_create(order_id=order.pk, amount_minor=100).pk)
    assert counters(bundle) == (4, 2)
    assert BundleSeat.objects.get(order=order).status == BundleSeat.Status.CONFIRMED


def test_cancelling_the_drops_session_releases_held_seats():
    bundle = bundle_drop(units=5, seats=3)
    hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1)
    holds_release_for_session(session_id=bundle.drop.session_id, now=timezone.now())
    assert counters(bundle) == (5, 3)


def test_a_lapsed_hold_paid_late_takes_its_seat_again_or_nothing():
    # given a bundle hold whose unit and seat went back (released), and the only seat then held by someone else
    bundle = bundle_drop(units=5, seats=1)
    hold = hold_place(drop_id=bundle.drop_id, email="late@example.com", quantity=1)
    hold_release(hold_id=hold.pk)
    other = hold_place(drop_id=bundle.drop_id, email="other@example.com", quantity=1)
    # when the first hold is converted late (seat gone): neither the unit nor a seat is taken
    late = Hold.objects.get(pk=hold.pk)
    assert hold_convert(hold=late, now=timezone.now(), allow_lapsed=True) is False
    assert counters(bundle) == (4, 0)
    # when the other hold is released, the late one gets unit and seat back together
    hold_release(hold_id=other.pk)
    late = Hold.objects.get(pk=hold.pk)
    assert hold_convert(hold=late, now=timezone.now(), allow_lapsed=True) is True
    assert counters(bundle) == (4, 0)
    assert BundleSeat.objects.get(hold=hold).status == BundleSeat.Status.CONFIRMED


def test_bundle_terms_are_validated():
    private = LiveSessionFactory(is_private=True)
    public = LiveSessionFactory()
    drop = make_drop()
    with pytest.raises(BundleInvalid):
        bundle_create(drop_id=drop.pk, private_session_id=private.pk, seat_cap=0)
    with pytest.raises(BundleInvalid):
        bundle_create(drop_id=drop.pk, private_session_id=public.pk, seat_cap=3)
    sold = make_drop()
    hold_place(drop_id=sold.pk, email="a@example.com", quantity=1)
    with pytest.raises(BundleInvalid):
        bundle_create(drop_id=sold.pk, private_session_id=private.pk, seat_cap=3)


def test_the_seat_cap_cannot_go_below_the_seats_taken():
    bundle = bundle_drop(units=9, seats=3)
    hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1)
    hold_place(drop_id=bundle.drop_id, email="b@example.com", quantity=1)
    with pytest.raises(BundleInvalid) as caught:
        bundle_set_seat_cap(bundle_id=bundle.pk, seat_cap=1)
    assert "2 seat(s)" in caught.value.message
    assert bundle_set_seat_cap(bundle_id=bundle.pk, seat_cap=5).seats_available == 3
    assert bundle_set_seat_cap(bundle_id=bundle.pk, seat_cap=2).seats_available == 0
