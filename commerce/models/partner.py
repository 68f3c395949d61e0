from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models


def webhook_secret_new() -> str:
    """A fresh signing secret for a partner's webhooks (shown in the admin, given to the partner)."""
    return "whsec_mm_" + secrets.token_urlsafe(32)


class Partner(models.Model):
    """An organisation that uses the REST API (3PL, pickup partner, affiliate, BI tool)."""

    name = models.CharField(max_length=200, unique=True)
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Outgoing webhooks (order.paid, pickup.checked_in, sample.shipped): see docs/outbox.md.
    webhook_url = models.URLField(
        blank=True,
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where signed event notifications are POSTed (https in production); empty = none.",
    )
    webhook_secret = models.CharField(
        max_length=80,
        default=webhook_secret_new,
        editable=False,
        help_text="HMAC-SHA256 key of the Micromoments-Signature header; give it to the partner.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# Every scope a key can have, with what it allows (shown beside the admin's tick boxes).
# `shop` is not an operation: it widens what the other ticked scopes reach from the key's own
# partner's objects to every owner's (docs/access.md). It is never a default.
SCOPE_CHOICES = [
    ("sessions:read", "sessions:read: live sessions (shop catalogue)"),
    ("drops:read", "drops:read: drops with stock and price (shop catalogue)"),
    ("orders:read", "orders:read: the key's own orders"),
    ("holds:write", "holds:write: place holds"),
    ("orders:write", "orders:write: check out the key's own holds"),
    ("analytics:read", "analytics:read: KPIs and cohorts (shop data: needs shop too)"),
    ("analytics:events", "analytics:events: raw event export (shop data: needs shop too)"),
    ("samples:read", "samples:read: the key's own sample requests"),
    ("samples:write", "samples:write: create sample requests"),
    ("samples:3pl", "samples:3pl: shipments and tracking of the campaigns this partner fulfils"),
    ("pickup:read", "pickup:read: this partner's pop-ups, slots, bookings"),
    ("pickup:write", "pickup:write: book and reschedule at this partner's pop-ups"),
    ("pickup:checkin", "pickup:checkin: check in passes at this partner's pop-ups"),
    ("assets:read", "assets:read: sessions' recordings, public clips and thumbnails (shop catalogue)"),
    ("assets:write", "assets:write: upload recordings (resumable) and cut clips"),
    ("followers:write", "followers:write: start following a series for an e-mail address (double opt-in)"),
    ("sessions:control", "sessions:control: run the shop's live control room (shop data: needs shop too)"),
    ("coupons:read", "coupons:read: sessions' watch-gated coupons with codes issued/redeemed (no visitor data)"),
    ("waitlist:write", "waitlist:write: put viewers on a sold-out drop's waitlist"),
    ("waitlist:read", "waitlist:read: a drop's waitlist figures (shop data: needs shop too)"),
    ("drops:write", "drops:write: carry unsold stock to the next session (shop data: needs shop too)"),
    ("plans:read", "plans:read: membership plans on offer (shop catalogue)"),
    ("memberships:read", "memberships:read: memberships and their status (shop data: needs shop too)"),
    ("bundles:read", "bundles:read: community bundles of open drops with seats left (shop catalogue)"),
    ("trials:write", "trials:write: ask for the return of a trial line of the key's own orders"),
    ("trials:read", "trials:read: trial returns of the key's own orders"),
    ("shop", "shop: acts for the shop: every owner's objects (the shop's own integrations only)"),
]
SHOP_SCOPE = "shop"


def validate_scopes(value) -> None:
    """A list of known scope names, each once. Raises ValidationError naming the unknown ones."""
    known = {name for name, _label in SCOPE_CHOICES}
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValidationError("Scopes must be a list of scope names.", code="invalid_scopes")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValidationError(
            "Unknown scope(s): %(unknown)s. Known scopes: %(known)s.",
            code="unknown_scope",
            params={"unknown": ", ".join(unknown), "known": ", ".join(n for n, _ in SCOPE_CHOICES)},
        )
    if len(set(value)) != len(value):
        raise ValidationError("A scope is listed twice.", code="duplicate_scope")


class ApiKey(models.Model):
    """A partner's API key. Only a SHA-256 digest is stored; the secret is shown once.

    The presented key looks like `mm_<prefix>_<secret>`; `prefix` finds the row,
    the digest of the whole key is compared in constant time. A key has exactly the
    scopes ticked (none ticked = no scope); `shop` makes it act for the shop.
    """

    SCOPES = [name for name, _label in SCOPE_CHOICES]

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=120, help_text="What the key is for, e.g. 'BI nightly export'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_scopes],
        help_text="Exactly the scopes ticked; none ticked = no scope. `shop` = acts for the shop (docs/access.md).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        permissions = [("revoke_apikey", "Can revoke API keys")]

    def __str__(self) -> str:
        return f"{self.partner} · {self.name} (mm_{self.prefix}_…)"

    def save(self, *args, **kwargs):
        # An unknown scope would silently grant nothing (or, once a scope of that name is added
        # later, grant it unnoticed): refuse it wherever the key is written from, not only in forms.
        validate_scopes(self.scopes)
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.partner.is_active

    @property
    def acts_for_shop(self) -> bool:
        return SHOP_SCOPE in self.scopes

    def has_scope(self, scope: str) -> bool:
        """Exactly the ticked scopes: a key with none ticked has no scope."""
        return scope in self.scopes
