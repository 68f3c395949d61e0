from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """One fixed-window rate-limit counter (commerce.ratelimit's database store).

    `key` names the limit, the client and the window; rows are pruned once expired.
    Used when no Redis is configured, so that every worker process counts together.
    """

    key = models.CharField(max_length=120, primary_key=True)
    hits = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "rate-limit counter"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"
