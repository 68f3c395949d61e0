"""What the waitlist hook adds to the hot path of a live spike (holds lapsing, released, cancelled).

When nobody waits, `waitlist_offer_freed` is one indexed EXISTS on the partial index
`waitlist_waiting_fifo` (status = 'waiting'). Measured on PostgreSQL: the hook alone, and a hold
release with the hook, over many rounds; the figures are printed (pytest -s) and bounded loosely
so a regression to a scan or a lock shows up.
"""

from __future__ import annotations

import statistics
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from commerce.services.holds import hold_place, hold_release
from commerce.services.waitlist import waitlist_offer_freed
from tests.commerce.waitlist_support import line_up, sold_out_drop
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _median_us(fn, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def test_the_hook_is_one_cheap_indexed_exists_when_nobody_waits(capsys, monkeypatch):
    drop = make_drop(quantity=500, per_customer_limit=1)
    other, _ = sold_out_drop(quantity=2)
    line_up(other, 200)  # a long line elsewhere must not slow this drop's check
    now = timezone.now()

    with transaction.atomic():  # inside the caller's transaction, as the hooks run it
        hook_us = _median_us(lambda: waitlist_offer_freed(drop_id=drop.pk, now=now), 500)
    holds = [hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1) for i in range(400)]
    it = iter(holds)
    release_us = _median_us(lambda: hold_release(hold_id=next(it).pk, now=now), 200)
    monkeypatch.setattr("commerce.services.holds.waitlist_offer_freed", lambda **kw: 0)
    bare_us = _median_us(lambda: hold_release(hold_id=next(it).pk, now=now), 200)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT 1 FROM commerce_waitlistentry WHERE drop_id = %s AND status = 'waiting' LIMIT 1", [drop.pk]
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    with capsys.disabled():
        print(
            f"\nwaitlist hook (nobody waits): median {hook_us:.0f} µs; hold_release with the hook: median "
            f"{release_us:.0f} µs, without: {bare_us:.0f} µs"
        )
        print(f"plan: {plan}")
    assert "Seq Scan" not in plan or "waitlist" not in plan.lower() or "Index" in plan
    assert hook_us < 5000
