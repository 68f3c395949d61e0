"""Stock shards under real concurrency on PostgreSQL: threads on their own connections
(docs/holds-and-stock.md). Zero oversell, an exact sold-out answer, the per-customer limit, give-backs,
waitlist offers, sell-through prices and admin edits racing holds."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from commerce.exceptions import DropUnavailable, LimitExceeded
from commerce.models import Drop, DropStockShard, Hold, WaitlistOffer
from commerce.services.drops import drop_set_quantity, drop_set_stock_shards
from commerce.services.holds import hold_place, hold_release, holds_release_lapsed
from tests.commerce.test_races import RaceShrunk, server_connections
from tests.commerce.waitlist_support import assert_stock_adds_up, line_up
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# A 200-call race runs on at most this many threads at once (each its own connection): the server has
# max_connections = 100 and is shared, so 200 connections would fail with "too many clients". The first
# RACE_THREADS calls are released together by one gate; the rest start as threads free up, while the
# first ones still hold their row locks, so the drop sees a continuous 90-way fight for its units.
RACE_THREADS = 90
MARGIN = 5


def race(n: int, fn):
    """fn(i) for i in range(n) on min(n, RACE_THREADS, free connections − MARGIN) threads, released
    together; returns each result or the exception raised. Warns (RaceShrunk) with fewer threads."""
    free = server_connections()
    workers = max(2, min(n, RACE_THREADS, free["max_connections"] - free["in_use"] - free["reserved"] - MARGIN))
    if workers < min(n, RACE_THREADS):
        warnings.warn(RaceShrunk(f"race of {n} calls runs on {workers} threads (few connections free)"), stacklevel=2)
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


def shards_of(drop_id: int) -> list[int]:
    row0 = Drop.objects.values_list("available", flat=True).get(pk=drop_id)
    return [row0, *DropStockShard.objects.filter(drop_id=drop_id).order_by("index").values_list("available", flat=True)]


def held_units(drop_id: int) -> int:
    return (
        Hold.objects.filter(drop_id=drop_id, status__in=["active", "converted"]).aggregate(n=Sum("quantity"))["n"] or 0
    )


def sharded_drop(*, quantity: int, shards: int, layout: list[int] | None = None, **kwargs) -> Drop:
    """A live drop over `shards` counter rows; `layout` puts exactly those units on each (sum = quantity)."""
    drop = make_drop(quantity=quantity, stock_shards=shards, **kwargs)
    if layout is not None:
        assert len(layout) == shards and sum(layout) == quantity
        Drop.objects.filter(pk=drop.pk).update(available=layout[0])
        for index, n in enumerate(layout[1:], 1):
            DropStockShard.objects.filter(drop_id=drop.pk, index=index).update(available=n)
    return drop


# 37 units over 8 shards, three of them pre-emptied: most holds' first pick is short and must move on.
LAYOUT_37 = [10, 0, 7, 0, 6, 6, 8, 0]


def test_200_buyers_race_for_37_units_over_8_shards_exactly_37_win_and_the_rest_hear_sold_out():
    drop = sharded_drop(quantity=37, shards=8, layout=LAYOUT_37, per_customer_limit=1)
    results = race(200, lambda i: hold_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1))
    holds = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, DropUnavailable)]
    assert [r for r in results if not isinstance(r, Hold | DropUnavailable)] == []
    assert (len(holds), len(refused)) == (37, 163)
    assert {r.code for r in refused} == {"sold_out"}
    assert shards_of(drop.pk) == [0] * 8  # zero oversell: the CHECKs kept every row >= 0, and all 37 are held
    assert held_units(drop.pk) == 37
    assert_stock_adds_up(drop.pk)


def test_mixed_quantities_race_no_oversell_and_sold_out_is_exact():
    # one- and two-unit holds: a two-unit hold that no single shard covers is consolidated first
    drop = sharded_drop(quantity=37, shards=8, layout=LAYOUT_37, per_customer_limit=2)
    results = race(200, lambda i: hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=i % 2 + 1))
    outcomes = [(i % 2 + 1, r) for i, r in enumerate(results)]  # (quantity asked, result)
    assert [r for _q, r in outcomes if not isinstance(r, Hold | DropUnavailable)] == []
    won = sum(q for q, r in outcomes if isinstance(r, Hold))
    left = Drop.objects.get(pk=drop.pk).total_available
    assert won + left == 37 and held_units(drop.pk) == won
    # stock only went down: a refusal said what was true then, so it is still true at the end
    refused_q = {q for q, r in outcomes if isinstance(r, DropUnavailable)}
    if 1 in refused_q:
        assert left == 0
    if 2 in refused_q:
        assert left <= 1
    assert_stock_adds_up(drop.pk)


def test_one_customer_racing_across_shards_gets_exactly_the_limit():
    drop = sharded_drop(quantity=40, shards=8, per_customer_limit=3)
    spellings = ["fan@example.com", "Fan@Example.com", " FAN@example.COM "]
    results = race(60, lambda i: hold_place(drop_id=drop.pk, email=spellings[i % 3], quantity=1))
    holds = [r for r in results if isinstance(r, Hold)]
    assert [r for r in results if not isinstance(r, Hold | LimitExceeded)] == []
    assert len(holds) == 3 and len({h.customer_id for h in holds}) == 1
    assert Drop.objects.get(pk=drop.pk).total_available == 37
    assert_stock_adds_up(drop.pk)


def test_releases_racing_new_holds_keep_the_total_exact():
    drop = sharded_drop(quantity=30, shards=8, per_customer_limit=1)
    first = [hold_place(drop_id=drop.pk, email=f"first{i}@example.com", quantity=1) for i in range(30)]
    assert Drop.objects.get(pk=drop.pk).total_available == 0

    def act(i):
        if i % 3 == 0:
            return hold_release(hold_id=first[i // 3].pk)
        return hold_place(drop_id=drop.pk, email=f"new{i}@example.com", quantity=1)

    results = race(90, act)
    released = [r for r in results if isinstance(r, Hold) and r.status == "released"]
    new = [r for r in results if isinstance(r, Hold) and r.status == "active"]
    assert [r for r in results if not isinstance(r, Hold | DropUnavailable)] == []
    assert len(released) == 30
    left = Drop.objects.get(pk=drop.pk).total_available
    assert len(new) + left == 30  # every released unit either went to a new hold or is available
    assert held_units(drop.pk) == len(new)
    assert_stock_adds_up(drop.pk)


def test_sell_through_tiers_stay_exact_when_holds_race_over_shards():
    drop = sharded_drop(
        quantity=20,
        shards=8,
        per_customer_limit=1,
        price_minor=1000,
        pricing="step_up",
        step_up_tiers=[{"sell_through": 50, "percent": 10}],
    )
    results = race(30, lambda i: hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1))
    holds = sorted((r for r in results if isinstance(r, Hold)), key=lambda h: h.pk)
    assert len(holds) == 20
    # a hold's price is the tier at the sell-through it read: never above +10 %, never below the base
    assert {h.unit_price_minor for h in holds} <= {1000, 1100}
    # the first 10 held were placed below 50 %: at most the racing ones read a stale count, never a higher tier
    assert sum(h.unit_price_minor == 1000 for h in holds) >= 10
    late = Drop.objects.get(pk=drop.pk)
    Hold.objects.filter(pk=holds[0].pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    holds_release_lapsed(drop_id=drop.pk)
    late.refresh_from_db()
    assert late.total_available == 1
    again = hold_place(drop_id=drop.pk, email="after@example.com", quantity=1)
    assert again.unit_price_minor == 1100  # 19 of 20 sold or held: the tier counts every shard


def test_a_waitlist_offer_on_a_sharded_drop_takes_from_the_shards_and_lapses_back():
    drop = sharded_drop(quantity=8, shards=4, per_customer_limit=1)
    holds = [hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1) for i in range(8)]
    entries = line_up(drop, 3)
    # three holds lapse while three more buyers race for the units: the line is served first
    Hold.objects.filter(pk__in=[h.pk for h in holds[:3]]).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    results = race(
        6,
        lambda i: (
            holds_release_lapsed(drop_id=drop.pk)
            if i % 2 == 0
            else hold_place(drop_id=drop.pk, email=f"late{i}@example.com", quantity=1)
        ),
    )
    assert [r for r in results if not isinstance(r, int | Hold | DropUnavailable)] == []
    offers = WaitlistOffer.objects.filter(drop=drop, status="open")
    assert offers.count() == 3 and {o.entry_id for o in offers} == {e.pk for e in entries}
    assert not [r for r in results if isinstance(r, Hold)]  # nobody overtook the line
    assert Drop.objects.get(pk=drop.pk).total_available == 0
    assert_stock_adds_up(drop.pk)


def test_quantity_and_shard_count_changes_racing_holds_keep_every_unit():
    drop = sharded_drop(quantity=60, shards=8, per_customer_limit=1)
    edits = {0: ("quantity", 80), 30: ("shards", 3), 60: ("shards", 16), 90: ("quantity", 100), 120: ("shards", 8)}

    def act(i):
        if i in edits:
            kind, value = edits[i]
            if kind == "quantity":
                return drop_set_quantity(drop_id=drop.pk, quantity=value)
            return drop_set_stock_shards(drop_id=drop.pk, shards=value)
        return hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1)

    results = race(150, act)
    # the quantity edits may commit in either order; 80 after 100 is refused if more than 80 are held by then
    assert [
        r
        for r in results
        if not isinstance(r, Hold | Drop | DropUnavailable) and getattr(r, "code", "") != "quantity_below_sold"
    ] == []
    final = Drop.objects.get(pk=drop.pk)
    assert final.quantity in (80, 100)
    won = sum(isinstance(r, Hold) for r in results)
    assert held_units(drop.pk) == won and won + final.total_available == final.quantity
    assert DropStockShard.objects.filter(drop=drop, index__gte=final.stock_shards).count() == 0
    assert_stock_adds_up(drop.pk)


def test_a_connection_that_lost_both_prepared_hold_statements_prepares_them_again():
    drop = sharded_drop(quantity=8, shards=4, per_customer_limit=5)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler or DISCARD ALL does behind our back
    holds = [hold_place(drop_id=drop.pk, email="b@example.com", quantity=1) for _ in range(4)]
    assert all(h.pk for h in holds) and Drop.objects.get(pk=drop.pk).total_available == 3
