"""Analytics: raw events, the durable ingest buffer, funnel rollups, purchases and cohorts.

Data flow (each step in `analytics.services`):

    event_capture()  ──append──▶  BufferedEvent   (one cheap row per acknowledged event)
    events_flush()   ──batch───▶  Event            (raw, kept forever, COPY on PostgreSQL)
                                  PendingActor     ((session, actor) pairs whose funnel must be recomputed)
                                  Purchase         (one row per paid order / imported transaction)
                                  PendingCustomer  (customers whose cohort stats must be recomputed)
    rollups_update() ──────────▶  FunnelActor → FunnelRollup   (per session and per drop)
                                  CustomerStats                 (first purchase, repeat, 60-day LTV)

Analytics tables reference sessions, drops, SKUs, orders and customers by plain integer ids, not
foreign keys: raw events must never block deleting (or be deleted with) a commerce row, and COPY
into an unconstrained table is what keeps ingestion fast. Money is integer minor units plus an
ISO 4217 currency; every time is aware UTC.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class EventName(models.TextChoices):
    """The funnel vocabulary (docs/metrics.md) plus the side events."""

    VIEW = "view", "View (session or drop page rendered)"
    CLICK = "click", "Click (a drop's call to action)"
    CART = "cart", "Cart (a hold placed)"
    CHECKOUT = "checkout", "Checkout (payment started)"
    PURCHASE = "purchase", "Purchase (order paid)"
    FOLLOW_UP = "follow_up", "Follow-up (post-session offer opened or redeemed)"
    SAMPLE_REQUEST = "sample_request", "Sample request"
    SHARE = "share", "Share"
    SHARE_VISIT = "share_visit", "Share visit (a new visitor counted for a share link)"
    SHARE_UNLOCK = "share_unlock", "Share unlock (a share link's offer unlocked)"


# The ordered funnel: a step counts for a visitor only after the previous one (metrics.md §1).
FUNNEL_STEPS: tuple[str, ...] = ("view", "click", "cart", "checkout", "purchase")
# Client-side events the beacon accepts; the others happen on the server only.
BEACON_EVENTS: frozenset[str] = frozenset({"view", "click", "share", "follow_up"})


class BufferedEvent(models.Model):
    """An acknowledged event waiting to be flushed: the durable ingest buffer.

    The event's fields without any index but the primary key, so an append (one row, or COPY
    for a batch) is the cheapest durable write the database offers. `id` is the event's
    monotonic sequence number (`Event.seq`), which orders events that share a timestamp.
    """

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=20)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    visitor_id = models.CharField(max_length=64, blank=True, default="")
    customer_id = models.BigIntegerField(null=True)
    session_id = models.BigIntegerField(null=True)
    drop_id = models.BigIntegerField(null=True)
    sku_id = models.BigIntegerField(null=True)
    order_id = models.BigIntegerField(null=True)
    amount_minor = models.BigIntegerField(null=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    props = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "buffered event"


class Event(models.Model):
    """A raw analytics event, kept so that every rollup can be rebuilt.

    `actor` is the person the funnel counts: `c:<customer id>` once the visitor is identified,
    else `v:<visitor id>` (the first-party cookie). `seq` is monotonic and unique.
    """

    seq = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=20, choices=EventName.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    visitor_id = models.CharField(max_length=64, blank=True, default="")
    customer_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=80)
    session_id = models.BigIntegerField(null=True, blank=True)
    drop_id = models.BigIntegerField(null=True, blank=True)
    sku_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    amount_minor = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    props = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["session_id", "actor", "occurred_at", "seq"], name="event_session_actor_time"),
            models.Index(fields=["visitor_id"], name="event_visitor"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.seq} {self.actor}"


class VisitorAlias(models.Model):
    """A visitor (cookie id) identified as a customer: both are one actor from then on."""

    visitor_id = models.CharField(max_length=64, unique=True)
    customer_id = models.BigIntegerField(db_index=True)
    identified_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "visitor aliases"

    def __str__(self) -> str:
        return f"{self.visitor_id} → c:{self.customer_id}"


class PendingActor(models.Model):
    """A (session, actor) pair whose funnel row must be recomputed by rollups_update.

    Not unique on purpose: every flush appends its own rows and a worker deletes only the rows
    it claimed, so events committed while a worker recomputes an actor always leave a row for
    the next run (recomputing twice is harmless, missing once is not).
    """

    session_id = models.BigIntegerField()
    actor = models.CharField(max_length=80)

    class Meta:
        indexes = [models.Index(fields=["session_id", "actor"], name="pending_actor_pair")]


class PendingCustomer(models.Model):
    """A customer whose CustomerStats must be recomputed by rollups_update (appended, see PendingActor)."""

    customer_key = models.CharField(max_length=80)


class FunnelActor(models.Model):
    """One actor's progress through a session's funnel (drop_id 0 = the whole session).

    Each `*_at` is when the actor reached that step under the ordered rule of metrics.md §1,
    or null. `purchases`/`revenue_minor` count every paid order of the actor attributed to
    the session (or drop), deduplicated by order, whatever the funnel order.
    """

    session_id = models.BigIntegerField()
    drop_id = models.BigIntegerField(default=0)
    actor = models.CharField(max_length=80)
    view_at = models.DateTimeField(null=True)
    click_at = models.DateTimeField(null=True)
    cart_at = models.DateTimeField(null=True)
    checkout_at = models.DateTimeField(null=True)
    purchase_at = models.DateTimeField(null=True)
    purchases = models.IntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_id", "drop_id", "actor"],
                name="funnel_actor_unique",
                violation_error_message="This visitor is already counted in this session's funnel.",
            ),
        ]


class FunnelRollup(models.Model):
    """The funnel of one session (drop_id 0) or of one drop in it, maintained incrementally.

    Counts are distinct actors per step (metrics.md §1). Series, format and week figures are
    sums of the session rows (session-visits, metrics.md §4).
    """

    session_id = models.BigIntegerField()
    drop_id = models.BigIntegerField(default=0)
    visitors_view = models.BigIntegerField(default=0)
    visitors_click = models.BigIntegerField(default=0)
    visitors_cart = models.BigIntegerField(default=0)
    visitors_checkout = models.BigIntegerField(default=0)
    visitors_purchase = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    revenue_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True, default="")
    updated_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_id", "drop_id"],
                name="funnel_rollup_unique",
                violation_error_message="This session and drop already have a funnel rollup.",
            ),
            models.CheckConstraint(
                condition=Q(visitors_view__gte=0),
                name="funnel_rollup_non_negative",
                violation_error_message="Funnel counts cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id}" + (f" drop {self.drop_id}" if self.drop_id else "")


class Purchase(models.Model):
    """One purchase: a paid order (source `live`) or an imported transaction (`import:<name>`).

    `customer_key` is `c:<customer id>` for shop customers, `<source>:<external id>` for
    imported logs. `day` is the UTC calendar day used by the repeat and cohort rules.
    """

    customer_key = models.CharField(max_length=80)
    occurred_at = models.DateTimeField()
    day = models.DateField()
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    quantity = models.IntegerField(default=1)
    session_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True, unique=True)
    source = models.CharField(max_length=40, default="live")
    external_ref = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        indexes = [models.Index(fields=["customer_key", "day"], name="purchase_customer_day")]

    def __str__(self) -> str:
        return f"{self.customer_key} {self.day} {self.amount_minor} {self.currency}"


class CustomerStats(models.Model):
    """Per customer: first purchase and the windows that feed repeat rate, cohorts and LTV.

    Definitions in `analytics.services.purchases.customer_stats_compute` and metrics.md §3.
    """

    customer_key = models.CharField(max_length=80, unique=True)
    source = models.CharField(max_length=40, default="live")
    first_day = models.DateField()
    first_session_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    currency = models.CharField(max_length=3)
    purchases = models.IntegerField()
    revenue_minor = models.BigIntegerField()
    repeat_7d = models.BooleanField()
    repeat_14d = models.BooleanField()
    repeat_30d = models.BooleanField()
    revenue_7d_minor = models.BigIntegerField()
    revenue_14d_minor = models.BigIntegerField()
    ltv_60d_minor = models.BigIntegerField()

    class Meta:
        verbose_name_plural = "customer stats"
        indexes = [models.Index(fields=["source", "first_day"], name="customer_stats_cohort")]

    def __str__(self) -> str:
        return self.customer_key


class SessionCost(models.Model):
    """Costs charged against a session's revenue in ROI per minute (metrics.md §2).

    Entered by staff until the sampling app tracks sample cost and assets are tracked.
    """

    session_id = models.BigIntegerField(unique=True)
    sample_cost_minor = models.BigIntegerField(default=0)
    asset_cost_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)

    def __str__(self) -> str:
        return f"costs of session {self.session_id}"


class Experiment(models.Model):
    """A format experiment: two formats, or two variants with sessions assigned to them."""

    class Kind(models.TextChoices):
        FORMATS = "formats", "Format A vs format B"
        VARIANTS = "variants", "Variant A vs variant B (sessions assigned)"

    name = models.CharField(max_length=160)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FORMATS)
    format_a = models.ForeignKey(
        "sessions_app.SessionFormat", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    format_b = models.ForeignKey(
        "sessions_app.SessionFormat", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(
        max_length=3, default="USD", help_text="Revenue per viewer is compared in this currency."
    )
    min_effect = models.FloatField(
        default=0.05, help_text="Smallest C2P difference worth detecting (absolute, e.g. 0.05 = 5 points)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ExperimentSession(models.Model):
    """A session assigned to a variant of a `variants` experiment."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=1, choices=[("A", "A"), ("B", "B")])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "session"],
                name="experiment_session_unique",
                violation_error_message="This session is already part of the experiment.",
            )
        ]
