"""Receipt and credit-note numbers under real concurrency (PostgreSQL): no duplicate, no gap, one per order/refund."""

from __future__ import annotations

import re

import pytest

from commerce.models import CreditNote, Order, Receipt
from commerce.services.orders import order_mark_paid, order_place
from commerce.services.refunds import refund_create, refund_submit
from tests.commerce.test_races import race
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def numbers(model) -> list[int]:
    return sorted(
        int(re.fullmatch(r"[RC]-\d{4}-(\d{6})", n).group(1)) for n in model.objects.values_list("number", flat=True)
    )


def test_40_orders_paid_at_once_get_receipts_1_to_40():
    drop = make_drop(quantity=40, per_customer_limit=1, price_minor=1000)
    ids = [order_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1).pk for i in range(40)]
    # when every order is marked paid at once, each one twice (two clerks, or a retry)
    results = race(80, lambda i: order_mark_paid(order_id=ids[i % 40]))
    assert [r for r in results if not isinstance(r, Order)] == []
    # then there is exactly one receipt per order, numbered 1..40 with no gap and no duplicate
    assert Receipt.objects.count() == 40
    assert numbers(Receipt) == list(range(1, 41))
    assert set(Receipt.objects.values_list("order_id", flat=True)) == set(ids)


def test_refunds_settling_at_once_get_credit_notes_without_gaps():
    drop = make_drop(quantity=30, per_customer_limit=1, price_minor=1000)
    orders = [order_place(drop_id=drop.pk, email=f"r{i}@example.com", quantity=1) for i in range(30)]
    for o in orders:
        order_mark_paid(order_id=o.pk)
    refunds = [refund_create(order_id=o.pk) for o in orders]
    # when every refund is submitted twice at once (outbox retry racing the first send)
    results = race(60, lambda i: refund_submit(refund_id=refunds[i % 30].pk))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert CreditNote.objects.count() == 30
    assert numbers(CreditNote) == list(range(1, 31))
    assert numbers(Receipt) == list(range(1, 31))
