from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class PaymentEvent(models.Model):
    """A payment-provider event applied to an order, keyed by a unique business key.

    `key` is e.g. "stripe:paid:cs_123" (one payment per Checkout Session) or
    "stripe:expired:cs_123"; the unique constraint makes duplicate, concurrent and
    replayed deliveries apply once: the insert is the claim, not a prior check.
    """

    key = models.CharField(max_length=200, unique=True)
    order = models.ForeignKey("commerce.Order", on_delete=models.CASCADE, related_name="payment_events")
    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100, blank=True, help_text="Provider's event id (evt_…).")
    amount_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=40, help_text="paid | paid_late | refunded_late | released | ignored")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key


class Refund(models.Model):
    """Money given back on an order, full or partial; `lines` maps order-line id → units refunded.

    `provider_reference` is the provider's refund id (Stripe `re_…`), unique once
    known: a refund we submitted gets it from the provider's answer (or from a
    webhook/reconciliation matching `metadata.refund_id`); a refund made in the
    provider's dashboard arrives by webhook and is recorded with
    `origin = provider`. `status` only moves forward:
    pending → succeeded | failed | canceled, and succeeded → failed (a card
    refund can still fail after succeeding). Order totals derive from the
    succeeded refunds (commerce.services.refunds).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Reason(models.TextChoices):
        REQUESTED = "requested_by_customer", "Requested by customer"
        LATE_PAYMENT = "late_payment_sold_out", "Paid after the hold lapsed; sold out"
        OTHER = "other", "Other"

    class Origin(models.TextChoices):
        SHOP = "shop", "Micromoments (admin, pickup cancel, late payment)"
        PROVIDER = "provider", "Payment provider's dashboard"

    order = models.ForeignKey("commerce.Order", on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=40, choices=Reason.choices, default=Reason.REQUESTED)
    origin = models.CharField(
        max_length=10,
        choices=Origin.choices,
        default=Origin.SHOP,
        help_text="Where the refund was made: here, or in the provider's dashboard (learnt from its webhooks).",
    )
    lines = models.JSONField(default=dict, blank=True)
    restocked_units = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    provider_reference = models.CharField(max_length=100, blank=True, help_text="Provider's refund id (Stripe re_…).")
    failure_message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True, help_text="When it left `pending`.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0),
                name="refund_amount_positive",
                violation_error_message="A refund must be for more than 0.",
            ),
            models.UniqueConstraint(
                fields=["provider_reference"],
                condition=~Q(provider_reference=""),
                name="refund_provider_ref_unique",
                violation_error_message="A refund with this provider reference is already recorded.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="refund_status_created"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.pk} on {self.order}"


class IdempotencyRecord(models.Model):
    """The first answer to an API write with an `Idempotency-Key`, replayed for repeats.

    Unique per (partner, key). `request_hash` detects a key reused for a
    different request (422). A row without a response is a request in flight (409).
    """

    partner = models.ForeignKey("commerce.Partner", on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "key"],
                name="idempotency_unique_per_partner",
                violation_error_message="This idempotency key was already used by this partner.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"
