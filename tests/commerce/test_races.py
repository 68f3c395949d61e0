"""Zero oversell under real concurrency: threads on their own PostgreSQL connections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from commerce.exceptions import DropUnavailable
from commerce.models import Drop, Order, OrderLine
from commerce.services.orders import order_place
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


MAX_CONNECTIONS = 60  # PostgreSQL's default max_connections is 100; leave room for the test runner


def race(n: int, fn):
    """Run fn(i) for n buyers on up to 60 threads, each on its own connection, released together.

    Returns each call's result or the exception it raised.
    """
    gate = threading.Event()

    def run(i):
        try:
            gate.wait()
            return fn(i)
        except Exception as exc:  # collected and asserted by the caller
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=min(n, MAX_CONNECTIONS)) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        gate.set()
        return [f.result() for f in futures]


def test_200_buyers_race_for_50_units():
    drop = make_drop(quantity=50, per_customer_limit=1)
    results = race(200, lambda i: order_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1))
    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, DropUnavailable)]
    others = [r for r in results if not isinstance(r, Order | DropUnavailable)]
    assert others == []
    assert len(orders) == 50
    assert len(refused) == 150
    assert all(r.code == "sold_out" for r in refused)
    drop.refresh_from_db()
    assert drop.available == 0
    assert sum(OrderLine.objects.filter(drop=drop).values_list("quantity", flat=True)) == 50


def test_one_customer_racing_themselves_respects_the_limit():
    drop = make_drop(quantity=50, per_customer_limit=2)
    results = race(20, lambda i: order_place(drop_id=drop.pk, email="same@example.com", quantity=1))
    assert sum(isinstance(r, Order) for r in results) == 2
    assert Drop.objects.get(pk=drop.pk).available == 48
