"""Pickup reads: slots with capacity, nearest free slots, bookings, no-shows.

Times are aware UTC; `label` fields are the pop-up's local wall-clock time.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from .exceptions import ErrorCode, PickupInvalid, PickupSlotUnavailable
from .models import Drop, Order, PickupBooking, PickupSlot

ACTIVE_ORDER_STATUSES = (Order.Status.AWAITING_PAYMENT, Order.Status.PAID)
NEAREST = 3


def slot_label(slot: PickupSlot) -> str:
    """ "Sat 28 Mar, 12:00–12:15 CET" in the pop-up's timezone."""
    start, end = slot.local_starts_at(), slot.local_ends_at()
    return f"{start:%a %d %b, %H:%M}–{end:%H:%M} {start:%Z}"


def slot_as_dict(slot: PickupSlot, *, now: dt.datetime) -> dict:
    """Shape: {"id", "starts_at", "ends_at" (aware UTC), "label" (local), "capacity", "available",
    "used", "closed", "bookable", "price_adjust_percent" (str)}."""
    return {
        "id": slot.pk,
        "starts_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "label": slot_label(slot),
        "capacity": slot.capacity,
        "available": slot.available,
        "used": slot.used,
        "closed": slot.closed,
        "bookable": not slot.closed and slot.available > 0 and slot.ends_at > now,
        "price_adjust_percent": str(slot.price_adjust_percent),
    }


def slots_for_popup(*, popup_id: int, now: dt.datetime | None = None, upcoming: bool = True) -> QuerySet[PickupSlot]:
    """A pop-up's slots in start order (only those not yet ended when `upcoming`)."""
    now = now or timezone.now()
    qs = PickupSlot.objects.filter(popup_id=popup_id).select_related("popup").order_by("starts_at", "pk")
    return qs.filter(ends_at__gt=now) if upcoming else qs


def nearest_free_slots(
    *, popup_id: int, around: dt.datetime, now: dt.datetime, exclude_id: int | None = None, limit: int = NEAREST
) -> list[PickupSlot]:
    """Up to `limit` open slots with a free place, closest in time to `around`, returned in start order."""
    qs = slots_for_popup(popup_id=popup_id, now=now).filter(closed=False, available__gt=0)
    if exclude_id:
        qs = qs.exclude(pk=exclude_id)
    free = sorted(qs, key=lambda s: (abs((s.starts_at - around).total_seconds()), s.starts_at))[:limit]
    return sorted(free, key=lambda s: s.starts_at)


def pickup_slot_unavailable_error(*, slot: PickupSlot, now: dt.datetime) -> PickupSlotUnavailable:
    """The error for a slot that cannot take a booking, naming the nearest free slots."""
    slot.refresh_from_db(fields=["available", "closed"])
    nearest = nearest_free_slots(popup_id=slot.popup_id, around=slot.starts_at, now=now, exclude_id=slot.pk)
    if slot.closed:
        why = "This pickup slot is closed."
    elif slot.ends_at <= now:
        why = "This pickup slot is over."
    else:
        why = "This pickup slot was just taken: it is full."
    hint = (
        (" Nearest free slots: " + "; ".join(slot_label(s) for s in nearest) + ".")
        if nearest
        else " No other slot is free."
    )
    return PickupSlotUnavailable(
        why + hint,
        code=ErrorCode.PICKUP_SLOT_FULL,
        slot_id=slot.pk,
        nearest=[
            {"id": s.pk, "starts_at": s.starts_at.isoformat(), "label": slot_label(s), "available": s.available}
            for s in nearest
        ],
    )


def pickup_slot_for_hold(*, drop: Drop, pickup_slot_id: int | None) -> PickupSlot | None:
    """Check the slot choice against the drop's fulfilment mode; the slot (with pop-up) or None.

    Raises PickupInvalid: pickup_slot_required (pickup-only drop without a slot),
    pickup_slot_invalid (a shipped drop, or a slot of another pop-up / unknown).
    """
    if pickup_slot_id is None:
        if drop.fulfilment == Drop.Fulfilment.PICKUP:
            raise PickupInvalid("Choose a pickup slot.", code=ErrorCode.PICKUP_SLOT_REQUIRED)
        return None
    if not drop.offers_pickup:
        raise PickupInvalid("This drop is shipped; it has no pickup slots.", code=ErrorCode.PICKUP_SLOT_INVALID)
    slot = PickupSlot.objects.select_related("popup").filter(pk=pickup_slot_id, popup_id=drop.popup_id).first()
    if slot is None:
        raise PickupInvalid(
            "That pickup slot does not belong to this drop's pop-up.", code=ErrorCode.PICKUP_SLOT_INVALID
        )
    return slot


def bookings_active() -> QuerySet[PickupBooking]:
    """Bookings whose pass is valid: not cancelled, order awaiting payment or paid."""
    return PickupBooking.objects.filter(cancelled_at__isnull=True, order__status__in=ACTIVE_ORDER_STATUSES)


def booking_detail(*, booking_id: int) -> PickupBooking:
    """One booking with order, customer, lines, slot and pop-up loaded (raises PickupBooking.DoesNotExist)."""
    return (
        PickupBooking.objects.select_related("order__customer", "slot__popup", "checked_in_by")
        .prefetch_related("order__lines")
        .get(pk=booking_id)
    )


def pickup_no_shows(
    *, popup_id: int | None = None, slot_id: int | None = None, now: dt.datetime | None = None
) -> QuerySet[PickupBooking]:
    """Valid bookings of slots that have ended at `now` and were never checked in, earliest slot first."""
    now = now or timezone.now()
    qs = bookings_active().filter(checked_in_at__isnull=True, slot__ends_at__lte=now)
    if popup_id is not None:
        qs = qs.filter(slot__popup_id=popup_id)
    if slot_id is not None:
        qs = qs.filter(slot_id=slot_id)
    return qs.select_related("order__customer", "slot__popup").order_by("slot__starts_at", "pk")


def bookings_due_reminder(*, now: dt.datetime, lead: dt.timedelta) -> QuerySet[PickupBooking]:
    """Valid bookings not yet reminded nor picked up whose slot opens within `lead` from `now` (not yet started)."""
    return bookings_active().filter(
        reminder_sent_at__isnull=True,
        checked_in_at__isnull=True,
        slot__starts_at__gt=now,
        slot__starts_at__lte=now + lead,
    )
