"""Receipts and credit notes: numbered documents, gap-free per series and calendar year.

A `Receipt` is issued once per paid order, in the transaction that marks it paid; a
`CreditNote` once per succeeded refund, in the transaction that applies the success.
Each keeps a snapshot (JSON) of what it says, so the PDF rendered from it later is
the same document even if the order, the shop's address or the catalog change.
Numbers come from `DocumentSequence` rows (commerce.services.receipts).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class DocumentSequence(models.Model):
    """The counter of one numbered series ("R" receipts, "C" credit notes) for one year in the shop's zone.

    `last_number` is the last number handed out; it only moves inside the transaction that
    issues the document (a conditional UPDATE), so a rolled-back issue leaves no gap.
    """

    series = models.CharField(max_length=4)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["series", "year"],
                name="document_sequence_unique",
                violation_error_message="This numbering series already has a counter for that year.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class Receipt(models.Model):
    """The receipt of a paid order: its number (`R-2026-000123`) and a snapshot of what it shows.

    Amounts in `snapshot` are integer minor units of `currency` (docs/receipts.md lists its keys).
    """

    number = models.CharField(max_length=24, unique=True)
    order = models.OneToOneField("commerce.Order", on_delete=models.PROTECT, related_name="receipt")
    issued_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total_minor = models.PositiveBigIntegerField()
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        permissions = [("download_receipt", "Can download receipts and credit notes (PDF)")]

    def __str__(self) -> str:
        return self.number


class CreditNote(models.Model):
    """The credit note of a succeeded refund (`C-2026-000001`), referencing the order's receipt."""

    number = models.CharField(max_length=24, unique=True)
    refund = models.OneToOneField("commerce.Refund", on_delete=models.PROTECT, related_name="credit_note")
    order = models.ForeignKey("commerce.Order", on_delete=models.PROTECT, related_name="credit_notes")
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="credit_notes")
    issued_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    amount_minor = models.PositiveBigIntegerField()
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_minor__gt=0),
                name="credit_note_amount_positive",
                violation_error_message="A credit note is for a positive amount.",
            )
        ]

    def __str__(self) -> str:
        return self.number
