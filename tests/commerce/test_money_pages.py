"""Pages read right: each amount row adds up on the cart, the confirmation and the e-mail; an invalid coupon
leaves the field empty; "not you?" starts a new visitor on a shared browser."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from analytics.middleware import COOKIE, REMEMBERED_EMAIL_COOKIE
from analytics.models import Event
from analytics.services import events_flush_all
from commerce.forms import CheckoutForm
from commerce.models import Hold, Order
from commerce.money import format_money
from commerce.services.coupons import coupon_create
from commerce.services.outbox import outbox_drain
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def window():
    now = timezone.now()
    return {"valid_from": now - dt.timedelta(minutes=1), "valid_until": now + dt.timedelta(hours=1)}


class _AmountCells(HTMLParser):
    """Collects (row attributes, cell attributes, cell text) for every cell carrying data-minor."""

    def __init__(self):
        super().__init__()
        self.row: dict = {}
        self.cell: dict | None = None
        self.text: list[str] = []
        self.cells: list[tuple[dict, dict, str]] = []
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.row = attrs
        elif tag in ("td", "th") and "data-minor" in attrs:
            self.cell, self.text = attrs, []
        elif tag == "input" and attrs.get("name"):
            self.inputs[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.cells.append((self.row, self.cell, "".join(self.text).strip()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.text.append(data)


def amounts(html: str) -> dict:
    """Every amount row of a page's lines table: {"lines": [...], "discount", "shipping", "tax", "total"}.

    Also checks that the text shown in each cell is the formatted amount it carries.
    """
    parser = _AmountCells()
    parser.feed(html)
    found: dict = {"lines": [], "discount": 0, "shipping": 0, "tax": 0, "tax_included": False, "total": None}
    found.update(refunded=0, balance=None)
    for row, cell, text in parser.cells:
        value = int(cell["data-minor"])
        if "data-line" in row:
            found["lines"].append(value)
        elif "data-discount" in row or "data-discount" in cell:
            found["discount"] = value
        elif "data-shipping" in row or "data-shipping" in cell:
            found["shipping"] = value
        elif "data-tax" in row or "data-tax" in cell:
            found["tax"], found["tax_included"] = value, "data-included" in row or "data-included" in cell
        elif "data-refunded" in row:
            found["refunded"] = value
        elif "data-balance" in row:
            found["balance"] = value
        elif "data-order-total" in cell or "data-total" in cell:
            found["total"] = value
        assert text.replace("−", "").replace("incl. ", "") == format_money(value, "USD"), (text, value)
    return found


def adds_up(found: dict) -> bool:
    tax_on_top = 0 if found["tax_included"] else found["tax"]
    total_ok = sum(found["lines"]) - found["discount"] + found["shipping"] + tax_on_top == found["total"]
    # after a refund: the balance paid is the total less what was refunded (no balance row without a refund)
    balance_ok = (
        (found["balance"] is None) if not found["refunded"] else found["balance"] == found["total"] - found["refunded"]
    )
    return total_ok and balance_ok


@pytest.fixture
def coupon_order(client):
    drop = make_drop(quantity=5, price_minor=1999, per_customer_limit=3)
    coupon_create(code="LIVE15", kind="percent", percent_off=Decimal("15"), **window())
    client.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "a@example.com", "quantity": 2})
    hold = Hold.objects.get()
    cart = client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": "live15", "apply": "1"})
    response = client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": "live15", "pay": "1"})
    order = Order.objects.get()
    assert response["Location"] == order.get_absolute_url()
    return cart.content.decode(), order


def test_the_confirmation_shows_lines_before_the_discount_and_every_row_adds_up(client, coupon_order):
    cart_html, order = coupon_order
    # 2 × $19.99 = $39.98; 15 % = $5.997 → $6.00 off; total $33.98
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (3998, 600, 3398)
    cart = amounts(cart_html)
    assert cart["lines"] == [3998] and cart["discount"] == 600 and cart["total"] == 3398 and adds_up(cart)
    page = amounts(client.get(order.get_absolute_url()).content.decode())
    # the line is shown at quantity × unit, not already discounted; the discount is taken once
    assert page["lines"] == [3998] and page["discount"] == 600 and page["total"] == 3398
    assert adds_up(page)


def test_shipping_and_tax_rows_add_up_on_the_confirmation(client, coupon_order):
    _, order = coupon_order
    Order.objects.filter(pk=order.pk).update(
        shipping_minor=495, tax_minor=321, tax_included=False, total_minor=3398 + 495 + 321
    )
    page = amounts(client.get(order.get_absolute_url()).content.decode())
    assert (page["shipping"], page["tax"], page["tax_included"], page["total"]) == (495, 321, False, 4214)
    assert adds_up(page)
    Order.objects.filter(pk=order.pk).update(tax_included=True, total_minor=3398 + 495)
    html = client.get(order.get_absolute_url()).content.decode()
    page = amounts(html)
    assert page["tax_included"] and page["total"] == 3893 and adds_up(page)
    assert "incl. $3.21" in html


def test_the_order_page_shows_refunds_and_the_balance_paid(client, coupon_order, django_capture_on_commit_callbacks):
    from commerce.services.orders import order_mark_paid
    from commerce.services.refunds import refund_create

    _, order = coupon_order
    order_mark_paid(order_id=order.pk)
    page = amounts(client.get(order.get_absolute_url()).content.decode())
    assert page["refunded"] == 0 and page["balance"] is None and adds_up(page)
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=order.pk, amount_minor=1000)
    html = client.get(order.get_absolute_url()).content.decode()
    page = amounts(html)
    assert (page["total"], page["refunded"], page["balance"]) == (3398, 1000, 2398) and adds_up(page)
    assert "Balance paid" in html and "Paid · partly refunded" in html
    with django_capture_on_commit_callbacks(execute=True):
        refund_create(order_id=order.pk)  # the rest
    html = client.get(order.get_absolute_url()).content.decode()
    page = amounts(html)
    assert (page["refunded"], page["balance"]) == (3398, 0) and adds_up(page)
    assert "data-order-status>Refunded<" in html


def test_the_confirmation_email_adds_up(client, coupon_order):
    _, order = coupon_order
    mail.outbox.clear()
    outbox_drain()
    body = next(m.body for m in mail.outbox if order.number in m.subject)
    assert "2 × " in body and "at $19.99: $39.98" in body
    assert "Discount: −$6.00" in body
    assert "Total: $33.98" in body


# --- an invalid coupon leaves the field empty --------------------------------------------------------


def test_an_invalid_coupon_is_reported_and_the_field_emptied_so_place_order_works(client):
    drop = make_drop(quantity=5)
    client.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "a@example.com", "quantity": 1})
    hold = Hold.objects.get()
    url = reverse("commerce:hold", args=[hold.token])
    response = client.post(url, {"coupon_code": "NOPE123", "apply": "1"})
    form = response.context["form"]
    assert form.errors["coupon_code"]  # the buyer is told
    assert form["coupon_code"].value() == ""  # and the field comes back empty
    parser = _AmountCells()
    parser.feed(response.content.decode())
    assert parser.inputs.get("coupon_code", "") == ""
    # submitting the form as rendered (empty code) places the order
    response = client.post(url, {"coupon_code": "", "pay": "1"})
    assert response.status_code == 302 and Order.objects.filter(hold=hold).exists()


def test_checkout_form_accepts_the_emptied_field():
    assert CheckoutForm({"coupon_code": ""}).is_valid()


# --- "not you?" ---------------------------------------------------------------------------------------


def test_not_you_starts_a_new_visitor_and_forgets_the_email(client, django_capture_on_commit_callbacks):
    drop = make_drop(quantity=5)
    buy = reverse("commerce:checkout", args=[drop.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.get(buy)
    first_visitor = client.cookies[COOKIE].value
    client.post(buy, {"email": "first@example.com", "quantity": 1})
    # the next visit to a buy form is prefilled for the first buyer, with a way out
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(buy).content.decode()
    assert "Buying as first@example.com" in page and "data-not-you" in page
    # a GET cannot reset (POST with CSRF only)
    reset = reverse("analytics:visitor_reset")
    assert client.get(reset).status_code == 405
    response = client.post(reset, {"next": buy})
    assert response.status_code == 303 and response["Location"] == buy
    second_visitor = client.cookies[COOKIE].value
    assert second_visitor != first_visitor
    assert client.cookies[REMEMBERED_EMAIL_COOKIE].value == ""  # deleted
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(buy).content.decode()
    assert "first@example.com" not in page
    events_flush_all()
    views = Event.objects.filter(name="view", drop_id=drop.pk).values_list("visitor_id", flat=True)
    # (as a count per visitor: events written in one batch carry no order of their own on PostgreSQL)
    assert Counter(views) == {first_visitor: 2, second_visitor: 1}


def test_not_you_needs_csrf_and_never_redirects_off_site(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(reverse("analytics:visitor_reset")).status_code == 403
    response = client.post(reverse("analytics:visitor_reset"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("sessions_app:home")
