from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q


def new_hold_token() -> str:
    return secrets.token_urlsafe(18)


class Hold(models.Model):
    """Units of a drop reserved for one customer, at a locked unit price, until `expires_at`.

    Lifecycle: active → converted (its order was confirmed/paid) | released (the
    buyer gave it up, checkout expired) | expired (the clock ran out; the sweep
    returned the units). An active hold past `expires_at` counts as expired on
    every read even before the sweep runs (see commerce.selectors).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CONVERTED = "converted", "Converted to order"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    token = models.CharField(max_length=40, unique=True, default=new_hold_token, editable=False)
    # No single-column indexes: (drop, status, expires_at) and (customer, drop) below lead with them,
    # and every hold placed during a spike would pay for two more index entries.
    drop = models.ForeignKey("commerce.Drop", on_delete=models.PROTECT, related_name="holds", db_index=False)
    customer = models.ForeignKey("commerce.Customer", on_delete=models.PROTECT, related_name="holds", db_index=False)
    quantity = models.PositiveIntegerField()
    unit_price_minor = models.PositiveBigIntegerField(help_text="Price locked when the hold was placed.")
    currency = models.CharField(max_length=3)
    price_step = models.PositiveSmallIntegerField(default=0, help_text="Dynamic-pricing step the price came from.")
    pickup_slot = models.ForeignKey(
        "commerce.PickupSlot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="holds",
        help_text="Pickup slot whose place this hold takes (one place per hold), if any.",
    )
    # Owner (docs/access.md): the partner whose API key placed the hold; empty = the shop (storefront).
    # No index: a hold is found by its token, and every hold placed in a spike would pay for one.
    partner = models.ForeignKey(
        "commerce.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="holds",
        db_index=False,
        help_text="Partner whose API key placed the hold; empty = the shop's storefront.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    client_key = models.CharField(
        max_length=80,
        blank=True,
        default="",
        help_text="Who placed it (an IP network, or an API key's end client): the per-client cap counts these.",
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["drop", "status", "expires_at"], name="hold_drop_status_expiry"),
            # the per-customer limit check on every hold (commerce.locks): a customer has few holds
            models.Index(fields=["customer", "drop"], name="hold_customer_drop"),
            # the per-client cap on every hold (commerce.locks), across e-mails
            models.Index(fields=["drop", "client_key"], name="hold_drop_client", condition=~Q(client_key="")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1),
                name="hold_quantity_positive",
                violation_error_message="A hold needs at least one unit.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.drop} for {self.customer} ({self.status})"

    def is_live(self, now) -> bool:
        return self.status == self.Status.ACTIVE and now < self.expires_at
