"""Refunds, full and partial; stock returns only for units not fulfilled."""

from __future__ import annotations

import pytest

from commerce.models import Drop, Order, Refund
from commerce.services.orders import order_mark_paid, order_place
from commerce.services.refunds import RefundInvalid, order_line_fulfil, refund_create
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_order():
    drop = make_drop(quantity=10, per_customer_limit=3, price_minor=1000)
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=3)
    order_mark_paid(order_id=order.pk)
    return Order.objects.get(pk=order.pk)


def test_partial_refund_of_unfulfilled_units_restocks_them(paid_order, django_capture_on_commit_callbacks):
    line = paid_order.lines.get()
    order_line_fulfil(line_id=line.pk, quantity=1)  # one unit already picked up
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_create(order_id=paid_order.pk, lines={line.pk: 3})
    refund.refresh_from_db()
    assert (refund.status, refund.amount_minor, refund.restocked_units) == (Refund.Status.SUCCEEDED, 3000, 2)
    assert Drop.objects.get(pk=line.drop_id).available == 10 - 3 + 2
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_minor) == (Order.Status.REFUNDED, 3000)


def test_amount_only_refund_does_not_restock_and_caps_at_the_total(paid_order, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=paid_order.pk, amount_minor=500)
    paid_order.refresh_from_db()
    assert (paid_order.status, paid_order.refunded_minor) == (Order.Status.PAID, 500)
    assert Drop.objects.get(pk=paid_order.lines.get().drop_id).available == 7
    with pytest.raises(RefundInvalid):
        refund_create(order_id=paid_order.pk, amount_minor=2501)


def test_refund_split_across_units_adds_up_to_the_line_total(django_capture_on_commit_callbacks):
    drop = make_drop(quantity=10, per_customer_limit=3, price_minor=1000)
    import datetime as dt

    from django.utils import timezone

    from commerce.services.coupons import coupon_create

    coupon_create(
        code="THIRD",
        kind="percent",
        percent_off=33,
        valid_from=timezone.now() - dt.timedelta(minutes=1),
        valid_until=timezone.now() + dt.timedelta(hours=1),
    )
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=3, coupon_code="third")
    order_mark_paid(order_id=order.pk)
    line = order.lines.get()
    assert line.total_minor == 2010
    amounts = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            amounts.append(refund_create(order_id=order.pk, lines={line.pk: 1}).amount_minor)
    assert sum(amounts) == 2010
    assert amounts == [670, 670, 670]


def test_unpaid_orders_cannot_be_refunded():
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    with pytest.raises(RefundInvalid):
        refund_create(order_id=order.pk)
