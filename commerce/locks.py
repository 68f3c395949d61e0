"""The one place that changes scarce counters.

Each function is a single conditional UPDATE (no lock wait, no read-modify-write):
`UPDATE drop SET available = available - n WHERE id = … AND available >= n`.
When it matches no row the caller raises; CHECK constraints on the tables are
the last line of defence. Callers run these inside their own transaction.
"""

from __future__ import annotations

from django.db.models import F, Q

from .models import Coupon, Drop, PickupSlot


def drop_take_stock(*, drop_id: int, quantity: int, now, require_open: bool = True) -> bool:
    """Take `quantity` units from a drop (open at `now` unless require_open=False). True if taken."""
    qs = Drop.objects.filter(pk=drop_id, available__gte=quantity)
    if require_open:
        qs = qs.filter(opens_at__lte=now, closes_at__gt=now)
    return bool(qs.update(available=F("available") - quantity))


def drop_return_stock(*, drop_id: int, quantity: int) -> None:
    """Give `quantity` units back (a cancelled order, an expired hold, a refund of unfulfilled units)."""
    if quantity <= 0:
        return
    updated = Drop.objects.filter(pk=drop_id, available__lte=F("quantity") - quantity).update(
        available=F("available") + quantity
    )
    if not updated:
        raise RuntimeError(f"returning {quantity} units to drop {drop_id} would exceed its quantity")


def coupon_take_redemption(*, coupon_id: int) -> bool:
    """Count one redemption if the total cap allows it. True if taken."""
    return bool(
        Coupon.objects.filter(pk=coupon_id)
        .filter(Q(max_redemptions__isnull=True) | Q(redemptions__lt=F("max_redemptions")))
        .update(redemptions=F("redemptions") + 1)
    )


def coupon_return_redemption(*, coupon_id: int) -> None:
    """Give one redemption back (its order was cancelled or never paid)."""
    Coupon.objects.filter(pk=coupon_id, redemptions__gt=0).update(redemptions=F("redemptions") - 1)


def pickup_slot_take(*, slot_id: int, now) -> bool:
    """Take one place in an open pickup slot (not closed, not ended at `now`). True if taken."""
    return bool(
        PickupSlot.objects.filter(pk=slot_id, available__gte=1, closed=False, ends_at__gt=now).update(
            available=F("available") - 1
        )
    )


def pickup_slot_take_any(*, slot_id: int) -> bool:
    """Take one place back for a hold that lapsed and is now paid late (ignores closed/ended). True if taken."""
    return bool(PickupSlot.objects.filter(pk=slot_id, available__gte=1).update(available=F("available") - 1))


def pickup_slot_return(*, slot_id: int) -> None:
    """Give one place back (hold expired or released, order cancelled, booking cancelled or moved)."""
    updated = PickupSlot.objects.filter(pk=slot_id, available__lt=F("capacity")).update(available=F("available") + 1)
    if not updated:
        raise RuntimeError(f"returning a place to pickup slot {slot_id} would exceed its capacity")


def pickup_slot_set_capacity(*, slot_id: int, capacity: int) -> bool:
    """Change a slot's capacity; `available` moves by the same delta. False if that would go below the places used."""
    slot = PickupSlot.objects.filter(pk=slot_id).values("capacity").first()
    if slot is None:
        return False
    delta = capacity - slot["capacity"]
    return bool(
        PickupSlot.objects.filter(pk=slot_id, capacity=slot["capacity"], available__gte=-delta).update(
            capacity=capacity, available=F("available") + delta
        )
    )
