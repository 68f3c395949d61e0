"""Drops: create and resize the scarce stock counter."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

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
        # The delta is computed from the row as the UPDATE finds it (both SET expressions read the
        # old row), so two staff saving at once cannot leave `available` out of step with `quantity`.
        updated = Drop.objects.filter(pk=drop_id, available__gte=F("quantity") - quantity).update(
            quantity=quantity, available=F("available") + (quantity - F("quantity"))
        )
        drop = Drop.objects.get(pk=drop_id)
        if not updated:
            raise InvalidInput(
                f"{drop.sold_or_held} units are already sold or held; quantity cannot go below that.",
                code="quantity_below_sold",
            )
    return drop
