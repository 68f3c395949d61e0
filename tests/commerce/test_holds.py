"""Holds: locked price, expiry (swept or not), per-customer limit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce import tasks
from commerce.exceptions import HoldExpired, LimitExceeded
from commerce.models import Drop, Hold
from commerce.selectors import drop_status, drop_with_stock
from commerce.services.holds import hold_place, hold_release
from commerce.services.orders import checkout_start
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def lapse(hold):
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))


def test_hold_takes_stock_locks_price_and_expires_after_the_drops_hold_time():
    drop = make_drop(quantity=5, hold_seconds=120)
    now = timezone.now()
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2, now=now)
    assert hold.status == Hold.Status.ACTIVE
    assert (hold.unit_price_minor, hold.currency) == (4299, "USD")
    assert hold.expires_at == now + dt.timedelta(seconds=120)
    assert Drop.objects.get(pk=drop.pk).available == 3


def test_expired_hold_is_ignored_on_read_even_before_the_sweep():
    drop = make_drop(quantity=2, per_customer_limit=2)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    assert drop_status(drop=drop_with_stock(drop_id=drop.pk))["state"] == "sold_out"
    lapse(hold)
    # no worker has run: the counter still says 0, every read says 2
    assert Drop.objects.get(pk=drop.pk).available == 0
    status = drop_status(drop=drop_with_stock(drop_id=drop.pk))
    assert (status["available"], status["state"]) == (2, "live")
    # and a buyer gets the units: the sweep runs inside hold placement
    other = hold_place(drop_id=drop.pk, email="b@example.com", quantity=2)
    assert other.status == Hold.Status.ACTIVE
    hold.refresh_from_db()
    assert hold.status == Hold.Status.EXPIRED
    assert Drop.objects.get(pk=drop.pk).available == 0


def test_the_minute_schedule_returns_lapsed_units_once():
    drop = make_drop(quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    lapse(hold)
    assert tasks.holds_expire() == 2
    assert tasks.holds_expire() == 0
    assert Drop.objects.get(pk=drop.pk).available == 5


def test_checkout_of_an_expired_hold_is_refused():
    drop = make_drop(quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    lapse(hold)
    with pytest.raises(HoldExpired):
        checkout_start(hold_token=hold.token)


def test_per_customer_limit_counts_live_and_converted_holds_but_not_lapsed_ones():
    drop = make_drop(quantity=10, per_customer_limit=2)
    first = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1)
    checkout_start(hold_token=first.token)  # manual: converted
    second = hold_place(drop_id=drop.pk, email="Ann+x@example.com", quantity=1)
    with pytest.raises(LimitExceeded) as refused:
        hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1)
    # the answer goes to whoever typed the address: it does not say what its owner holds or bought
    assert refused.value.extra == {"limit": 2} and "already" not in refused.value.message
    lapse(second)
    assert hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1).status == Hold.Status.ACTIVE


def test_release_returns_stock_once():
    drop = make_drop(quantity=3)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    hold_release(hold_id=hold.pk)
    hold_release(hold_id=hold.pk)
    assert Drop.objects.get(pk=drop.pk).available == 3
