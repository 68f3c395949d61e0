"""Receipts and credit notes: numbered once, in the transaction that earns them, e-mailed through the outbox.

Numbering (docs/receipts.md): `R-<year>-<nnnnnn>` for receipts, `C-<year>-<nnnnnn>` for credit
notes, sequential and gap-free per series and calendar year of the shop's zone (`SHOP_TIMEZONE`).
A number is taken by one conditional UPDATE of the series' `DocumentSequence` row
(`last_number = last_number + 1`), which row-locks it until the caller's transaction ends:
concurrent issuers queue on that row (PostgreSQL) or on the database write lock (SQLite), and a
rolled-back issue rolls the counter back with it, so no number is skipped or given twice.
Lock order: the order row first (every caller holds it), then the counter, taken last and
briefly, so payments serialise only for the few statements left in their transaction.

When: `receipt_issue` is called by every service that makes an order paid (order_mark_paid,
payment_confirm, a zero-total checkout), with the order row locked; an order has one receipt
(OneToOne), issuing again returns it. `credit_note_issue` is called by the refund service when a
refund moves to succeeded (commerce.services.refunds), once per refund (OneToOne).

E-mail: a receipt issued with `email=True` (an order paid after its confirmation e-mail went out:
the manual provider) queues its own "receipt" e-mail; otherwise the confirmation e-mail of the
same transaction carries it. Every credit note queues a "credit_note" e-mail. Both are outbox rows
with dedupe keys (sent exactly once), and the PDFs are attached by the sender
(commerce.tasks.order_email_send).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..exceptions import CommerceError, ErrorCode
from ..models import CreditNote, DocumentSequence, Order, OrderLine, Receipt, Refund
from ..shipping import order_fulfilment
from .outbox import outbox_enqueue

RECEIPT_SERIES = "R"
CREDIT_NOTE_SERIES = "C"

# How the receipt names the payment method, by provider (a provider not listed shows its name).
# The manual provider depends on how the order reaches the buyer (payment_method_label).
PAYMENT_METHODS = {
    "manual": "Paid in person (cash or card at the counter)",
    "stripe": "Card or wallet (Stripe)",
}
MANUAL_SHIP_PAYMENT = "Bank transfer (invoice)"


def payment_method_label(order: Order) -> str:
    """The payment method printed on receipts and credit notes (and "Refunded to").

    Manual provider: a pickup order is paid in person, a shipped one by bank transfer
    (commerce.shipping.order_fulfilment decides which); other providers by PAYMENT_METHODS.
    """
    if order.payment_provider == "manual" and order_fulfilment(order)["kind"] == "ship":
        return MANUAL_SHIP_PAYMENT
    return PAYMENT_METHODS.get(order.payment_provider, order.payment_provider)


class ReceiptUnavailable(CommerceError):
    code = ErrorCode.NOT_FOUND
    status = 404


def document_number(*, series: str, now: dt.datetime | None = None) -> str:
    """Take the next number of `series` for the current year in the shop's zone: "R-2026-000123".

    Must run inside the caller's transaction (raises RuntimeError otherwise): the number is
    only taken if that transaction commits, so the series has no gaps.
    """
    if transaction.get_autocommit():
        raise RuntimeError("document_number must run inside the transaction that issues the document.")
    now = now or timezone.now()
    year = timezone.localtime(now, ZoneInfo(settings.SHOP_TIMEZONE)).year
    # the year's row, made once (a concurrent maker wins, the other insert does nothing)
    DocumentSequence.objects.bulk_create([DocumentSequence(series=series, year=year)], ignore_conflicts=True)
    sequence = DocumentSequence.objects.filter(series=series, year=year)
    sequence.update(last_number=F("last_number") + 1)  # row-locked until the caller commits or rolls back
    number = sequence.values_list("last_number", flat=True).get()
    return f"{series}-{year}-{number:06d}"


def _address(order: Order) -> dict:
    return {k: v for k, v in (order.shipping_address or {}).items() if v not in (None, "", [])}


def _order_snapshot(order: Order) -> dict:
    lines = [
        {
            "id": line.pk,
            "title": line.title,
            "sku": line.sku.code if line.sku_id else "",
            "quantity": line.quantity,
            "unit_price_minor": line.unit_price_minor,
            "discount_minor": line.discount_minor,
            "total_minor": line.total_minor,
        }
        for line in order.lines.select_related("sku").order_by("pk")
    ]
    return {
        "shop": {"name": settings.SHOP_NAME, "address": list(settings.SHOP_ADDRESS), "tax_id": settings.SHOP_TAX_ID},
        "order_number": order.number,
        "buyer_email": order.customer.email,
        "buyer_name": order.customer.name,
        "currency": order.currency,
        "lines": lines,
        "subtotal_minor": order.subtotal_minor,
        "discount_minor": order.discount_minor,
        "shipping_minor": order.shipping_minor,
        "shipping_rate_name": order.shipping_rate_name,
        "tax_minor": order.tax_minor,
        "tax_included": order.tax_included,
        "total_minor": order.total_minor,
        "payment_method": payment_method_label(order),
        "paid_at": (order.paid_at or timezone.now()).isoformat(),
        "shipping_address": _address(order),
        "timezone": settings.SHOP_TIMEZONE,
    }


def receipt_issue(*, order: Order, now: dt.datetime | None = None, email: bool = False) -> Receipt:
    """Issue the receipt of `order` (paid, row locked by the caller, inside its transaction); returns it.

    Idempotent: an order that has a receipt gets it back unchanged (no number taken, no e-mail).
    `email=True` queues the "receipt" e-mail (outbox key `order-email:receipt:<order id>`);
    leave it False when the order's confirmation e-mail is queued in the same transaction
    (it attaches the receipt). Raises RuntimeError outside a transaction.
    """
    now = now or timezone.now()
    existing = Receipt.objects.filter(order_id=order.pk).first()
    if existing is not None:
        return existing
    snapshot = _order_snapshot(order)  # read before the counter is locked: the lock is held briefly
    receipt = Receipt.objects.create(
        number=document_number(series=RECEIPT_SERIES, now=now),
        order=order,
        issued_at=now,
        currency=order.currency,
        total_minor=order.total_minor,
        snapshot=snapshot,
    )
    if email:
        outbox_enqueue(
            kind="order_email",
            key=f"order-email:receipt:{order.pk}",
            payload={"order_id": order.pk, "kind": "receipt"},
        )
    return receipt


def receipt_ensure(*, order_id: int, now: dt.datetime | None = None) -> Receipt:
    """The receipt of a paid (or refunded) order, issuing it now for an order paid before receipts existed.

    Raises ReceiptUnavailable for an order that was never paid (no receipt can exist).
    """
    existing = Receipt.objects.filter(order_id=order_id).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("customer").get(pk=order_id)
        if order.status not in (Order.Status.PAID, Order.Status.REFUNDED) or order.paid_at is None:
            raise ReceiptUnavailable("This order has not been paid: it has no receipt.")
        return receipt_issue(order=order, now=now)


def _refunded_lines(refund: Refund, lines_before: dict[int, int]) -> list[dict]:
    """The refund's units per line with their share of the money (the refund service's per-unit formula)."""
    from .refunds import _line_amount  # the one formula for a unit's share of a line (refunds module docstring)

    out = []
    taken = {int(k): int(v) for k, v in (refund.lines or {}).items()}
    for line in OrderLine.objects.filter(pk__in=taken).order_by("pk"):
        units = taken[line.pk]
        out.append(
            {
                "id": line.pk,
                "title": line.title,
                "quantity": units,
                "unit_price_minor": line.unit_price_minor,
                "amount_minor": _line_amount(line, units, lines_before.get(line.pk, 0)),
            }
        )
    return out


def credit_note_issue(
    *, refund: Refund, order: Order, lines_before: dict[int, int], now: dt.datetime | None = None
) -> CreditNote:
    """Issue the credit note of a refund that just succeeded (order row locked, in the caller's transaction).

    `lines_before` maps line id → units refunded before this refund (for each line's share of
    the money). Lines list the refunded units; money not tied to units (shipping, a goodwill
    amount, rounding) is the `other_minor` row, so lines + other = the refund's amount.
    Idempotent per refund. The order's receipt is issued first if it has none (an order paid
    before receipts existed). Queues the "credit_note" e-mail (key `order-email:credit-note:<id>`).
    """
    now = now or timezone.now()
    existing = CreditNote.objects.filter(refund_id=refund.pk).first()
    if existing is not None:
        return existing
    receipt = receipt_issue(order=order, now=now)
    lines = _refunded_lines(refund, lines_before)
    snapshot = {
        "shop": {"name": settings.SHOP_NAME, "address": list(settings.SHOP_ADDRESS), "tax_id": settings.SHOP_TAX_ID},
        "order_number": order.number,
        "receipt_number": receipt.number,
        "receipt_issued_at": receipt.issued_at.isoformat(),
        "buyer_email": order.customer.email,
        "buyer_name": order.customer.name,
        "currency": refund.currency,
        "lines": lines,
        "other_minor": refund.amount_minor - sum(line["amount_minor"] for line in lines),
        "amount_minor": refund.amount_minor,
        "reason": refund.get_reason_display(),
        "payment_method": payment_method_label(order),
        "timezone": settings.SHOP_TIMEZONE,
    }
    note = CreditNote.objects.create(
        number=document_number(series=CREDIT_NOTE_SERIES, now=now),
        refund=refund,
        order=order,
        receipt=receipt,
        issued_at=now,
        currency=refund.currency,
        amount_minor=refund.amount_minor,
        snapshot=snapshot,
    )
    outbox_enqueue(
        kind="order_email",
        key=f"order-email:credit-note:{note.pk}",
        payload={"order_id": order.pk, "kind": "credit_note", "credit_note_id": note.pk},
    )
    return note
