"""The partner probes reported in issue #10, repeated one by one: each is refused now.

Partner B holds a key with every scope but `shop`; partner A owns the objects. The generated
test (tests/test_access_partners.py) covers every operation; these tests spell the attack out.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError

from commerce.models import ApiKey, Hold, Order, Partner
from commerce.models.partner import SHOP_SCOPE
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from sampling.models import SampleRequest
from sampling.services.requests import sample_request_create
from tests.factories import make_campaign, make_drop

from .sampling.helpers import approved_request

pytestmark = pytest.mark.django_db
ALL_BUT_SHOP = [s for s in ApiKey.SCOPES if s != SHOP_SCOPE]


@pytest.fixture
def a():
    return Partner.objects.create(name="Partner A")


@pytest.fixture
def b():
    return Partner.objects.create(name="Partner B")


def headers(partner, scopes=ALL_BUT_SHOP):
    return {"X-API-Key": api_key_create(partner=partner, name="k", scopes=scopes)[1]}


def order_placed_by(partner, email="ann@example.com") -> Order:
    hold = hold_place(drop_id=make_drop().pk, email=email, quantity=1, partner_id=partner.pk)
    return checkout_start(hold_token=hold.token)


def test_b_cannot_list_or_read_a_orders_with_buyer_emails(client, a, b):
    # given an order placed through A's key
    order = order_placed_by(a, email="secret-buyer@example.com")
    # when B lists and reads orders
    listed = client.get("/api/v1/orders", headers=headers(b))
    read = client.get(f"/api/v1/orders/{order.number}", headers=headers(b))
    # then B sees nothing of it, and the read answers like a missing order
    assert listed.status_code == 200
    assert listed.json() == {"items": [], "count": 0}
    assert b"secret-buyer" not in listed.content
    assert (read.status_code, read.json()["code"]) == (404, "not_found")
    missing = client.get("/api/v1/orders/MM-NOSUCH00", headers=headers(b))
    assert read.json() == missing.json()
    # while A reads its own order, with the buyer's e-mail
    mine = client.get(f"/api/v1/orders/{order.number}", headers=headers(a))
    assert mine.json()["email"] == "secret-buyer@example.com"
    assert Order.objects.get(pk=order.pk).partner == a


def test_storefront_orders_are_not_shown_to_partners_but_to_the_shop_scope(client, a):
    hold = hold_place(drop_id=make_drop().pk, email="web@example.com", quantity=1)  # the storefront
    order = checkout_start(hold_token=hold.token)
    assert order.partner is None
    assert client.get("/api/v1/orders", headers=headers(a)).json()["count"] == 0
    shop = client.get("/api/v1/orders", headers=headers(a, [SHOP_SCOPE, "orders:read"])).json()
    assert [o["number"] for o in shop["items"]] == [order.number]


def test_b_cannot_check_out_a_hold(client, a, b):
    # given A's open hold
    body = {"drop_id": make_drop().pk, "email": "ann@example.com", "quantity": 1}
    placed = client.post("/api/v1/holds", body, content_type="application/json", headers=headers(a))
    assert placed.status_code == 201, placed.content
    token = placed.json()["token"]
    assert Hold.objects.get(token=token).partner == a
    # when B checks it out (with an Idempotency-Key, the answer is stored too)
    b_headers = {**headers(b), "Idempotency-Key": "steal-1"}
    stolen = client.post(f"/api/v1/holds/{token}/checkout", {}, content_type="application/json", headers=b_headers)
    # then 404 and the hold is untouched, no order exists
    assert (stolen.status_code, stolen.json()["code"]) == (404, "not_found")
    assert Hold.objects.get(token=token).status == Hold.Status.ACTIVE
    assert not Order.objects.exists()
    replay = client.post(f"/api/v1/holds/{token}/checkout", {}, content_type="application/json", headers=b_headers)
    assert replay.status_code == 404
    # and A checks out its own hold; the order belongs to A
    own = client.post(f"/api/v1/holds/{token}/checkout", {}, content_type="application/json", headers=headers(a))
    assert own.status_code == 201, own.content
    assert Order.objects.get(number=own.json()["number"]).partner == a


def test_b_cannot_read_a_sample_requests_by_sequential_id(client, a, b):
    campaign = make_campaign(quantity=5)
    ids = [
        sample_request_create(
            campaign_id=campaign.pk, email=f"p{i}@example.com", use_case="A gift", consent=True, partner=a,
            rate_limit=False,
        ).request.pk
        for i in range(3)
    ]  # fmt: skip
    for request_id in [*ids, max(ids) + 1]:
        response = client.get(f"/api/v1/samples/requests/{request_id}", headers=headers(b))
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert client.get(f"/api/v1/samples/requests/{ids[0]}", headers=headers(a)).status_code == 200


def test_b_cannot_learn_a_request_by_typing_its_email(client, a, b):
    campaign = make_campaign(quantity=5)
    sample_request_create(
        campaign_id=campaign.pk, email="ann.lee@gmail.com", use_case="A gift", consent=True, partner=a, rate_limit=False
    )
    body = {"campaign": campaign.slug, "email": "AnnLee+x@googlemail.com", "use_case": "A gift", "consent": True}
    response = client.post("/api/v1/samples/requests", body, content_type="application/json", headers=headers(b))
    assert response.status_code == 200
    assert response.json()["answer"] == "already_requested"
    assert response.json()["request"] is None
    assert SampleRequest.objects.count() == 1


def test_b_cannot_export_a_shipping_addresses(client, a, b):
    # given a campaign that A (a 3PL) fulfils, with an approved request and its home address
    campaign = make_campaign(quantity=3, fulfilment_partner=a)
    req = approved_request(campaign, email="home@example.com")
    # when B exports shipments, with or without naming A's campaign
    everything = client.get("/api/v1/samples/shipments.csv", headers=headers(b))
    named = client.get(f"/api/v1/samples/shipments.csv?campaign={campaign.slug}", headers=headers(b))
    # then no address leaks: an empty file (header only), and 404 for A's campaign
    assert everything.status_code == 200
    assert list(csv.DictReader(io.StringIO(everything.content.decode()))) == []
    assert b"home@example.com" not in everything.content
    assert (named.status_code, named.json()["code"]) == (404, "not_found")
    # while A gets its row
    own = client.get(f"/api/v1/samples/shipments.csv?campaign={campaign.slug}", headers=headers(a))
    assert [int(r["request_id"]) for r in csv.DictReader(io.StringIO(own.content.decode()))] == [req.pk]


def test_b_cannot_mark_a_requests_shipped_with_a_fake_tracking_number(client, a, b):
    campaign = make_campaign(quantity=3, fulfilment_partner=a)
    req = approved_request(campaign, email="home@example.com")
    body = f"request_id,tracking_number,carrier\r\n{req.pk},FAKE-1,Nobody\r\n"
    response = client.post("/api/v1/samples/tracking", body, content_type="text/csv", headers=headers(b))
    assert (response.status_code, response.json()["code"]) == (422, "invalid_rows")
    assert response.json()["fields"] == {"row 2": [f"column 'request_id': no sample request '{req.pk}'"]}
    req.refresh_from_db()
    assert (req.status, req.tracking_number) == (SampleRequest.Status.APPROVED, "")
    # by reference too
    by_ref = f"reference,tracking_number\r\n{req.token[:12]},FAKE-2\r\n"
    response = client.post("/api/v1/samples/tracking", by_ref, content_type="text/csv", headers=headers(b))
    assert response.status_code == 422
    req.refresh_from_db()
    assert req.status == SampleRequest.Status.APPROVED
    # A, the campaign's 3PL, ships it
    ok = client.post("/api/v1/samples/tracking", body, content_type="text/csv", headers=headers(a))
    assert ok.status_code == 200, ok.content
    req.refresh_from_db()
    assert (req.status, req.tracking_number) == (SampleRequest.Status.SHIPPED, "FAKE-1")


def test_a_key_with_no_scope_ticked_has_no_scope(client, a):
    order_placed_by(a)
    response = client.get("/api/v1/orders", headers=headers(a, []))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert client.get("/api/v1/sessions", headers=headers(a, [])).status_code == 403


def test_unknown_scopes_are_refused_on_save(a):
    with pytest.raises(ValidationError, match="Unknown scope"):
        api_key_create(partner=a, name="typo", scopes=["orders:raed"])
    key, _raw = api_key_create(partner=a, name="ok", scopes=["orders:read"])
    key.scopes = ["orders:read", "everything"]
    with pytest.raises(ValidationError, match="everything"):
        key.save()
    assert ApiKey.objects.get(pk=key.pk).scopes == ["orders:read"]


def test_analytics_are_shop_data(client, a):
    plain = client.get("/api/v1/analytics/cohorts", headers=headers(a, ["analytics:read"]))
    assert (plain.status_code, plain.json()["code"]) == (403, "forbidden")
    assert "shop" in plain.json()["message"]
    shop = client.get("/api/v1/analytics/cohorts", headers=headers(a, ["analytics:read", SHOP_SCOPE]))
    assert shop.status_code == 200


def test_the_data_migration_writes_out_the_read_scopes_keys_had_implicitly(a):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("commerce.migrations.0016_apikey_scopes_explicit")
    implicit, _ = api_key_create(partner=a, name="none ticked", scopes=[])
    junk, _ = api_key_create(partner=a, name="junk", scopes=["holds:write"])
    ApiKey.objects.filter(pk=junk.pk).update(scopes=["holds:write", "bogus", "holds:write"])
    only_junk, _ = api_key_create(partner=a, name="only junk", scopes=[])
    ApiKey.objects.filter(pk=only_junk.pk).update(scopes=["bogus"])
    migration.write_out_scopes(apps, None)
    read = ["sessions:read", "drops:read", "orders:read", "analytics:read", "samples:read", "pickup:read"]
    assert ApiKey.objects.get(pk=implicit.pk).scopes == read
    assert ApiKey.objects.get(pk=junk.pk).scopes == ["holds:write"]
    assert ApiKey.objects.get(pk=only_junk.pk).scopes == []  # it granted nothing before either
    assert not any(SHOP_SCOPE in k.scopes for k in ApiKey.objects.all())


def test_the_policy_refuses_models_whose_owner_was_never_decided(a):
    from commerce.access import Caller, catalogue, owned_by
    from commerce.models import Coupon, Drop

    caller = Caller(partner=a)
    with pytest.raises(LookupError, match="OWNER_PATHS"):
        owned_by(Coupon.objects.all(), caller)  # no owner declared: cannot be exposed by accident
    with pytest.raises(LookupError, match="not shop catalogue"):
        catalogue(Order.objects.all())
    assert catalogue(Drop.objects.all()).model is Drop
    assert str(owned_by(Order.objects.all(), Caller(partner=a, for_shop=True)).query) == str(Order.objects.all().query)


def test_a_pickup_partner_never_gets_the_buyer_links_of_a_shop_order_it_collects(client, a):
    """QA probe: GET /pickup/bookings/{number} handed the pop-up's partner the storefront buyer's pass link,
    with which it could cancel (and so refund) the shop's order as the buyer."""
    from commerce.services.pickup import pickup_slot_book
    from tests.factories import make_pickup_drop, make_slot

    # given a storefront (shop-owned) order collected at A's pop-up
    drop = make_pickup_drop(quantity=5)
    drop.popup.partner = a
    drop.popup.save()
    booking = pickup_slot_book(
        drop_id=drop.pk, slot_id=make_slot(drop.popup, starts_in=600).pk, email="store.buyer@example.com", quantity=1
    )
    order = booking.order
    assert order.partner_id is None
    # when A reads the booking, and when the shop's own integration does
    seen_by_a = client.get(f"/api/v1/pickup/bookings/{order.number}", headers=headers(a)).json()
    seen_by_shop = client.get(
        f"/api/v1/pickup/bookings/{order.number}", headers=headers(a, scopes=[*ALL_BUT_SHOP, SHOP_SCOPE])
    ).json()
    # then A gets what the door needs (the pass token) but none of the buyer's links; the shop gets them
    assert seen_by_a["pass_url"] == "" and seen_by_a["payment_url"] == ""
    assert order.token not in str(seen_by_a)
    assert seen_by_a["order_number"] == order.number
    assert order.token in seen_by_shop["pass_url"]
