"""Helpers for the waitlist and carry-over tests: a sold-out drop, people in line, the stock sum check."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from commerce.models import Drop, Hold, WaitlistOffer
from commerce.services.holds import hold_place
from commerce.services.waitlist import waitlist_join
from tests.factories import LiveSessionFactory, make_drop


def sold_out_drop(*, quantity: int = 2, **kwargs) -> tuple[Drop, list[Hold]]:
    """A live drop whose every unit is held, one unit per buyer."""
    drop = make_drop(quantity=quantity, **kwargs)
    holds = [hold_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1) for i in range(quantity)]
    drop.refresh_from_db()
    assert drop.available == 0
    return drop, holds


def line_up(drop: Drop, n: int, *, quantity: int = 1, prefix: str = "wait"):
    """`n` people join the drop's waitlist in order; returns their entries."""
    return [waitlist_join(drop_id=drop.pk, email=f"{prefix}{i}@example.com", quantity=quantity) for i in range(n)]


def lapse(holds, *, seconds_ago: int = 1) -> None:
    """Make holds past their expiry (the sweep has not run yet)."""
    Hold.objects.filter(pk__in=[h.pk for h in holds]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=seconds_ago)
    )


def stock_sum(drop_id: int, *, now=None) -> dict:
    """Where a drop's units are: sold (converted holds), held (active holds), offered (open offers), available."""
    drop = Drop.objects.get(pk=drop_id)

    def units(qs):
        return qs.aggregate(n=Sum("quantity"))["n"] or 0

    return {
        "quantity": drop.quantity,
        "sold": units(Hold.objects.filter(drop_id=drop_id, status=Hold.Status.CONVERTED)),
        "held": units(Hold.objects.filter(drop_id=drop_id, status=Hold.Status.ACTIVE)),
        "offered": units(WaitlistOffer.objects.filter(drop_id=drop_id, status=WaitlistOffer.Status.OPEN)),
        "available": drop.total_available,  # over all stock shards
    }


def assert_stock_adds_up(drop_id: int) -> dict:
    """sold + held + offered + available == quantity (the reservation rule)."""
    s = stock_sum(drop_id)
    assert s["sold"] + s["held"] + s["offered"] + s["available"] == s["quantity"], s
    return s


def series_with_sessions(*, slug: str = "weekly-live"):
    """A series with a live session now and a scheduled one a week later: (series, live, next)."""
    from tests.sampling.helpers import make_series

    series = make_series(slug=slug)
    now = timezone.now()
    live = LiveSessionFactory(series=series, status="live", starts_at=now - dt.timedelta(minutes=5))
    nxt = LiveSessionFactory(series=series, status="scheduled", starts_at=now + dt.timedelta(days=7))
    return series, live, nxt
