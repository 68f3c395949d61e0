"""Drops: create and resize the scarce stock counter."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import locks
from ..audit import audit_change
from ..exceptions import InvalidInput
from ..models import Drop
from ..models.drop import MAX_STOCK_SHARDS


def drop_create(**fields) -> Drop:
    """Create a drop with all its units available. `price_minor`/`currency` default to the SKU's.

    `stock_shards` (default 1) spreads the units evenly over that many counter rows.
    Raises InvalidInput when the window is empty, the quantity negative or stock_shards outside 1..32.
    """
    sku = fields["sku"]
    fields.setdefault("price_minor", sku.price_minor)
    fields.setdefault("currency", sku.currency)
    if fields["closes_at"] <= fields["opens_at"]:
        raise InvalidInput("A drop must close after it opens.", code="invalid_window")
    _check_shards(fields.get("stock_shards", 1))
    shards = fields.pop("stock_shards", 1)
    drop = Drop(**fields)
    drop.available = drop.quantity
    drop.save()
    if shards != 1:  # spread over its counter rows (docs/holds-and-stock.md); raises ValueError outside 1..32
        drop_set_stock_shards(drop_id=drop.pk, shards=shards)
        drop.refresh_from_db(fields=["available", "stock_shards"])
    return drop


def drop_set_quantity(*, drop_id: int, quantity: int) -> Drop:
    """Change a drop's quantity; `available` moves by the same delta.

    Refuses (InvalidInput code `quantity_below_sold`) to go below the units
    already sold or held. One conditional UPDATE, safe during a live spike (a sharded drop: its
    rows are locked a moment and the new total spread evenly again).
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


def _check_shards(shards: int) -> None:
    if not isinstance(shards, int) or not 1 <= shards <= MAX_STOCK_SHARDS:
        raise InvalidInput(
            f"stock_shards must be a whole number between 1 and {MAX_STOCK_SHARDS}.",
            code="invalid_stock_shards",
            field="stock_shards",
        )


def drop_set_stock_shards(*, drop_id: int, shards: int) -> Drop:
    """Spread a drop's units over `shards` counter rows (1..32; docs/holds-and-stock.md), evenly.

    Under the locks of the drop's row and its shard rows: the total stays exact while holds run.
    Raises InvalidInput (code `invalid_stock_shards`) outside 1..32, Drop.DoesNotExist.
    """
    _check_shards(shards)
    with transaction.atomic():
        before = Drop.objects.values_list("stock_shards", flat=True).get(pk=drop_id)
        locks.drop_set_stock_shards(drop_id=drop_id, shards=shards)
        drop = Drop.objects.get(pk=drop_id)
        audit_change(drop, {"stock_shards": (before, shards)})
    return drop
