"""Receipts and credit notes: numbered once when earned, PDFs with the right rows, e-mailed once, buyer downloads."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from pypdf import PdfReader

from commerce.models import CreditNote, DocumentSequence, Order, Receipt
from commerce.receipt_pdf import credit_note_pdf, receipt_pdf
from commerce.services.orders import order_mark_paid, order_place
from commerce.services.outbox import outbox_drain
from commerce.services.payments import payment_confirm
from commerce.services.receipts import document_number, receipt_ensure
from commerce.services.refunds import refund_create, refund_submit
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def this_year() -> int:
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.utils import timezone

    return timezone.localtime(timezone.now(), ZoneInfo(settings.SHOP_TIMEZONE)).year


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def paid_order(*, quantity=3, price_minor=1000, email="buyer@example.com", now=None) -> Order:
    drop = make_drop(quantity=10, per_customer_limit=5, price_minor=price_minor)
    order = order_place(drop_id=drop.pk, email=email, quantity=quantity)
    order_mark_paid(order_id=order.pk, now=now)
    return Order.objects.get(pk=order.pk)


def sent(kind_subject: str) -> list:
    return [m for m in mail.outbox if kind_subject in m.subject]


def test_marking_an_order_paid_issues_one_numbered_receipt_and_mails_it_once(settings):
    settings.SHOP_NAME = "Lumen Jewellery"
    settings.SHOP_ADDRESS = ["Lumen GmbH", "Torstraße 1", "10119 Berlin"]
    settings.SHOP_COUNTRY = "US"  # no rate in the tax table: the order has no tax row to print
    # given two orders paid one after the other
    first = paid_order(now=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))
    second = paid_order(email="other@example.com", now=dt.datetime(2026, 12, 1, 9, 5, tzinfo=dt.UTC))
    # then each has its receipt, numbered in sequence for the year
    assert (first.receipt.number, second.receipt.number) == ("R-2026-000001", "R-2026-000002")
    # marking paid again issues nothing new
    order_mark_paid(order_id=first.pk)
    assert receipt_ensure(order_id=first.pk).number == "R-2026-000001"
    assert Receipt.objects.count() == 2
    # and the buyer gets one receipt e-mail with the PDF, however often the outbox drains
    outbox_drain()
    outbox_drain()
    receipts = [m for m in sent("Your receipt") if m.to == ["buyer@example.com"]]
    assert len(receipts) == 1
    (name, data, mimetype) = receipts[0].attachments[0]
    assert (name, mimetype) == ("receipt-R-2026-000001.pdf", "application/pdf")
    text = pdf_text(data)
    for expected in (
        "Lumen Jewellery",
        "Torstraße 1",
        "Receipt R-2026-000001",
        "01 Dec 2026 10:00 CET",
        "buyer@example.com",
        "$10.00",
        "$30.00",
        "Payment: Bank transfer (invoice)",  # a shipped order of the manual provider is not paid at a counter
    ):
        assert expected in text, expected
    # rows that are zero are not printed
    for absent in ("Discount", "Shipping", "Tax", "Ship to", "Paid in person"):
        assert absent not in text


def test_the_receipt_shows_discount_shipping_tax_and_address_only_when_present(settings):
    order = paid_order()
    receipt = order.receipt
    # given an order with a discount, shipping and tax added on top (snapshot as another engineer's checkout stores it)
    snap = dict(receipt.snapshot)
    snap["lines"] = [dict(snap["lines"][0], discount_minor=300, total_minor=2700)]
    snap.update(
        discount_minor=300,
        shipping_minor=495,
        shipping_rate_name="DHL Paket",
        tax_minor=608,
        tax_included=False,
        total_minor=3000 - 300 + 495 + 608,
        shipping_address={
            "name": "Ada Lovelace",
            "street_address": "Torstraße 1",
            "postal_code": "10119",
            "city": "BERLIN",
            "country_code": "DE",
        },
    )
    receipt.snapshot = snap
    text = pdf_text(receipt_pdf(receipt))
    assert "Discount -$3.00" in text.replace("\n", " ") or "-$3.00" in text
    assert "Shipping (DHL Paket)" in text and "$4.95" in text
    assert "Tax" in text and "Tax (incl.)" not in text and "$6.08" in text
    assert "$38.03" in text
    assert "Ship to:" in text and "Ada Lovelace" in text and "10119" in text
    # prices that include tax say so
    snap.update(tax_included=True, total_minor=3000 - 300 + 495)
    assert "Tax (incl.)" in pdf_text(receipt_pdf(receipt))


def test_zero_decimal_currency_and_unicode_names_print():
    drop = make_drop(quantity=5, per_customer_limit=5, price_minor=1500, currency="JPY")
    order = order_place(drop_id=drop.pk, email="yamada@example.jp", quantity=2, name="山田 太郎")
    order_mark_paid(order_id=order.pk)
    text = pdf_text(receipt_pdf(Receipt.objects.get(order=order)))
    assert "¥3,000" in text and "¥1,500" in text


def test_the_year_is_the_shop_zones_and_starts_a_new_series(settings):
    settings.SHOP_TIMEZONE = "Europe/Berlin"
    # 31 Dec 23:30 UTC is already 1 Jan in Berlin
    late = paid_order(now=dt.datetime(2026, 12, 31, 22, 30, tzinfo=dt.UTC))
    new_year = paid_order(email="b@example.com", now=dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC))
    assert (late.receipt.number, new_year.receipt.number) == ("R-2026-000001", "R-2027-000001")


def test_a_rolled_back_issue_leaves_no_gap():
    with transaction.atomic():
        assert document_number(series="R", now=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)) == "R-2026-000001"
        transaction.set_rollback(True)
    with transaction.atomic():
        assert document_number(series="R", now=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)) == "R-2026-000001"
    assert DocumentSequence.objects.get(series="R", year=2026).last_number == 1


def test_a_stripe_payment_delivered_twice_gives_one_receipt_on_the_one_confirmation():
    drop = make_drop(quantity=5, per_customer_limit=3, price_minor=1000)
    order = order_place(drop_id=drop.pk, email="card@example.com", quantity=1)
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PENDING, payment_provider="stripe", payment_reference="cs_1"
    )
    mail.outbox.clear()
    for _ in range(2):
        payment_confirm(provider="stripe", reference="cs_1", amount_minor=1000, currency="USD", payment_id="pi_1")
    outbox_drain()
    confirmations = sent("is confirmed")
    assert Receipt.objects.filter(order=order).count() == 1
    assert len(confirmations) == 1 and not sent("Your receipt")
    assert confirmations[0].attachments[0][0] == f"receipt-{order.receipt.number}.pdf"
    assert "Card or wallet (Stripe)" in pdf_text(confirmations[0].attachments[0][1])


def test_each_succeeded_refund_gets_a_credit_note_referencing_the_receipt(django_capture_on_commit_callbacks):
    order = paid_order(quantity=3)
    line = order.lines.get()
    # partial: one unit, then the rest
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=order.pk, lines={line.pk: 1})
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=order.pk)
    outbox_drain()
    notes = list(CreditNote.objects.filter(order=order).order_by("pk"))
    assert [n.number for n in notes] == [f"C-{this_year()}-000001", f"C-{this_year()}-000002"]
    assert [n.amount_minor for n in notes] == [1000, 2000]
    assert [[(x["quantity"], x["amount_minor"]) for x in n.snapshot["lines"]] for n in notes] == [
        [(1, 1000)],
        [(2, 2000)],
    ]
    assert {n.receipt_id for n in notes} == {order.receipt.pk}
    text = pdf_text(credit_note_pdf(notes[1]))
    assert notes[1].number in text and f"Refers to receipt {order.receipt.number}" in text
    assert "-$20.00" in text and line.title[:20] in text
    mails = sent("credit note")
    assert sorted(m.attachments[0][0] for m in mails) == sorted(f"credit-note-{n.number}.pdf" for n in notes)


def test_a_goodwill_amount_is_listed_as_an_amount_without_lines(django_capture_on_commit_callbacks):
    order = paid_order(quantity=2)
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=order.pk, amount_minor=250)
    note = CreditNote.objects.get(order=order)
    assert (note.snapshot["lines"], note.snapshot["other_minor"]) == ([], 250)
    assert "Amount refunded" in pdf_text(credit_note_pdf(note))


def test_a_pending_or_failed_refund_has_no_credit_note():
    order = paid_order(quantity=2)
    refund = refund_create(order_id=order.pk, amount_minor=100)  # not submitted yet: pending
    assert not CreditNote.objects.exists()
    refund_submit(refund_id=refund.pk)
    assert CreditNote.objects.filter(refund=refund).count() == 1
    refund_submit(refund_id=refund.pk)  # again: nothing new
    assert CreditNote.objects.count() == 1


def test_the_buyer_downloads_receipt_and_credit_notes_by_the_private_link(client, django_capture_on_commit_callbacks):
    order = paid_order(quantity=2)
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=order.pk, amount_minor=300)
    note = CreditNote.objects.get()
    page = client.get(reverse("commerce:order", kwargs={"token": order.token})).content.decode()
    assert order.receipt.number in page and note.number in page
    response = client.get(reverse("commerce:order_receipt", kwargs={"token": order.token}))
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert "private" in response["Cache-Control"]
    assert order.receipt.number in pdf_text(response.content)
    response = client.get(
        reverse("commerce:order_credit_note", kwargs={"token": order.token, "credit_note_id": note.pk})
    )
    assert note.number in pdf_text(response.content)
    # another order's link does not open this order's credit note; unknown tokens and unpaid orders are 404
    other = paid_order(email="someone@example.com")
    assert (
        client.get(
            reverse("commerce:order_credit_note", kwargs={"token": other.token, "credit_note_id": note.pk})
        ).status_code
        == 404
    )
    assert client.get(reverse("commerce:order_receipt", kwargs={"token": "nope"})).status_code == 404
    drop = make_drop(quantity=2)
    unpaid = order_place(drop_id=drop.pk, email="later@example.com", quantity=1)
    assert client.get(reverse("commerce:order_receipt", kwargs={"token": unpaid.token})).status_code == 404
    assert not Receipt.objects.filter(order=unpaid).exists()


def test_an_order_paid_before_receipts_existed_gets_one_on_first_download(client):
    order = paid_order()
    Receipt.objects.filter(order=order).delete()
    response = client.get(reverse("commerce:order_receipt", kwargs={"token": order.token}))
    assert response.status_code == 200
    assert Receipt.objects.get(order=order).number == f"R-{this_year()}-000002"


def test_the_payment_method_follows_the_orders_fulfilment(django_capture_on_commit_callbacks):
    """Manual provider: shipped → bank transfer, pickup → paid in person; on the receipt and the credit note."""
    from commerce.services.holds import hold_place
    from commerce.services.orders import checkout_start
    from tests.factories import make_pickup_drop, make_slot

    shipped = paid_order(quantity=1)
    drop = make_pickup_drop(quantity=5, per_customer_limit=5)
    hold = hold_place(drop_id=drop.pk, email="pickup@example.com", quantity=1, pickup_slot_id=make_slot(drop.popup).pk)
    picked = checkout_start(hold_token=hold.token)
    order_mark_paid(order_id=picked.pk)
    picked = Order.objects.get(pk=picked.pk)
    for order in (shipped, picked):
        with django_capture_on_commit_callbacks(execute=True):
            refund_create(order_id=order.pk)
    expected = {shipped.pk: "Bank transfer (invoice)", picked.pk: "Paid in person (cash or card at the counter)"}
    for order in (shipped, picked):
        receipt_text = pdf_text(receipt_pdf(Receipt.objects.get(order=order))).replace("\n", " ")
        note_text = pdf_text(credit_note_pdf(CreditNote.objects.get(order=order))).replace("\n", " ")
        assert f"Payment: {expected[order.pk]}" in receipt_text
        assert f"Refunded to: {expected[order.pk]}" in note_text
