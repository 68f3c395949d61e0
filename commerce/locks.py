"""The one place that changes scarce counters.

Each function is a single conditional UPDATE (no lock wait, no read-modify-write):
`UPDATE drop SET available = available - n WHERE id = … AND available >= n`.
When it matches no row the caller raises; the CHECK constraints on Drop are the
last line of defence. Callers run these inside their own transaction.
"""

from __future__ import annotations

from django.db.models import F

from .models import Drop


def drop_take_stock(*, drop_id: int, quantity: int, now) -> bool:
    """Take `quantity` units from an open drop. True if taken, False if not enough or not open."""
    return bool(
        Drop.objects.filter(pk=drop_id, available__gte=quantity, opens_at__lte=now, closes_at__gt=now).update(
            available=F("available") - quantity
        )
    )


def drop_return_stock(*, drop_id: int, quantity: int) -> None:
    """Give `quantity` units back (a cancelled order, an expired hold)."""
    updated = Drop.objects.filter(pk=drop_id, available__lte=F("quantity") - quantity).update(
        available=F("available") + quantity
    )
    if not updated:
        raise RuntimeError(f"returning {quantity} units to drop {drop_id} would exceed its quantity")
