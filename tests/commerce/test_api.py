"""Partner API: key auth (hashed, scoped, revocable), read endpoints, pagination, error shape."""

from __future__ import annotations

import pytest

from commerce.models import ApiKey, Order, Partner
from commerce.services.api_keys import api_key_create, api_key_revoke
from commerce.services.orders import order_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner():
    return Partner.objects.create(name="BI Co")


@pytest.fixture
def raw_key(partner):
    return api_key_create(partner=partner, name="test", scopes=["sessions:read", "drops:read", "orders:read"])[1]


def test_key_is_stored_hashed(partner):
    key, raw = api_key_create(partner=partner, name="x")
    assert raw.startswith(f"mm_{key.prefix}_")
    assert raw not in key.key_hash
    assert len(key.key_hash) == 64


@pytest.mark.parametrize("header", [None, "mm_nope_nope", "garbage"])
def test_missing_or_wrong_key_is_401(client, raw_key, header):
    headers = {"X-API-Key": header} if header else {}
    response = client.get("/api/v1/orders", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_right_prefix_wrong_secret_is_401(client, raw_key):
    response = client.get("/api/v1/orders", headers={"X-API-Key": raw_key[:-2] + "xx"})
    assert response.status_code == 401


def test_revoked_key_is_401(client, raw_key):
    api_key_revoke(key_id=ApiKey.objects.get().pk)
    assert client.get("/api/v1/orders", headers={"X-API-Key": raw_key}).status_code == 401


def test_inactive_partner_is_401(client, partner, raw_key):
    partner.is_active = False
    partner.save()
    assert client.get("/api/v1/orders", headers={"X-API-Key": raw_key}).status_code == 401


def test_scope_is_enforced(client, partner):
    _, raw = api_key_create(partner=partner, name="sessions only", scopes=["sessions:read"])
    assert client.get("/api/v1/sessions", headers={"X-API-Key": raw}).status_code == 200
    response = client.get("/api/v1/orders", headers={"X-API-Key": raw})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_orders_drops_and_sessions_with_a_key(client, partner, raw_key):
    drop = make_drop(quantity=5)
    order = order_place(drop_id=drop.pk, email="ann@example.com", quantity=2)
    Order.objects.filter(pk=order.pk).update(partner=partner)  # as if placed through the partner's key
    auth = {"Authorization": f"Bearer {raw_key}"}
    orders = client.get("/api/v1/orders", headers=auth).json()
    assert orders["count"] == 1
    item = orders["items"][0]
    assert item["number"] == order.number
    assert item["total_minor"] == 8598
    assert item["currency"] == "USD"
    assert item["lines"][0]["quantity"] == 2
    assert item["email"] == "ann@example.com"
    drops = client.get("/api/v1/drops", headers=auth).json()
    assert drops["items"][0]["status"]["available"] == 3
    assert drops["items"][0]["status"]["state"] == "live"
    one = client.get(f"/api/v1/drops/{drop.pk}", headers=auth).json()
    assert one["sku"] == drop.sku.code
    sessions = client.get("/api/v1/sessions?status=live", headers=auth).json()
    assert sessions["items"][0]["id"] == str(drop.session.public_id)


def test_pagination_and_404_and_422(client, raw_key):
    for _ in range(3):
        make_drop()
    auth = {"X-API-Key": raw_key}
    page = client.get("/api/v1/drops?page=2&page_size=2", headers=auth).json()
    assert page["count"] == 3
    assert len(page["items"]) == 1
    missing = client.get("/api/v1/drops/999999", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    bad = client.get("/api/v1/drops?page=zero", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid"
    assert "page" in bad.json()["fields"]


def test_openapi_docs(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/orders" in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_a_closed_drop_has_no_seconds_to_close_and_its_page_offers_no_qr(client, raw_key):
    from django.urls import reverse

    from sessions_app.services import session_end

    auth = {"Authorization": f"Bearer {raw_key}"}
    drop = make_drop(quantity=5, closes_in=7200)
    live = client.get(f"/api/v1/drops/{drop.pk}/status", headers=auth).json()
    assert live["state"] == "live" and live["seconds_to_close"] > 7000
    page = client.get(drop.session.get_absolute_url()).content.decode()
    assert "Scan to buy" in page and "data-qr hidden" not in page
    session_end(session_id=drop.session_id)
    closed = client.get(f"/api/v1/drops/{drop.pk}/status", headers=auth).json()
    assert closed["state"] == "closed" and closed["seconds_to_close"] is None
    client.cookies["messages"] = "x"  # a personal page: not the shared 2-second page cache
    page = client.get(drop.session.get_absolute_url()).content.decode()
    assert "data-qr hidden" in page
    assert reverse("commerce:drop_qr", args=[drop.pk]) in page  # kept in the page, hidden, for the state poll
