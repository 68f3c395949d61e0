"""Waitlist reads: a drop's line, and the revenue it would make if its quantity were raised."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.utils import timezone

from .models import Drop, WaitlistEntry
from .pricing import drop_price_quote


@dataclass(frozen=True)
class WaitlistSummary:
    """People waiting on a drop and what serving them all would earn.

    `revenue_if_raised_minor` = `units_wanted` × `unit_price_minor` (the drop's current unit price,
    commerce.pricing.drop_price_quote at `now`), in minor units of `currency`. Only entries still
    waiting count: people with an open offer already have units reserved.
    """

    drop_id: int
    waiting: int
    units_wanted: int
    offers_open: int
    unit_price_minor: int
    currency: str
    revenue_if_raised_minor: int


def waitlist_summary(*, drop: Drop, now: dt.datetime | None = None) -> WaitlistSummary:
    """The WaitlistSummary of `drop` at `now` (two aggregate queries)."""
    now = now or timezone.now()
    agg = WaitlistEntry.objects.filter(drop_id=drop.pk, status=WaitlistEntry.Status.WAITING).aggregate(
        n=Count("pk"), units=Sum("quantity")
    )
    offers_open = drop.waitlist_offers.filter(status="open").count()
    units = agg["units"] or 0
    price = drop_price_quote(drop, now=now).unit_price_minor
    return WaitlistSummary(
        drop_id=drop.pk,
        waiting=agg["n"],
        units_wanted=units,
        offers_open=offers_open,
        unit_price_minor=price,
        currency=drop.currency,
        revenue_if_raised_minor=units * price,
    )


def waitlist_line(*, drop_id: int):
    """A drop's live entries (waiting and offered) in FIFO order."""
    return WaitlistEntry.objects.filter(drop_id=drop_id, status__in=WaitlistEntry.LIVE_STATUSES).order_by(
        "position", "pk"
    )
