from __future__ import annotations

from django.db import models


class Customer(models.Model):
    """A buyer, identified by a normalized e-mail (see commerce.identity.normalize_email)."""

    email = models.EmailField(help_text="As the customer typed it (trimmed).")
    email_normalized = models.CharField(max_length=320, unique=True)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email
