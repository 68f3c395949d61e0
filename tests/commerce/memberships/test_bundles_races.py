"""The last seat and the last unit of a community bundle raced on PostgreSQL (threads, own connections).

Exactly one hold wins, the counters never go below zero nor above the cap, no seat exists beyond the cap,
and cancel/refund give both the unit and the seat back.
"""

from __future__ import annotations

import pytest

from commerce.exceptions import DropUnavailable
from commerce.memberships.services_bundles import SeatsGone
from commerce.models import BundleSeat, Hold
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_cancel, order_mark_paid
from commerce.services.refunds import refund_create, refund_submit
from tests.commerce.memberships.bundle_support import bundle_drop, counters, live_seats
from tests.commerce.test_races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _buy(bundle):
    return lambda i: hold_place(drop_id=bundle.drop_id, email=f"racer{i}@example.com", quantity=1)


def test_the_last_seat_raced_by_many_buyers_leaves_exactly_one_winner():
    # given plenty of units and one seat left
    bundle = bundle_drop(units=100, seats=1)
    # when 40 buyers race for it
    results = race(40, _buy(bundle))
    # then exactly one hold won; everyone else was told the seats are gone; nothing else failed
    winners = [r for r in results if isinstance(r, Hold)]
    assert len(winners) == 1, results
    assert all(isinstance(r, SeatsGone) for r in results if not isinstance(r, Hold)), results
    assert counters(bundle) == (99, 0)
    assert live_seats(bundle) == 1 and BundleSeat.objects.count() == 1
    assert Hold.objects.filter(drop_id=bundle.drop_id, status=Hold.Status.ACTIVE).count() == 1


def test_the_last_unit_raced_with_seats_plentiful_leaves_exactly_one_winner():
    bundle = bundle_drop(units=1, seats=50)
    results = race(40, _buy(bundle))
    winners = [r for r in results if isinstance(r, Hold)]
    assert len(winners) == 1, results
    assert all(isinstance(r, DropUnavailable) for r in results if not isinstance(r, Hold)), results
    assert counters(bundle) == (0, 49)
    assert live_seats(bundle) == 1


def test_a_few_seats_raced_never_exceed_the_cap():
    bundle = bundle_drop(units=100, seats=5)
    results = race(40, _buy(bundle))
    assert sum(isinstance(r, Hold) for r in results) == 5, results
    assert counters(bundle) == (95, 0)
    assert live_seats(bundle) == 5


def test_cancels_and_refunds_racing_new_buyers_give_back_units_and_seats_exactly():
    # given 4 seats sold: two orders unpaid (to cancel), two paid (to refund)
    bundle = bundle_drop(units=10, seats=4)
    orders = [
        checkout_start(hold_token=hold_place(drop_id=bundle.drop_id, email=f"o{i}@example.com", quantity=1).token)
        for i in range(4)
    ]
    for order in orders[2:]:
        order_mark_paid(order_id=order.pk)
    assert counters(bundle) == (6, 0)

    # when the cancels and refunds race 20 new buyers
    def act(i):
        if i < 2:
            return order_cancel(order_id=orders[i].pk)
        if i < 4:
            return refund_submit(refund_id=refund_create(order_id=orders[i].pk).pk)
        return hold_place(drop_id=bundle.drop_id, email=f"new{i}@example.com", quantity=1)

    results = race(24, act)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, DropUnavailable)], results
    # then the seats in use are exactly the new winners, and units and seats add up
    new_winners = sum(isinstance(r, Hold) for r in results[4:])
    assert new_winners <= 4
    units, seats = counters(bundle)
    assert seats == 4 - new_winners and live_seats(bundle) == new_winners
    assert units == 10 - new_winners
