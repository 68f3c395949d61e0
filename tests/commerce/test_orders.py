"""Placing orders on drops: stock, states, limits, cancel, pay."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from commerce.exceptions import DropUnavailable, ErrorCode, InvalidInput, InvalidTransition, LimitExceeded
from commerce.models import Customer, Drop, Order
from commerce.services.orders import order_cancel, order_mark_paid, order_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def test_order_takes_stock_and_confirms_with_manual_provider():
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="Ann+live@Example.com", quantity=2)
    drop.refresh_from_db()
    assert drop.available == 3
    assert order.status == Order.Status.AWAITING_PAYMENT
    assert order.payment_provider == "manual"
    assert (order.subtotal_minor, order.total_minor, order.currency) == (8598, 8598, "USD")
    line = order.lines.get()
    assert (line.quantity, line.unit_price_minor, line.total_minor) == (2, 4299, 8598)
    assert Customer.objects.get().email_normalized == "ann@example.com"


def test_sold_out_is_refused_and_stock_never_negative():
    drop = make_drop(quantity=2, per_customer_limit=5)
    order_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    with pytest.raises(DropUnavailable) as exc:
        order_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    assert exc.value.code == ErrorCode.SOLD_OUT
    drop.refresh_from_db()
    assert drop.available == 0
    assert Order.objects.count() == 1


def test_asking_for_more_than_left_says_how_many_remain():
    drop = make_drop(quantity=3, per_customer_limit=5)
    order_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    with pytest.raises(DropUnavailable) as exc:
        order_place(drop_id=drop.pk, email="b@example.com", quantity=2)
    assert exc.value.extra["available"] == 1


@pytest.mark.parametrize(
    ("opens_in", "closes_in", "code"),
    [(600, 1200, ErrorCode.NOT_YET_OPEN), (-1200, -1, ErrorCode.CLOSED)],
)
def test_closed_and_not_yet_open_drops_are_refused(opens_in, closes_in, code):
    drop = make_drop(quantity=5, opens_in=opens_in, closes_in=closes_in)
    with pytest.raises(DropUnavailable) as exc:
        order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    assert exc.value.code == code
    drop.refresh_from_db()
    assert drop.available == 5


def test_per_customer_limit_counts_earlier_orders_by_normalized_email():
    drop = make_drop(quantity=10, per_customer_limit=2)
    order_place(drop_id=drop.pk, email="ann@gmail.com", quantity=1)
    order_place(drop_id=drop.pk, email="a.nn+2@gmail.com", quantity=1)
    with pytest.raises(LimitExceeded):
        order_place(drop_id=drop.pk, email="ANN@gmail.com", quantity=1)
    with pytest.raises(LimitExceeded):
        order_place(drop_id=drop.pk, email="bob@example.com", quantity=3)


@pytest.mark.parametrize(("email", "quantity"), [("not-an-email", 1), ("a@example.com", 0), ("a@example.com", -2)])
def test_bad_input(email, quantity):
    drop = make_drop(quantity=5)
    with pytest.raises(InvalidInput):
        order_place(drop_id=drop.pk, email=email, quantity=quantity)
    drop.refresh_from_db()
    assert drop.available == 5


def test_cancel_returns_stock_once_and_paid_orders_cannot_be_cancelled():
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    order_cancel(order_id=order.pk)
    drop.refresh_from_db()
    assert drop.available == 5
    with pytest.raises(InvalidTransition):
        order_cancel(order_id=order.pk)
    drop.refresh_from_db()
    assert drop.available == 5
    paid = order_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    assert order_mark_paid(order_id=paid.pk).status == Order.Status.PAID
    assert order_mark_paid(order_id=paid.pk).status == Order.Status.PAID  # idempotent
    with pytest.raises(InvalidTransition):
        order_cancel(order_id=paid.pk)


def test_database_refuses_negative_stock():
    drop = make_drop(quantity=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Drop.objects.filter(pk=drop.pk).update(available=F("available") - 2)
