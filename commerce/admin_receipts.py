"""Back office for receipts, credit notes and refunds per line (docs/receipts.md, docs/refunds.md).

`OrderDocumentsMixin` gives the order admin three pages and an action, each with its declared
permission (commerce.staff_access):
- `<order>/refund/` — refund per line with quantities, a goodwill amount in major units, or
  "Refund the rest" (refund_order + add_refund);
- `<order>/receipt.pdf` and `<order>/credit-notes/<id>.pdf` — the documents (download_receipt);
- the "Download receipts (PDF)" action — one PDF, or a ZIP for several orders (download_receipt).
Receipts and credit notes have read-only lists of their own. Views parse and call one service.
"""

from __future__ import annotations

import io
import zipfile

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .exceptions import CommerceError
from .models import CreditNote, Order, Receipt, Refund
from .money import MoneyError, format_money, to_major, to_minor
from .receipt_pdf import credit_note_pdf, receipt_filename, receipt_pdf
from .selectors_receipts import credit_note_for_order, order_documents
from .services import refunds
from .services.receipts import ReceiptUnavailable, receipt_ensure
from .staff_access import perm_check, staff_permission_required
from .views_receipts import pdf_response

REFUND_PERMS = ("commerce.refund_order", "commerce.add_refund")
DOCUMENT_PERM = "commerce.download_receipt"


refundable_lines = refunds.order_refundable_lines  # the refund service's rule, shown per line
refundable_amount = refunds.order_refundable_amount


class OrderRefundForm(forms.Form):
    """One "refund qty" box per line (max = units left), or an amount in major units, and a reason.

    The boxes are named by the line's position on the order (`qty_1`, `qty_2`, …), never by its id.
    """

    amount = forms.CharField(
        required=False,
        label="Or an amount",
        help_text="A goodwill refund in the order's currency (e.g. 5.00), without units: no stock returns.",
    )
    reason = forms.ChoiceField(choices=Refund.Reason.choices, initial=Refund.Reason.REQUESTED)

    def __init__(self, *args, order: Order, rows: list[dict], **kwargs):
        super().__init__(*args, **kwargs)
        self.order, self.rows = order, rows
        for i, row in enumerate(rows, start=1):
            self.fields[f"qty_{i}"] = forms.IntegerField(
                required=False,
                min_value=0,
                max_value=row["left"],
                initial=0,
                label=row["line"].title,
                disabled=row["left"] == 0,
                widget=forms.NumberInput(attrs={"min": 0, "max": row["left"], "class": "vIntegerField"}),
            )
            row["field"] = f"qty_{i}"

    def bound_rows(self) -> list[dict]:
        return [{**row, "bound": self[row["field"]]} for row in self.rows]

    def clean_amount(self):
        text = (self.cleaned_data.get("amount") or "").strip()
        if not text:
            return None
        try:
            amount = to_minor(text, self.order.currency)
        except MoneyError as exc:
            raise forms.ValidationError(f"{exc}.") from exc
        if amount < 1:
            raise forms.ValidationError("Give an amount above zero.")
        return amount

    def refund_request(self, *, rest: bool) -> dict:
        """The refund_create arguments: {} for the rest, {"lines": {line id: units}} or {"amount_minor": n}."""
        if rest:
            return {}
        lines = {
            row["line"].pk: self.cleaned_data[row["field"]] for row in self.rows if self.cleaned_data.get(row["field"])
        }
        amount = self.cleaned_data.get("amount")
        if lines and amount:
            raise forms.ValidationError("Refund units or an amount, not both.")
        if lines:
            return {"lines": lines}
        if amount:
            return {"amount_minor": amount}
        raise forms.ValidationError('Enter a quantity on at least one line, an amount, or use "Refund the rest".')


class OrderDocumentsMixin:
    """Mixed into the order admin: refund per line, receipt and credit-note downloads, documents panel."""

    has_download_receipt_permission = perm_check(DOCUMENT_PERM)

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        return [
            path(
                "<id:object_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name=f"{name}_refund",
            ),
            path(
                "<id:object_id>/receipt.pdf",
                self.admin_site.admin_view(self.receipt_view),
                name=f"{name}_receipt",
            ),
            path(
                "<id:object_id>/credit-notes/<id:credit_note_id>.pdf",
                self.admin_site.admin_view(self.credit_note_view),
                name=f"{name}_credit_note",
            ),
            *super().get_urls(),
        ]

    @staff_permission_required(*REFUND_PERMS)
    def refund_view(self, request, object_id: int):
        """Refund units per line, an amount, or the rest; then back to the order page."""
        order = get_object_or_404(Order.objects.select_related("customer"), pk=object_id)
        change_url = reverse("admin:commerce_order_change", args=[order.pk])
        rows = refundable_lines(order)
        form = OrderRefundForm(request.POST or None, order=order, rows=rows)
        if request.method == "POST" and form.is_valid():
            try:
                request_args = form.refund_request(rest="_refund_rest" in request.POST)
                refund = refunds.refund_create(
                    order_id=order.pk, reason=form.cleaned_data["reason"], actor=request.user, **request_args
                )
            except forms.ValidationError as exc:
                form.add_error(None, exc)
            except CommerceError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_change(
                    request, order, f"Refund {refund.pk} queued: {format_money(refund.amount_minor, refund.currency)}."
                )
                self.message_user(
                    request,
                    f"Refund of {format_money(refund.amount_minor, refund.currency)} queued for {order.number}; "
                    "its credit note is e-mailed to the buyer once the payment provider confirms it.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url)
        remaining = refundable_amount(order)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund order {order.number}",
            "opts": self.model._meta,
            "order": order,
            "form": form,
            "rows": form.bound_rows(),
            "remaining": format_money(remaining, order.currency),
            "remaining_major": to_major(remaining, order.currency),
            "refundable": order.status in (Order.Status.PAID, Order.Status.REFUNDED) and remaining > 0,
            "change_url": change_url,
            "refunds": order.refunds.order_by("created_at"),
        }
        return TemplateResponse(request, "admin/commerce/order/refund.html", context)

    @staff_permission_required(DOCUMENT_PERM)
    def receipt_view(self, request, object_id: int):
        """The order's receipt PDF (issued now for an order paid before receipts existed); 404 if never paid."""
        order = get_object_or_404(Order, pk=object_id)
        try:
            receipt = receipt_ensure(order_id=order.pk)
        except ReceiptUnavailable as exc:
            raise Http404(exc.message) from exc
        return pdf_response(receipt_pdf(receipt), receipt.number)

    @staff_permission_required(DOCUMENT_PERM)
    def credit_note_view(self, request, object_id: int, credit_note_id: int):
        """One credit note of the order, as PDF."""
        note = credit_note_for_order(order_id=object_id, credit_note_id=credit_note_id)
        return pdf_response(credit_note_pdf(note), note.number)

    @admin.action(description="Download receipts (PDF; several orders: a ZIP)", permissions=["download_receipt"])
    def download_receipts(self, request, queryset):
        found, skipped = [], []
        for order in queryset.order_by("pk"):
            try:
                found.append(receipt_ensure(order_id=order.pk))
            except ReceiptUnavailable:
                skipped.append(order.number)
        if skipped:
            self.message_user(request, f"Not paid, no receipt: {', '.join(skipped)}.", messages.WARNING)
        if not found:
            return None
        if len(found) == 1:
            return pdf_response(receipt_pdf(found[0]), found[0].number)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for receipt in found:
                archive.writestr(receipt_filename(receipt.number), receipt_pdf(receipt))
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="receipts.zip"'
        return response

    @admin.display(description="Receipt, credit notes and refunds")
    def documents(self, obj):
        if not obj or not obj.pk:
            return "—"
        docs = order_documents(order=obj)
        parts = []
        if docs["receipt"]:
            url = reverse("admin:commerce_order_receipt", args=[obj.pk])
            parts.append(format_html('<a href="{}">Receipt {} (PDF)</a>', url, docs["receipt"].number))
        parts.extend(
            format_html(
                '<a href="{}">Credit note {} (PDF, {})</a>',
                reverse("admin:commerce_order_credit_note", args=[obj.pk, note.pk]),
                note.number,
                format_money(note.amount_minor, note.currency),
            )
            for note in docs["credit_notes"]
        )
        if not parts:
            return "No receipt yet: one is issued when the order is paid."
        return format_html_join(" · ", "{}", ((p,) for p in parts))


class _ReadOnlyDocumentAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # numbered documents are never deleted: a refund gets a credit note instead


@admin.register(Receipt)
class ReceiptAdmin(_ReadOnlyDocumentAdmin):
    list_display = ["number", "order", "amount", "issued_at", "pdf"]
    search_fields = ["number", "order__number", "order__customer__email"]
    list_select_related = ["order"]
    date_hierarchy = "issued_at"

    @admin.display(description="Total", ordering="total_minor")
    def amount(self, obj):
        return format_money(obj.total_minor, obj.currency)

    @admin.display(description="PDF")
    def pdf(self, obj):
        return format_html('<a href="{}">download</a>', reverse("admin:commerce_order_receipt", args=[obj.order_id]))


@admin.register(CreditNote)
class CreditNoteAdmin(_ReadOnlyDocumentAdmin):
    list_display = ["number", "order", "receipt", "amount", "issued_at", "pdf"]
    search_fields = ["number", "order__number", "receipt__number", "order__customer__email"]
    list_select_related = ["order", "receipt"]
    date_hierarchy = "issued_at"

    @admin.display(description="Amount", ordering="amount_minor")
    def amount(self, obj):
        return format_money(obj.amount_minor, obj.currency)

    @admin.display(description="PDF")
    def pdf(self, obj):
        url = reverse("admin:commerce_order_credit_note", args=[obj.order_id, obj.pk])
        return format_html('<a href="{}">download</a>', url)
