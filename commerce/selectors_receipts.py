"""Reads for receipts and credit notes: what an order's page and the admin list, and the buyer's door to them."""

from __future__ import annotations

from django.http import Http404

from .models import CreditNote, Order, Receipt


def order_documents(*, order: Order) -> dict:
    """{"receipt": Receipt | None, "credit_notes": [CreditNote, …] oldest first} of one order (2 queries)."""
    return {
        "receipt": Receipt.objects.filter(order=order).first(),
        "credit_notes": list(CreditNote.objects.filter(order=order).order_by("issued_at", "pk")),
    }


def credit_note_for_order(*, order_id: int, credit_note_id: int) -> CreditNote:
    """A credit note of that order, else Http404 (the same answer for another order's note as for none)."""
    note = CreditNote.objects.select_related("receipt").filter(pk=credit_note_id, order_id=order_id).first()
    if note is None:
        raise Http404("No such credit note on this order.")
    return note
