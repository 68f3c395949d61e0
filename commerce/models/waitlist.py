"""Waitlists on sold-out drops, the offers that reserve freed units, and stock carried between sessions.

Reservation rule (docs/waitlist.md): an open offer has taken its units out of `Drop.available`
(the same conditional UPDATE as a hold), so sold + live holds + open offers + available = quantity.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q


def new_waitlist_token() -> str:
    return secrets.token_urlsafe(24)


class WaitlistEntry(models.Model):
    """One person in line for a drop. FIFO by `position` (a global sequence: the creation order).

    Lifecycle: waiting → offered (an open offer reserves units) → converted (the offer became a hold)
    | lapsed (the offer ran out) | left (the person left the line, or staff removed them).
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting"
        OFFERED = "offered", "Offered"
        CONVERTED = "converted", "Converted to hold"
        LAPSED = "lapsed", "Offer lapsed"
        LEFT = "left", "Left the list"

    LIVE_STATUSES = (Status.WAITING, Status.OFFERED)

    drop = models.ForeignKey("commerce.Drop", on_delete=models.PROTECT, related_name="waitlist_entries")
    email = models.EmailField(max_length=254)
    email_normalized = models.CharField(max_length=254)
    customer = models.ForeignKey(
        "commerce.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="waitlist_entries"
    )
    quantity = models.PositiveSmallIntegerField(default=1, help_text="Units wanted (1..the drop's per-customer limit).")
    position = models.BigIntegerField(help_text="FIFO order: lower is served first.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    token = models.CharField(max_length=48, unique=True, default=new_waitlist_token, editable=False)
    partner = models.ForeignKey(
        "commerce.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Partner whose API key added the entry; empty = the storefront.",
    )
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["drop", "position"]
        verbose_name_plural = "waitlist entries"
        indexes = [
            # the hooks' one EXISTS and the FIFO walk: only waiting rows are indexed (small, hot)
            models.Index(fields=["drop", "position"], name="waitlist_waiting_fifo", condition=Q(status="waiting")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["drop", "email_normalized"],
                condition=Q(status__in=["waiting", "offered"]),
                name="waitlist_one_live_entry_per_email",
                violation_error_message="This address is already on the waitlist for this drop.",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1),
                name="waitlist_quantity_positive",
                violation_error_message="A waitlist entry wants at least one unit.",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.email} × {self.quantity} ({self.status})"


class WaitlistOffer(models.Model):
    """A personal offer of `quantity` units to one entry, reserved until `expires_at`.

    Lifecycle: open → claimed (a hold took its units) | expired (units back, passed on) |
    withdrawn (the person left, or staff). The unit price is not locked: claiming places a
    hold at the drop's current price.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLAIMED = "claimed", "Claimed"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.PROTECT, related_name="offers")
    drop = models.ForeignKey("commerce.Drop", on_delete=models.PROTECT, related_name="waitlist_offers")
    quantity = models.PositiveSmallIntegerField()
    token = models.CharField(max_length=48, unique=True, default=new_waitlist_token, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField()
    hold = models.OneToOneField(
        "commerce.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="waitlist_offer"
    )
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["expires_at"], name="waitlist_offer_open_expiry", condition=Q(status="open")),
        ]
        constraints = [
            # each entry has at most one open offer
            models.UniqueConstraint(
                fields=["entry"],
                condition=Q(status="open"),
                name="waitlist_one_open_offer",
                violation_error_message="This person already has an open offer for this drop.",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1),
                name="waitlist_offer_quantity_positive",
                violation_error_message="An offer is for at least one unit.",
            ),
        ]

    def __str__(self) -> str:
        return f"Offer of {self.quantity} × {self.drop} to {self.entry.email} ({self.status})"


class StockTransfer(models.Model):
    """Unsold units moved from a drop of an ended session into the same SKU's drop of the next session."""

    from_drop = models.ForeignKey("commerce.Drop", on_delete=models.PROTECT, related_name="transfers_out")
    to_drop = models.ForeignKey("commerce.Drop", on_delete=models.PROTECT, related_name="transfers_in")
    units = models.PositiveIntegerField()
    at = models.DateTimeField()
    actor = models.CharField(
        max_length=150, help_text="Who moved them: session end, the schedule, staff user, API key."
    )

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(units__gte=1),
                name="stock_transfer_units_positive",
                violation_error_message="A stock transfer moves at least one unit.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.units} units: {self.from_drop} → {self.to_drop}"
