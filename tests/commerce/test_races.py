"""Zero oversell under real concurrency: threads on their own PostgreSQL connections."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from commerce.exceptions import CouponInvalid, DropUnavailable, LimitExceeded
from commerce.models import Coupon, Drop, Hold, Order, OrderLine, PaymentEvent
from commerce.services.coupons import coupon_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_place
from commerce.services.payments import payment_confirm
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


MAX_CONNECTIONS = 60  # at most this many threads (PostgreSQL's default max_connections is 100)
CONNECTION_MARGIN = 5  # left free for the test runner's own connection, the server's and other clients' bursts
MIN_RACERS = 2  # fewer is not a race


class RaceShrunk(UserWarning):
    """A race ran on fewer threads than asked because the server has few connections free."""


def race_workers(requested: int, *, max_connections: int, in_use: int, reserved: int, margin: int = CONNECTION_MARGIN):
    """Threads for a race: min(requested, MAX_CONNECTIONS, free − margin), at least MIN_RACERS (if requested).

    free = max_connections − in_use − reserved (superuser_reserved_connections, plus
    reserved_connections on PostgreSQL 16+). A shared server with 20 free connections gets 15
    threads, not 60 and "too many clients".
    """
    free = max_connections - in_use - reserved - margin
    return max(min(requested, MAX_CONNECTIONS, free), min(requested, MIN_RACERS))


def server_connections() -> dict[str, int]:
    """{"max_connections", "in_use", "reserved"} read from the PostgreSQL server now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int,"
            " (SELECT count(*) FROM pg_stat_activity)::int,"
            " current_setting('superuser_reserved_connections')::int"
            " + COALESCE(current_setting('reserved_connections', true), '0')::int"
        )
        max_connections, in_use, reserved = cursor.fetchone()
    return {"max_connections": max_connections, "in_use": in_use, "reserved": reserved}


def race(n: int, fn):
    """Run fn(i) for n buyers on as many threads as the server has connections for, released together.

    Threads = race_workers(n, …) from the server's free connections (at most MAX_CONNECTIONS); when that
    is fewer than asked, a RaceShrunk warning says so (pytest's warnings summary). Each thread uses its own
    connection. Returns each call's result or the exception it raised.
    """
    wanted = min(n, MAX_CONNECTIONS)
    workers = race_workers(n, **server_connections()) if connection.vendor == "postgresql" else wanted
    if workers < wanted:
        warnings.warn(
            RaceShrunk(
                f"race of {n} calls runs on {workers} threads, not {wanted}: the server has few connections free"
            ),
            stacklevel=2,
        )
    gate = threading.Event()

    def run(i):
        try:
            gate.wait()
            return fn(i)
        except Exception as exc:  # collected and asserted by the caller
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        gate.set()
        return [f.result() for f in futures]


def test_200_buyers_race_for_50_units_of_holds():
    drop = make_drop(quantity=50, per_customer_limit=1)
    results = race(200, lambda i: hold_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1))
    holds = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, DropUnavailable)]
    assert [r for r in results if not isinstance(r, Hold | DropUnavailable)] == []
    assert (len(holds), len(refused)) == (50, 150)
    assert {r.code for r in refused} == {"sold_out"}
    assert Drop.objects.get(pk=drop.pk).available == 0
    assert sum(Hold.objects.filter(drop=drop, status="active").values_list("quantity", flat=True)) == 50


def test_coupon_cap_holds_under_a_race():
    drop = make_drop(quantity=100, per_customer_limit=1)
    now = timezone.now()
    coupon_create(
        code="FIRST10",
        kind="percent",
        percent_off=10,
        max_redemptions=10,
        valid_from=now - dt.timedelta(minutes=1),
        valid_until=now + dt.timedelta(hours=1),
    )
    results = race(
        60, lambda i: order_place(drop_id=drop.pk, email=f"c{i}@example.com", quantity=1, coupon_code="first10")
    )
    won = [r for r in results if isinstance(r, Order)]
    lost = [r for r in results if isinstance(r, CouponInvalid)]
    assert [r for r in results if not isinstance(r, Order | CouponInvalid)] == []
    assert (len(won), len(lost)) == (10, 50)
    assert {r.code for r in lost} == {"coupon_exhausted"}
    assert Coupon.objects.get(code="FIRST10").redemptions == 10
    assert Drop.objects.get(pk=drop.pk).available == 90  # losers' holds were released


def test_concurrent_duplicate_payment_events_pay_once():
    drop = make_drop(quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    order = checkout_start(hold_token=hold.token, provider_name="manual")
    Order.objects.filter(pk=order.pk).update(status="pending", payment_reference="cs_race", payment_provider="stripe")
    Hold.objects.filter(pk=hold.pk).update(status="active")
    results = race(
        30,
        lambda i: (
            payment_confirm(
                provider="stripe",
                reference="cs_race",
                amount_minor=order.total_minor,
                currency="usd",
                event_id=f"evt_{i}",
            ).outcome
        ),
    )
    assert sorted(set(results)) == ["duplicate", "paid"]
    assert results.count("paid") == 1
    assert PaymentEvent.objects.filter(order=order).count() == 1
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert Drop.objects.get(pk=drop.pk).available == 3


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


def test_one_customer_placing_holds_from_many_tabs_gets_no_more_than_the_limit():
    drop = make_drop(quantity=50, per_customer_limit=3)
    spellings = ["fan@example.com", "Fan@Example.com", " FAN@example.COM "]
    results = race(40, lambda i: hold_place(drop_id=drop.pk, email=spellings[i % 3], quantity=1))
    holds = [r for r in results if isinstance(r, Hold)]
    assert [r for r in results if not isinstance(r, Hold | LimitExceeded)] == []
    assert len(holds) == 3
    assert len({h.customer_id for h in holds}) == 1
    assert Drop.objects.get(pk=drop.pk).available == 47


def test_one_customer_racing_themselves_respects_the_limit():
    drop = make_drop(quantity=50, per_customer_limit=2)
    results = race(20, lambda i: order_place(drop_id=drop.pk, email="same@example.com", quantity=1))
    assert sum(isinstance(r, Order) for r in results) == 2
    assert Drop.objects.get(pk=drop.pk).available == 48


def test_two_staff_changing_a_drops_quantity_at_once_keep_available_in_step():
    from commerce.services.drops import drop_set_quantity

    drop = make_drop(quantity=100, per_customer_limit=50)
    order_place(drop_id=drop.pk, email="buyer@example.com", quantity=50)
    for _trial in range(20):
        Drop.objects.filter(pk=drop.pk).update(quantity=100, available=50)
        race(2, lambda i: drop_set_quantity(drop_id=drop.pk, quantity=(80, 120)[i]))
        drop.refresh_from_db()
        # whichever save came last, the 50 units sold stay sold: available = quantity - 50
        assert drop.quantity in (80, 120)
        assert drop.available == drop.quantity - 50
