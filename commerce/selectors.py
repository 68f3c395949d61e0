"""Commerce reads."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from .models import Drop, Order


def drops_for_session(*, session_id: int) -> QuerySet[Drop]:
    """A session's drops in opening order, with SKU and product loaded."""
    return Drop.objects.filter(session_id=session_id).select_related("sku__product").order_by("opens_at", "pk")


def drop_status(*, drop: Drop, now: dt.datetime | None = None) -> dict:
    """The live status of a drop as plain data (what pages and the API show).

    Shape: {"id", "state" (not_yet_open|live|sold_out|closed), "available",
    "quantity", "price_minor", "currency", "opens_at", "closes_at" (ISO 8601 UTC),
    "seconds_to_open", "seconds_to_close" (whole seconds, ≥ 0)}.
    """
    now = now or timezone.now()
    return {
        "id": drop.pk,
        "state": drop.state_at(now),
        "available": max(drop.available, 0),
        "quantity": drop.quantity,
        "price_minor": drop.price_minor,
        "currency": drop.currency,
        "opens_at": drop.opens_at.isoformat(),
        "closes_at": drop.closes_at.isoformat(),
        "seconds_to_open": max(int((drop.opens_at - now).total_seconds()), 0),
        "seconds_to_close": max(int((drop.closes_at - now).total_seconds()), 0),
    }


def orders_list() -> QuerySet[Order]:
    """Orders newest first, with customer, session and lines loaded."""
    return (
        Order.objects.select_related("customer", "session")
        .prefetch_related("lines__sku")
        .order_by("-created_at", "-pk")
    )
