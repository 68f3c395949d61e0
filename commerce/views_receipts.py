"""The buyer's receipt and credit-note downloads, behind the order's private link (its unguessable token).

A wrong token, or a credit note of another order, is a 404; an order that was never paid has no
receipt (404). An order paid before receipts existed gets its receipt issued on first download.
"""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache

from .models import Order
from .receipt_pdf import credit_note_pdf, receipt_filename, receipt_pdf
from .selectors_receipts import credit_note_for_order
from .services.receipts import ReceiptUnavailable, receipt_ensure


def pdf_response(data: bytes, number: str, *, download: bool = True) -> HttpResponse:
    """A PDF answer, private (never cached by a shared cache), named after the document number."""
    response = HttpResponse(data, content_type="application/pdf")
    disposition = "attachment" if download else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{receipt_filename(number)}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@never_cache
def order_receipt(request, token: str):
    """GET /orders/<token>/receipt.pdf: the order's receipt (PDF)."""
    order = get_object_or_404(Order, token=token)
    try:
        receipt = receipt_ensure(order_id=order.pk)
    except ReceiptUnavailable as exc:
        raise Http404(exc.message) from exc
    return pdf_response(receipt_pdf(receipt), receipt.number)


@never_cache
def order_credit_note(request, token: str, credit_note_id: int):
    """GET /orders/<token>/credit-notes/<id>.pdf: one credit note of the order (PDF)."""
    order = get_object_or_404(Order, token=token)
    note = credit_note_for_order(order_id=order.pk, credit_note_id=credit_note_id)
    return pdf_response(credit_note_pdf(note), note.number)
