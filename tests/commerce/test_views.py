"""The buy flow through the storefront pages (Django test client)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from commerce.models import Drop, Hold, Order
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def test_buy_from_the_live_session_page(client):
    # given a live session with a drop of 3 units
    drop = make_drop(quantity=3, per_customer_limit=2)
    page = client.get(drop.session.get_absolute_url())
    html = page.content.decode()
    # then the session page shows the drop, its price, its stock and a buy link
    assert drop.display_title in html
    assert "$42.99" in html
    assert "data-available>3</span> of 3 left" in html
    checkout_url = reverse("commerce:checkout", args=[drop.pk])
    buy_url = reverse("analytics:click", args=[drop.pk])  # records the click, then goes to checkout
    assert buy_url in html
    assert client.get(buy_url)["Location"] == checkout_url
    # when the viewer reserves 2 units
    response = client.post(checkout_url, {"email": "viewer@example.com", "quantity": 2})
    hold = Hold.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("commerce:hold", args=[hold.token])
    # then the units are held at the shown price and the cart counts down the reservation
    assert Drop.objects.get(pk=drop.pk).available == 1
    cart_response = client.get(response["Location"])
    cart = cart_response.content.decode()
    # the cart and the confirmation are one buyer's (name, address): no cache may keep them
    assert {"private", "no-store"} <= {d.strip() for d in cart_response["Cache-Control"].split(",")}
    assert "data-hold-expires" in cart
    assert "$85.98" in cart
    # when they place the order
    response = client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": "", "pay": "1"})
    # then they land on the confirmation with the right total and the stock stays taken
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == order.get_absolute_url()
    confirmation_response = client.get(order.get_absolute_url())
    assert {"private", "no-store"} <= {d.strip() for d in confirmation_response["Cache-Control"].split(",")}
    confirmation = confirmation_response.content.decode()
    assert order.number in confirmation
    assert "$85.98" in confirmation
    # a shipped drop: no "pay at pickup" (there is no pickup); without SHOP_BANK_DETAILS the shop sends them
    assert "Pay at pickup" not in confirmation and "the shop e-mails you payment details" in confirmation
    assert Drop.objects.get(pk=drop.pk).available == 1
    status = client.get(reverse("sessions_app:session_status", args=[drop.session.public_id])).json()
    assert status["drops"][0]["available"] == 1
    assert status["drops"][0]["state"] == "live"


def test_sold_out_drop_is_shown_plainly_and_refused(client):
    drop = make_drop(quantity=1, per_customer_limit=1)
    client.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "a@example.com", "quantity": 1})
    assert Hold.objects.count() == 1
    page = client.get(reverse("commerce:checkout", args=[drop.pk])).content.decode()
    assert "Sold out." in page
    assert "<form" not in page
    response = client.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "b@example.com", "quantity": 1})
    assert response.status_code == 409
    assert "Sold out." in response.content.decode()
    assert Hold.objects.count() == 1


@pytest.mark.parametrize(
    ("opens_in", "closes_in", "text"), [(-3600, -60, "This drop has closed."), (600, 3600, "Not open yet.")]
)
def test_closed_and_not_yet_open_states(client, opens_in, closes_in, text):
    drop = make_drop(quantity=5, opens_in=opens_in, closes_in=closes_in)
    url = reverse("commerce:checkout", args=[drop.pk])
    assert text in client.get(url).content.decode()
    response = client.post(url, {"email": "a@example.com", "quantity": 1})
    assert response.status_code == 409
    assert Hold.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"email": "nope", "quantity": 1}, "Enter a valid email address."),
        ({"email": "a@example.com", "quantity": 9}, "less than or equal to 2"),
    ],
)
def test_bad_form_input_is_a_form_error(client, data, field_error):
    drop = make_drop(quantity=5, per_customer_limit=2)
    response = client.post(reverse("commerce:checkout", args=[drop.pk]), data)
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert Drop.objects.get(pk=drop.pk).available == 5


def test_home_lists_live_and_upcoming(client):
    drop = make_drop()
    html = client.get("/").content.decode()
    assert drop.session.title in html
    assert "Live now" in html


def test_unknown_pages_are_404(client):
    assert client.get("/orders/nope/").status_code == 404
    assert client.get("/drops/999/checkout/").status_code == 404
