"""The control room under real concurrency on PostgreSQL: host actions racing buyers and each other."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from commerce.exceptions import CommerceError
from commerce.models import Coupon, Drop, Hold
from commerce.services.holds import hold_place
from sessions_app.control import services
from sessions_app.control.services import ControlError
from sessions_app.models import LiveSession, SessionMoment
from tests.commerce.test_races import race
from tests.factories import LiveSessionFactory, make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_closing_and_pinning_while_buyers_hold_loses_no_unit():
    # given a live drop of 12 units and 24 buyers
    session = LiveSessionFactory(status="live")
    drop = make_drop(session=session, quantity=12, per_customer_limit=1)

    def act(i):
        if i == 5:
            return services.control_pin_drop(session_id=session.pk, drop_id=drop.pk)
        if i == 11:
            return services.control_close_drop(session_id=session.pk, drop_id=drop.pk)
        return hold_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1, rate_limit=False)

    # when the host pins and closes the drop in the middle of the rush
    results = race(26, act)

    # then no host action failed, each buyer either holds a unit or was refused with a domain error
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, CommerceError)], results
    drop.refresh_from_db()
    held = Hold.objects.filter(drop=drop, status="active").aggregate(n=Sum("quantity"))["n"] or 0
    # and the stock counter still adds up: the window change never wrote `available`
    assert drop.available + held == drop.quantity == 12
    assert held == sum(isinstance(r, Hold) for r in results) <= 12
    assert LiveSession.objects.get(pk=session.pk).pinned_drop_id == drop.pk
    assert SessionMoment.objects.filter(session=session, kind="drop_closed").count() == 1


def test_two_hosts_closing_at_once_close_it_once():
    session = LiveSessionFactory(status="live")
    drop = make_drop(session=session, quantity=5)
    results = race(6, lambda i: services.control_close_drop(session_id=session.pk, drop_id=drop.pk))
    assert sum(isinstance(r, Drop) for r in results) == 1
    assert {r.code for r in results if isinstance(r, ControlError)} == {"drop_already_closed"}
    assert SessionMoment.objects.filter(session=session, kind="drop_closed").count() == 1


def test_flash_coupons_fired_at_once_leave_exactly_one_running():
    session = LiveSessionFactory(status="live")
    make_drop(session=session)
    results = race(
        8,
        lambda i: services.flash_coupon_fire(session_id=session.pk, percent_off=10 + i, minutes=5, max_redemptions=5),
    )
    assert all(isinstance(r, Coupon) for r in results), results
    assert Coupon.objects.filter(session=session).count() == 8
    assert Coupon.objects.filter(session=session, is_active=True).count() == 1
    assert SessionMoment.objects.filter(session=session, kind="coupon_fired").count() == 8
