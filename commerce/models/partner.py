from __future__ import annotations

import secrets

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


class ApiKey(models.Model):
    """A partner's API key. Only a SHA-256 digest is stored; the secret is shown once.

    The presented key looks like `mm_<prefix>_<secret>`; `prefix` finds the row,
    the digest of the whole key is compared in constant time.
    """

    SCOPES = [
        "sessions:read",
        "drops:read",
        "orders:read",
        "holds:write",
        "orders:write",
        "analytics:read",
        "analytics:events",
        "samples:read",
        "samples:write",
        "samples:3pl",
        "pickup:read",
        "pickup:write",
        "pickup:checkin",
    ]

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=120, help_text="What the key is for, e.g. 'BI nightly export'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True, help_text=f"Subset of {SCOPES}; empty = every read scope.")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        permissions = [("revoke_apikey", "Can revoke API keys")]

    def __str__(self) -> str:
        return f"{self.partner} · {self.name} (mm_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.partner.is_active

    def has_scope(self, scope: str) -> bool:
        """Ticked scopes only; a key with none ticked has every *read* scope (as the help text says)."""
        return scope in self.scopes if self.scopes else scope.endswith(":read")
