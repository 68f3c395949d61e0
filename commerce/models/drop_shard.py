"""Extra stock counter rows of a hot drop (Drop.stock_shards > 1; docs/holds-and-stock.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class DropStockShard(models.Model):
    """Shard `index` (1..N-1) of a drop's stock counter; shard 0 is Drop.available itself.

    A drop's units neither sold nor held = Drop.available + Σ shard.available. Like Drop.available
    it only changes through commerce.locks (a conditional UPDATE on one row, or a re-spread under
    the locks of every row of the drop: the drop's row first, then its shards by index).
    """

    drop = models.ForeignKey("commerce.Drop", on_delete=models.CASCADE, related_name="stock_shard_rows")
    index = models.PositiveSmallIntegerField()
    available = models.IntegerField(default=0, help_text="Units of this shard neither sold nor held.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["drop", "index"],
                name="drop_stock_shard_unique_index",
                violation_error_message="A drop has one stock shard per index.",
            ),
            models.CheckConstraint(
                condition=Q(available__gte=0),
                name="drop_stock_shard_available_non_negative",
                violation_error_message="A stock shard cannot have fewer than 0 units available.",
            ),
            models.CheckConstraint(
                condition=Q(index__gte=1),
                name="drop_stock_shard_index_positive",
                violation_error_message="Stock shard 0 is the drop's own row: extra shards start at 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"drop {self.drop_id} shard {self.index}: {self.available}"
