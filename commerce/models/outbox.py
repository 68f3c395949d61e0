"""The transactional outbox: side effects (e-mails, refunds, partner webhooks) written as rows.

A service that decides on a side effect inserts an `OutboxMessage` in the same
transaction as the business change, so the intent commits or rolls back with it.
A django-q2 task drains the table (commerce.services.outbox): it leases a row,
performs the send, and marks it done only after the send succeeded. A worker
killed mid-send leaves a lease that lapses; the next drain (a kick after a
commit, or the per-minute sweep) takes the row again. Sends are therefore
at-least-once; receivers deduplicate on `dedupe_key` (e-mail Message-ID, Stripe
idempotency key, webhook event id), which makes them effectively once.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=40, help_text="Which sender performs it, e.g. order_email, partner_webhook.")
    dedupe_key = models.CharField(
        max_length=200,
        unique=True,
        help_text="One side effect, one key (e.g. order-email:confirmed:42): a second insert is ignored.",
    )
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Claims so far (a killed or timed-out try counts).")
    max_attempts = models.PositiveIntegerField(default=8)
    available_at = models.DateTimeField(help_text="Not tried before this time (backoff after a failed try).")
    leased_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds the row until then.")
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    leased_by = models.CharField(max_length=120, blank=True, help_text="host:pid of the worker that took it last.")
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "outbox message"
        permissions = [("retry_outboxmessage", "Can retry failed outbox messages")]
        indexes = [
            # the drain's claim: pending rows that are due, oldest first
            models.Index(fields=["available_at", "id"], condition=Q(status="pending"), name="outbox_pending_due_idx"),
            models.Index(fields=["status", "kind"], name="outbox_status_kind_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "done", "failed"]),
                name="outbox_status_valid",
                violation_error_message="The outbox status must be pending, done or failed.",
            ),
        ]

    def __str__(self) -> str:
        return self.dedupe_key
