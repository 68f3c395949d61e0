"""Shipping and tax through Stripe Checkout (the stand-in records the exact params) and the partner API."""

from __future__ import annotations

import pytest

from commerce.access import Caller
from commerce.models import Order, Partner, PaymentEvent, ShippingRate
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from tests.factories import ADDRESS_DE, make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def eu_rate():
    return ShippingRate.objects.create(name="Standard EU", countries=["DE", "AT"], currency="USD", amount_minor=490)


def _session_form(stripe_api) -> dict:
    return next(form for method, path, form in stripe_api.requests if path == "/v1/checkout/sessions")


def _start(quantity=2, **kwargs):
    hold = hold_place(drop_id=make_drop(quantity=5).pk, email="ann@example.com", quantity=quantity)
    return checkout_start(hold_token=hold.token, shipping_address=ADDRESS_DE, **kwargs)


def test_checkout_sends_the_shipping_option_and_no_address_collection(stripe_api, eu_rate):
    order = _start()
    form = _session_form(stripe_api)
    assert form["line_items[0][price_data][unit_amount]"] == "8598"
    assert form["shipping_options[0][shipping_rate_data][type]"] == "fixed_amount"
    assert form["shipping_options[0][shipping_rate_data][fixed_amount][amount]"] == "490"
    assert form["shipping_options[0][shipping_rate_data][fixed_amount][currency]"] == "usd"
    assert form["shipping_options[0][shipping_rate_data][display_name]"] == "Standard EU"
    assert not any(k.startswith("shipping_address_collection") for k in form)  # we collected it ourselves
    assert not any(k.startswith("automatic_tax") for k in form)
    assert "line_items[1][price_data][unit_amount]" not in form  # tax is inside the prices (inclusive)
    assert form["payment_intent_data[shipping][address][country]"] == "DE"
    assert form["payment_intent_data[shipping][address][postal_code]"] == "10178"
    assert form["payment_intent_data[shipping][name]"] == "Ann Example"
    assert stripe_api.sessions[order.payment_reference]["amount_total"] == order.total_minor == 8598 + 490


def test_tax_exclusive_table_tax_goes_as_its_own_line(stripe_api, settings, eu_rate):
    settings.SHOP_PRICES_INCLUDE_TAX = False
    order = _start()
    form = _session_form(stripe_api)
    assert order.tax_minor == 1634 + 93
    assert form["line_items[1][price_data][unit_amount]"] == str(order.tax_minor)
    assert form["line_items[1][price_data][product_data][name]"] == "Tax"
    assert stripe_api.sessions[order.payment_reference]["amount_total"] == order.total_minor == 8598 + 490 + 1727


def test_pickup_free_orders_send_no_shipping_option(stripe_api):
    hold = hold_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1)  # no rate in USD: not set up
    checkout_start(hold_token=hold.token)
    form = _session_form(stripe_api)
    assert not any(k.startswith("shipping_options") for k in form)
    assert not any(k.startswith("payment_intent_data[shipping]") for k in form)


@pytest.mark.parametrize("included", [False, True])
def test_stripe_tax_computes_and_the_webhook_stores_it(client, stripe_api, webhook, settings, eu_rate, included):
    settings.STRIPE_AUTOMATIC_TAX = True
    settings.SHOP_PRICES_INCLUDE_TAX = included
    stripe_api.automatic_tax_minor = 1700  # what Stripe Tax will compute for the buyer's address
    order = _start()
    assert (order.tax_minor, order.total_minor) == (0, 8598 + 490)  # Stripe computes it at Checkout
    form = _session_form(stripe_api)
    behavior = "inclusive" if included else "exclusive"
    assert form["automatic_tax[enabled]"] == "true"
    assert form["line_items[0][price_data][tax_behavior]"] == behavior
    assert form["shipping_options[0][shipping_rate_data][tax_behavior]"] == behavior
    assert "line_items[1][price_data][unit_amount]" not in form  # no table tax line with Stripe Tax
    paid = stripe_api.complete(order.payment_reference)
    assert paid["total_details"]["amount_tax"] == 1700
    assert webhook(client, paid, "checkout.session.completed") == 200
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tax_minor == 1700
    assert order.total_minor == 8598 + 490 + (0 if included else 1700) == paid["amount_total"]
    assert PaymentEvent.objects.get(order=order).outcome == "paid"
    # a replay changes nothing
    assert webhook(client, paid, "checkout.session.completed") == 200
    order.refresh_from_db()
    assert (order.tax_minor, PaymentEvent.objects.filter(order=order).count()) == (1700, 1)


# --- partner API --------------------------------------------------------------------------------


@pytest.fixture
def partner_key():
    partner = Partner.objects.create(name="Affiliate storefront")
    raw = api_key_create(partner=partner, name="t", scopes=["holds:write", "orders:write", "orders:read"])[1]
    return partner, {"X-API-Key": raw}


def test_api_checkout_takes_the_address_and_shows_shipping_and_tax(client, partner_key, eu_rate):
    _partner, auth = partner_key
    drop = make_drop()
    hold = client.post(
        "/api/v1/holds",
        {"drop_id": drop.pk, "email": "ann@example.com", "quantity": 1},
        "application/json",
        headers=auth,
    ).json()
    url = f"/api/v1/holds/{hold['token']}/checkout"
    missing = client.post(url, {}, "application/json", headers=auth)
    assert missing.status_code == 422 and missing.json()["code"] == "shipping_address_required"
    bad = client.post(url, {"shipping_address": {**ADDRESS_DE, "postal_code": "1"}}, "application/json", headers=auth)
    assert bad.status_code == 422 and bad.json()["code"] == "shipping_address_invalid"
    assert "postal_code" in bad.json()["fields"]
    nowhere = {**ADDRESS_DE, "country_code": "US", "postal_code": "94043", "country_area": "CA"}
    refused = client.post(url, {"shipping_address": nowhere}, "application/json", headers=auth)
    assert refused.status_code == 422 and refused.json()["code"] == "shipping_unavailable"
    placed = client.post(url, {"shipping_address": ADDRESS_DE}, "application/json", headers=auth)
    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert (body["shipping_minor"], body["shipping_rate_name"], body["fulfilment"]) == (490, "Standard EU", "ship")
    assert (body["tax_minor"], body["tax_included"], body["total_minor"]) == (686 + 78, True, 4299 + 490)
    assert body["shipping_address"]["city"] == "BERLIN"
    listed = client.get("/api/v1/orders", headers=auth).json()["items"][0]
    assert listed["shipping_address"]["postal_code"] == "10178"


def test_shipping_address_only_for_callers_allowed_to_see_buyer_details(partner_key, eu_rate):
    from commerce.api import OrderOut  # after config.api (which imports it) to avoid the import cycle

    owner, _auth = partner_key
    order = _start(quantity=1)
    Order.objects.filter(pk=order.pk).update(partner=owner)
    order.refresh_from_db()
    other = Partner.objects.create(name="Pickup partner")

    class Request:
        def __init__(self, caller):
            self.caller = caller

    def seen_by(caller):
        return OrderOut.from_orm(order, context={"request": Request(caller)}).shipping_address

    assert seen_by(Caller(partner=owner))["country_code"] == "DE"
    assert seen_by(Caller(partner=other, for_shop=True))["country_code"] == "DE"
    assert seen_by(Caller(partner=other)) is None


def test_cart_says_tax_is_calculated_at_payment_with_stripe_tax(client, stripe_api, settings, eu_rate):
    settings.STRIPE_AUTOMATIC_TAX = True
    settings.SHOP_PRICES_INCLUDE_TAX = False
    hold = hold_place(drop_id=make_drop().pk, email="ann@example.com", quantity=1)
    page = client.get(f"/cart/{hold.token}/").content.decode()
    assert "calculated at payment" in page and "Continue to payment" in page
    assert "$4.90" in page  # shipping is ours and known
