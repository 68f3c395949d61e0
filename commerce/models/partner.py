from __future__ import annotations

from django.db import models


class Partner(models.Model):
    """An organisation that uses the REST API (3PL, pickup partner, affiliate, BI tool)."""

    name = models.CharField(max_length=200, unique=True)
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

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
