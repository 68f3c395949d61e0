"""Models of memberships, members-only gating, missed-session credits, community bundles and trials.

Money is integer minor units of the row's `currency` (ISO 4217, upper case); datetimes are aware UTC.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q


def new_pass_token() -> str:
    return secrets.token_urlsafe(24)


def new_join_token() -> str:
    return secrets.token_urlsafe(24)


class MembershipPlan(models.Model):
    """A weekly (or monthly) VIP micro-subscription staff sell: price per interval and perks.

    With Stripe, `stripe_price_id` names the recurring Price (created by `stripe_setup` or pasted from the
    dashboard); Checkout in subscription mode sells it. With the `manual` provider the plan is sold without
    card details (clearly labelled as a demonstration) and renewed by staff or the sweep.
    """

    class Interval(models.TextChoices):
        WEEK = "week", "Weekly"
        MONTH = "month", "Monthly"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    perks = models.TextField(blank=True, help_text="One perk per line, shown on the join page.")
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.WEEK)
    price_minor = models.PositiveBigIntegerField(help_text="Price per interval, minor units of `currency`.")
    currency = models.CharField(max_length=3)
    grace_days = models.PositiveSmallIntegerField(
        default=3,
        help_text="Past due: members keep access this many days after a failed renewal (docs/memberships.md).",
    )
    missed_credit_percent = models.PositiveSmallIntegerField(
        default=25,
        help_text="Missed-session credit: percent of one interval's price credited per members-only session "
        "missed (docs/memberships.md), capped at one interval's price per period.",
    )
    stripe_product_id = models.CharField(max_length=100, blank=True)
    stripe_price_id = models.CharField(max_length=100, blank=True, help_text="Stripe recurring Price (price_…).")
    is_active = models.BooleanField(default=True, help_text="Offered to new members.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["price_minor"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_minor__gt=0),
                name="plan_price_positive",
                violation_error_message="A plan must cost more than 0.",
            ),
            models.CheckConstraint(
                condition=Q(missed_credit_percent__lte=100),
                name="plan_credit_percent_le_100",
                violation_error_message="The missed-session credit is at most 100 percent of the price.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One customer's subscription to a plan.

    Status (Stripe's subscription statuses folded to four): `incomplete` (checkout started, not paid),
    `active`, `past_due` (a renewal failed: access continues until `grace_until`), `ended` (cancelled,
    unpaid past grace, or checkout abandoned). "Cancelled at period end" is `active` with
    `cancel_at_period_end`: access continues until `current_period_end`.

    Provider events are applied in order: `provider_state_at` is the Stripe `created` (Unix seconds) of
    the newest event applied; older events are recorded and ignored (commerce.memberships.services_billing).
    `pass_token` is the member's secret: the signed `mm_member` cookie and the magic link carry it.
    """

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Checkout started"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due (grace period)"
        ENDED = "ended", "Ended"

    plan = models.ForeignKey(MembershipPlan, on_delete=models.PROTECT, related_name="memberships")
    customer = models.ForeignKey("commerce.Customer", on_delete=models.PROTECT, related_name="memberships")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.INCOMPLETE, db_index=True)
    provider = models.CharField(max_length=20, default="manual")
    cancel_at_period_end = models.BooleanField(default=False)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True, help_text="Past due: access ends then.")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    pass_token = models.CharField(max_length=64, unique=True, default=new_pass_token, editable=False)
    stripe_subscription_id = models.CharField(max_length=100, blank=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True)
    checkout_reference = models.CharField(max_length=255, blank=True, help_text="Stripe Checkout Session (cs_…).")
    checkout_url = models.URLField(max_length=2000, blank=True)
    provider_state_at = models.BigIntegerField(
        default=0, help_text="Provider `created` (Unix seconds) of the newest event applied."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("manage_membership", "Can renew, cancel or end a membership")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "plan"],
                condition=Q(status__in=["incomplete", "active", "past_due"]),
                name="membership_one_open_per_plan",
                violation_error_message="This customer already has an open membership of this plan.",
            ),
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~Q(stripe_subscription_id=""),
                name="membership_unique_stripe_subscription",
                violation_error_message="This Stripe subscription belongs to another membership.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} · {self.plan} ({self.status})"

    def grants_access(self, now) -> bool:
        """True while the member may watch members-only sessions and buy exclusive SKUs at `now`."""
        if self.status == self.Status.ACTIVE:
            return self.current_period_end is None or now < self.current_period_end
        if self.status == self.Status.PAST_DUE:
            return self.grace_until is not None and now < self.grace_until
        return False


class MembershipEvent(models.Model):
    """A provider event (or a manual step) applied to memberships, once: `key` is unique.

    `created` is the provider's event time (Unix seconds, UTC); `outcome` says what it did
    (applied | stale | ignored | …), for the admin's audit of out-of-order deliveries.
    """

    key = models.CharField(max_length=200, unique=True)
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    provider = models.CharField(max_length=20)
    type = models.CharField(max_length=60)
    created = models.BigIntegerField(default=0, help_text="Provider's event time, Unix seconds.")
    outcome = models.CharField(max_length=40)
    amount_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} → {self.outcome}"


class MemberCredit(models.Model):
    """Credit towards the next period for a members-only session the member missed (no watch evidence).

    One per (membership, session): the unique constraint makes the rule apply once. `available` credits are
    taken off the next renewal (`applied`, with where it went in `applied_to`), or `void` (membership ended).
    """

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        APPLIED = "applied", "Applied"
        VOID = "void", "Void"

    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="credits")
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.PROTECT, related_name="member_credits")
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_to = models.CharField(max_length=200, blank=True, help_text="Stripe balance transaction, or the renewal.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "session"],
                name="member_credit_once_per_session",
                violation_error_message="This member already has a credit for this session.",
            ),
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0),
                name="member_credit_positive",
                violation_error_message="A credit must be for more than 0.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} for {self.membership}"


class Bundle(models.Model):
    """A community bundle: the drop's SKU together with a seat in a private micro-session.

    The drop sells the units (its `available` counter); this row adds the seats: `seats_available` is the
    scarce counter, changed only by conditional UPDATEs in the same transaction as the drop's stock
    (a hold takes a unit and a seat, or neither). The database refuses any value outside 0..seat_cap.
    """

    drop = models.OneToOneField("commerce.Drop", on_delete=models.PROTECT, related_name="bundle")
    private_session = models.ForeignKey(
        "sessions_app.LiveSession",
        on_delete=models.PROTECT,
        related_name="bundles",
        help_text="The private micro-session the seat admits to (its page is reached only by a seat's join link).",
    )
    seat_cap = models.PositiveIntegerField()
    seats_available = models.IntegerField(help_text="Seats neither sold nor held. Maintained by the system.")
    note = models.CharField(max_length=200, blank=True, help_text="Shown with the offer, e.g. 'Q&A with the maker'.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(seats_available__gte=0),
                name="bundle_seats_non_negative",
                violation_error_message="A bundle cannot have fewer than 0 seats available.",
            ),
            models.CheckConstraint(
                condition=Q(seats_available__lte=F("seat_cap")),
                name="bundle_seats_le_cap",
                violation_error_message="A bundle cannot have more seats available than its cap.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drop} + seat in {self.private_session}"


class BundleSeat(models.Model):
    """A seat taken by one hold of a bundle: `held` with the hold, `confirmed` with its order, `released`
    when the hold lapses or the order is cancelled or refunded (the seat goes back). `join_token` is the
    personal join link (/join/<token>/), valid while the seat is confirmed."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        CONFIRMED = "confirmed", "Confirmed"
        RELEASED = "released", "Released"

    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="seats")
    hold = models.OneToOneField("commerce.Hold", on_delete=models.PROTECT, related_name="bundle_seat")
    order = models.ForeignKey(
        "commerce.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="bundle_seats"
    )
    customer = models.ForeignKey("commerce.Customer", on_delete=models.PROTECT, related_name="bundle_seats")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    join_token = models.CharField(max_length=64, unique=True, default=new_join_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"seat {self.pk} ({self.status})"


class TrialReturn(models.Model):
    """A buyer's return of a trial line inside its window: requested → received (staff) → refunded.

    One per order line (unique). The refund is created once, under the row's lock, when staff mark the
    item received (`refund` is set then); the provider call is the refund's own idempotent path.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Return requested"
        RECEIVED = "received", "Item received, refund issued"
        CANCELLED = "cancelled", "Return withdrawn"

    order_line = models.OneToOneField("commerce.OrderLine", on_delete=models.PROTECT, related_name="trial_return")
    order = models.ForeignKey("commerce.Order", on_delete=models.PROTECT, related_name="trial_returns")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(max_length=500, blank=True)
    requested_at = models.DateTimeField()
    window_ends_at = models.DateTimeField(help_text="End of the trial window the request was made within.")
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    refund = models.OneToOneField(
        "commerce.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="trial_return"
    )

    class Meta:
        ordering = ["-requested_at"]
        permissions = [("receive_trialreturn", "Can mark a trial return received (refunds it)")]

    def __str__(self) -> str:
        return f"return of {self.order_line} ({self.status})"
