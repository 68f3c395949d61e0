"""The order's refund page: per-line quantities (no line ids), an amount in major units, "refund the rest";
receipts and credit notes from the admin, with their declared permission."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from commerce.models import CreditNote, Drop, Order, Refund
from commerce.services.orders import order_mark_paid, order_place
from commerce.services.refunds import order_line_fulfil
from tests.factories import make_drop, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def order():
    drop = make_drop(quantity=10, per_customer_limit=5, price_minor=1000)
    placed = order_place(drop_id=drop.pk, email="buyer@example.com", quantity=3)
    order_mark_paid(order_id=placed.pk)
    return Order.objects.get(pk=placed.pk)


def refund_page(order):
    return reverse("admin:commerce_order_refund", args=[order.pk])


def post_refund(client, order, capture, **data):
    data.setdefault("reason", "requested_by_customer")
    with capture(execute=True):
        return client.post(refund_page(order), data)


def available(order) -> int:
    return Drop.objects.get(pk=order.lines.get().drop_id).available


def test_the_page_shows_each_line_with_a_quantity_box_and_no_line_ids(admin_client, order):
    html = admin_client.get(refund_page(order)).content.decode()
    line = order.lines.get()
    assert line.title in html and 'name="qty_1"' in html and 'max="3"' in html
    assert "line id" not in html.lower() and f'value="{line.pk}"' not in html
    assert "Refund the rest ($30.00" in html
    # the order page links to it, and the old add-refund URL leads there too
    change = admin_client.get(reverse("admin:commerce_order_change", args=[order.pk])).content.decode()
    assert refund_page(order) in change
    assert admin_client.get(reverse("admin:commerce_refund_add") + f"?order={order.pk}")["Location"] == refund_page(
        order
    )


@pytest.mark.parametrize("second", ["rest", "full_action"])
@pytest.mark.parametrize("first", ["units", "amount"])
def test_a_partial_refund_then_the_rest(admin_client, order, django_capture_on_commit_callbacks, first, second):
    # given a partial refund: one unit, or a goodwill 5.00
    partial = {"qty_1": "1"} if first == "units" else {"amount": "5.00"}
    response = post_refund(admin_client, order, django_capture_on_commit_callbacks, _refund_selected="1", **partial)
    assert response.status_code == 302, response.content.decode()[:2000]
    order.refresh_from_db()
    assert order.refunded_minor == (1000 if first == "units" else 500)
    # when staff refund the rest (the button, or the "Refund in full" action)
    if second == "rest":
        response = post_refund(admin_client, order, django_capture_on_commit_callbacks, _refund_rest="1")
        assert response.status_code == 302
    else:
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(
                reverse("admin:commerce_order_changelist"), {"action": "refund_full", "_selected_action": [order.pk]}
            )
    # then the order is refunded in full, every unit is back on sale, and each refund has its credit note
    order.refresh_from_db()
    assert (order.status, order.refunded_minor) == (Order.Status.REFUNDED, 3000)
    assert order.lines.get().refunded_quantity == 3
    assert available(order) == 10
    assert sorted(Refund.objects.filter(order=order).values_list("amount_minor", flat=True)) == sorted(
        [1000, 2000] if first == "units" else [500, 2500]
    )
    assert CreditNote.objects.filter(order=order).count() == 2
    # and nothing is left to refund: the page says so and offers no form
    html = admin_client.get(refund_page(order)).content.decode()
    assert "Nothing can be refunded" in html and "_refund_rest" not in html


def test_quantities_are_capped_by_what_is_left_and_pending(admin_client, order, django_capture_on_commit_callbacks):
    order_line_fulfil(line_id=order.lines.get().pk, quantity=1)  # one unit shipped: it is refunded without restock
    # a pending refund (not yet submitted) of 2 units lowers the maximum to 1
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(
            refund_page(order), {"reason": "requested_by_customer", "qty_1": "2", "_refund_selected": "1"}
        )
    assert Refund.objects.get().status == Refund.Status.PENDING
    html = admin_client.get(refund_page(order)).content.decode()
    assert 'max="1"' in html
    response = admin_client.post(
        refund_page(order), {"reason": "requested_by_customer", "qty_1": "2", "_refund_selected": "1"}
    )
    assert response.status_code == 200 and "less than or equal to 1" in response.content.decode()
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"_refund_selected": "1"}, "Enter a quantity on at least one line"),
        ({"_refund_selected": "1", "qty_1": "1", "amount": "2.00"}, "units or an amount, not both"),
        ({"_refund_selected": "1", "amount": "2.005"}, "more than 2 decimals"),
        ({"_refund_selected": "1", "amount": "abc"}, "is not a number"),
        ({"_refund_selected": "1", "amount": "1e1"}, "is not a number"),
        ({"_refund_selected": "1", "amount": "NaN"}, "is not a number"),
        ({"_refund_selected": "1", "amount": "31.00"}, "Refund must be between"),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(admin_client, order, data, message):
    response = admin_client.post(refund_page(order), {"reason": "requested_by_customer", **data})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Refund.objects.exists()


def test_staff_without_the_refund_permission_get_403(client, order):
    client.force_login(make_staff("viewer", perms=("commerce.view_order",)))
    assert client.get(refund_page(order)).status_code == 403
    assert client.post(refund_page(order), {"_refund_rest": "1", "reason": "other"}).status_code == 403
    assert not Refund.objects.exists()


def test_receipts_and_credit_notes_download_from_the_admin(client, order, django_capture_on_commit_callbacks):
    support = make_staff("support", role="support")
    client.force_login(support)
    post_refund(client, order, django_capture_on_commit_callbacks, _refund_selected="1", qty_1="1")
    note = CreditNote.objects.get()
    change = client.get(reverse("admin:commerce_order_change", args=[order.pk])).content.decode()
    receipt_url = reverse("admin:commerce_order_receipt", args=[order.pk])
    note_url = reverse("admin:commerce_order_credit_note", args=[order.pk, note.pk])
    assert receipt_url in change and note_url in change and order.receipt.number in change
    response = client.get(receipt_url)
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    assert client.get(note_url)["Content-Disposition"] == f'attachment; filename="credit-note-{note.number}.pdf"'
    # the action: one order → its PDF; two → a ZIP of both
    other = order_place(drop_id=order.lines.get().drop_id, email="second@example.com", quantity=1)
    order_mark_paid(order_id=other.pk)
    one = client.post(
        reverse("admin:commerce_order_changelist"), {"action": "download_receipts", "_selected_action": [order.pk]}
    )
    assert one["Content-Type"] == "application/pdf"
    both = client.post(
        reverse("admin:commerce_order_changelist"),
        {"action": "download_receipts", "_selected_action": [order.pk, other.pk]},
    )
    names = zipfile.ZipFile(io.BytesIO(both.content)).namelist()
    assert sorted(names) == sorted(f"receipt-{o.receipt.number}.pdf" for o in (order, Order.objects.get(pk=other.pk)))
    # a credit note is only reachable through its own order
    assert client.get(reverse("admin:commerce_order_credit_note", args=[other.pk, note.pk])).status_code == 404
    # without the permission: 403
    client.force_login(make_staff("viewer", perms=("commerce.view_order",)))
    assert client.get(receipt_url).status_code == 403


def test_too_large_a_refund_names_the_amounts_in_money_not_minor_units(admin_client, order):
    from django.utils.html import escape

    from commerce.money import format_money

    response = admin_client.post(
        refund_page(order), {"reason": "requested_by_customer", "_refund_selected": "1", "amount": "31.00"}
    )
    html = response.content.decode()
    assert escape(f"and {format_money(3000, order.currency)}") in html
    assert "minor units" not in html
    assert not Refund.objects.exists()
