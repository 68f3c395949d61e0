from __future__ import annotations

from django.db import models
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

MAX_STOCK_SHARDS = 32


class DropQuerySet(models.QuerySet):
    def with_total_available(self):
        """Annotate `shard_units`: units on the drop's extra stock shards (0 for an unsharded drop,
        without reading the shard table). Drop.total_available then needs no query. One subquery."""
        from .drop_shard import DropStockShard

        units = (
            DropStockShard.objects.filter(drop=OuterRef("pk")).values("drop").annotate(n=Sum("available")).values("n")
        )
        return self.annotate(
            shard_units=Case(
                When(stock_shards__lte=1, then=Value(0)),
                default=Coalesce(Subquery(units, output_field=IntegerField()), Value(0)),
                output_field=IntegerField(),
            )
        )


class Drop(models.Model):
    """A SKU offered during a live session: limited quantity, one price, an open window.

    `available` is the scarce counter: units neither sold nor held. It only ever
    changes through `commerce.locks` (a conditional UPDATE), and the database
    refuses any value outside 0..quantity.

    With `stock_shards` N > 1 the counter is spread over N rows (docs/holds-and-stock.md): this
    row's `available` is shard 0 and DropStockShard rows 1..N-1 hold the rest. Read the drop's
    stock as `total_available` (annotate with Drop.objects.with_total_available() to keep lists
    one query); `available` alone is only shard 0.
    """

    class State(models.TextChoices):
        NOT_YET_OPEN = "not_yet_open", "Opens soon"
        LIVE = "live", "Live"
        SOLD_OUT = "sold_out", "Sold out"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"  # its session was cancelled (commerce.selectors.drop_status)

    class Pricing(models.TextChoices):
        """Dynamic pricing (see commerce.pricing): the schedule that clears a short run."""

        FIXED = "fixed", "Fixed price"
        STEP_DOWN = "step_down", "Step down over time to a floor"
        STEP_UP = "step_up", "Step up as sell-through passes thresholds"

    class Fulfilment(models.TextChoices):
        SHIP = "ship", "Ship"
        PICKUP = "pickup", "Pickup only"
        PICKUP_OR_SHIP = "pickup_or_ship", "Pickup or ship"

    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.PROTECT, related_name="drops")
    sku = models.ForeignKey("commerce.Sku", on_delete=models.PROTECT, related_name="drops")
    title = models.CharField(max_length=200, blank=True, help_text="Shown to viewers; defaults to the SKU.")
    quantity = models.PositiveIntegerField(help_text="Units allocated to this drop.")
    available = models.IntegerField(help_text="Units neither sold nor held. Maintained by the system.")
    price_minor = models.PositiveBigIntegerField(help_text="Drop price in minor units of `currency`.")
    currency = models.CharField(max_length=3)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    per_customer_limit = models.PositiveSmallIntegerField(default=2)
    hold_seconds = models.PositiveIntegerField(default=600, help_text="How long a hold keeps units (seconds).")
    stock_shards = models.PositiveSmallIntegerField(
        default=1,
        help_text=f"Counter rows the stock is spread over (1–{MAX_STOCK_SHARDS}). Keep 1 unless the drop expects "
        "more than about 2,000 holds per second: each hold then takes from one row picked at random and "
        "moves on to the others before answering sold out. Units are re-spread evenly on save.",
    )

    pricing = models.CharField(max_length=10, choices=Pricing.choices, default=Pricing.FIXED)
    step_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Step down: percent of the base price per step.",
    )
    step_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Step down: seconds between steps.")
    floor_price_minor = models.PositiveBigIntegerField(null=True, blank=True, help_text="Step down: lowest price.")
    step_up_tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='Step up: [{"sell_through": 50, "percent": 10}, …] = +10% once 50% of the units are sold or held.',
    )
    fulfilment = models.CharField(
        max_length=16, choices=Fulfilment.choices, default=Fulfilment.SHIP, help_text="Ship, pickup only, or either."
    )
    popup = models.ForeignKey(
        "commerce.PopUp",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="drops",
        help_text="Pop-up where pickup-bound units are collected (required unless shipped).",
    )
    carry_over = models.BooleanField(
        default=False,
        help_text="When the session ends, move this drop's unsold units into the same SKU's drop in the "
        "series' next session (created if missing).",
    )
    members_only = models.BooleanField(
        default=False,
        help_text="Exclusive to active members (also when its SKU is members-only; docs/memberships.md).",
    )
    member_price_minor = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Members pay this per unit (minor units) instead of the drop's price."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DropQuerySet.as_manager()

    class Meta:
        ordering = ["opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(available__gte=0),
                name="drop_available_non_negative",
                violation_error_message="A drop cannot have fewer than 0 units available.",
            ),
            models.CheckConstraint(
                condition=Q(available__lte=F("quantity")),
                name="drop_available_le_quantity",
                violation_error_message="A drop cannot have more units available than its quantity.",
            ),
            models.CheckConstraint(
                condition=Q(closes_at__gt=F("opens_at")),
                name="drop_closes_after_opens",
                violation_error_message="A drop must close after it opens.",
            ),
            models.CheckConstraint(
                condition=Q(stock_shards__gte=1, stock_shards__lte=MAX_STOCK_SHARDS),
                name="drop_stock_shards_range",
                violation_error_message=f"A drop spreads its stock over 1 to {MAX_STOCK_SHARDS} counter rows.",
            ),
            models.CheckConstraint(
                condition=Q(per_customer_limit__gte=1),
                name="drop_per_customer_limit_positive",
                violation_error_message="The per-customer limit must be at least 1 unit.",
            ),
            models.CheckConstraint(
                condition=~Q(pricing="step_down")
                | Q(step_percent__gt=0, step_seconds__gt=0, floor_price_minor__isnull=False),
                name="drop_step_down_complete",
                violation_error_message="A step-down drop needs a step percent above 0, seconds between steps above 0 and a floor price.",
            ),
            models.CheckConstraint(
                condition=Q(fulfilment="ship") | Q(popup__isnull=False),
                name="drop_pickup_needs_popup",
                violation_error_message="Pickup drops need a pop-up.",
            ),
        ]

    def __str__(self) -> str:
        return self.display_title

    @property
    def display_title(self) -> str:
        return self.title or str(self.sku)

    @property
    def offers_pickup(self) -> bool:
        return self.fulfilment != self.Fulfilment.SHIP

    @property
    def total_available(self) -> int:
        """Units neither sold nor held, over all stock shards (this row's `available` plus its
        DropStockShard rows). No query for an unsharded drop or one loaded with_total_available()."""
        if self.stock_shards <= 1:
            return self.available
        units = self.__dict__.get("shard_units")
        if units is None:
            from .drop_shard import DropStockShard

            units = DropStockShard.objects.filter(drop_id=self.pk).aggregate(n=Sum("available"))["n"] or 0
            self.__dict__["shard_units"] = units
        return self.available + units

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        """As Model.refresh_from_db; a refresh of `available` also forgets the shard units read before."""
        if fields is None or "available" in fields:
            self.__dict__.pop("shard_units", None)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)

    @property
    def sold_or_held(self) -> int:
        return self.quantity - self.total_available

    def state_at(self, now) -> str:
        """The drop's own window and stock at `now`: not_yet_open / live / sold_out / closed (closed wins
        over sold out). Whether its session sells is decided by commerce.selectors.drop_status."""
        if now >= self.closes_at:
            return self.State.CLOSED
        if now < self.opens_at:
            return self.State.NOT_YET_OPEN
        if self.total_available <= 0:
            return self.State.SOLD_OUT
        return self.State.LIVE
