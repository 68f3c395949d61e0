"""Drops: create and resize the scarce stock counter."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import locks
from ..audit import audit_change
from ..exceptions import InvalidInput
from ..models import Drop


def drop_create(**fields) -> Drop:
    """Create a drop with all its units available. `price_minor`/`currency` default to the SKU's.

    Raises InvalidInput when the window is empty or the quantity negative.
    """
    sku = fields["sku"]
    fields.setdefault("price_minor", sku.price_minor)
    fields.setdefault("currency", sku.currency)
    if fields["closes_at"] <= fields["opens_at"]:
        raise InvalidInput("A drop must close after it opens.", code="invalid_window")
    drop = Drop(**fields)
    drop.available = drop.quantity
    drop.save()
    return drop


def drop_set_quantity(*, drop_id: int, quantity: int) -> Drop:
    """Change a drop's quantity; `available` moves by the same delta.

    Refuses (InvalidInput code `quantity_below_sold`) to go below the units
    already sold or held. One conditional UPDATE, safe during a live spike.
    """
    with transaction.atomic():
        before = Drop.objects.filter(pk=drop_id).values_list("quantity", flat=True).first()
        updated = locks.drop_set_quantity(drop_id=drop_id, quantity=quantity)
        drop = Drop.objects.get(pk=drop_id)
        if not updated:
            raise InvalidInput(
                f"{drop.sold_or_held} units are already sold or held; quantity cannot go below that.",
                code="quantity_below_sold",
            )
        audit_change(drop, {"quantity": (before, drop.quantity)})
        if before is not None and drop.quantity > before:  # raised: the new units go to the waitlist first
            from .waitlist import waitlist_offer_freed

            if waitlist_offer_freed(drop_id=drop_id, now=timezone.now()):
                drop.refresh_from_db(fields=["available"])
    return drop
