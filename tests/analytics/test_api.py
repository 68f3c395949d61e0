"""Partner BI API: scopes, KPI stacks, cohorts, paginated raw event export, error shape."""

from __future__ import annotations

import pytest

from analytics.services import event_capture
from commerce.models import Partner
from commerce.services.api_keys import api_key_create
from commerce.services.orders import order_mark_paid, order_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys():
    partner = Partner.objects.create(name="BI Co")
    return {
        # analytics are shop data: the shop's BI keys carry the shop scope (docs/access.md)
        "read": api_key_create(partner=partner, name="kpis", scopes=["analytics:read", "shop"])[1],
        "events": api_key_create(partner=partner, name="events", scopes=["analytics:events", "shop"])[1],
        "orders": api_key_create(partner=partner, name="orders", scopes=["orders:read"])[1],
    }


@pytest.fixture
def sold(committed, process):
    drop = make_drop(quantity=5)
    with committed():
        for i in range(3):
            event_capture(name="view", visitor_id=f"v{i}", session_id=drop.session_id)
        event_capture(name="click", visitor_id="v0", session_id=drop.session_id, drop_id=drop.pk)
        order = order_place(drop_id=drop.pk, email="a@example.com", quantity=2, visitor_id="v0")
        order_mark_paid(order_id=order.pk)
    process()
    return drop


def get(client, url, key, **params):
    return client.get(url, params, headers={"X-API-Key": key})


def test_session_kpis(client, keys, sold):
    body = get(client, f"/api/v1/analytics/sessions/{sold.session.public_id}", keys["read"]).json()
    assert body["visitors"] == {"view": 3, "click": 1, "cart": 1, "checkout": 1, "purchase": 1}
    assert body["v2c"] == pytest.approx(1 / 3)
    assert (body["c2c"], body["c2p"]) == (1.0, 1.0)
    assert (body["revenue_minor"], body["currency"], body["orders"]) == (8598, "USD", 1)
    assert body["acquisition"]["customers"] == 1
    assert body["drops"][0]["drop_id"] == sold.pk
    assert body["session_id"] == str(sold.session.public_id)


def test_series_format_and_cohorts(client, keys, sold):
    fmt = get(client, f"/api/v1/analytics/formats/{sold.session.format.slug}", keys["read"]).json()
    assert fmt["total"]["sessions"] == 1
    assert fmt["total"]["visitors"]["view"] == 3
    assert len(fmt["weeks"]) == 1
    cohorts = get(client, "/api/v1/analytics/cohorts", keys["read"]).json()
    assert cohorts[0]["customers"] == 1
    assert cohorts[0]["currency"] == "USD"
    bad = get(client, "/api/v1/analytics/cohorts", keys["read"], period="year")
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid"
    assert get(client, "/api/v1/analytics/series/999", keys["read"]).json()["code"] == "not_found"


def test_event_export_is_paginated_and_incremental(client, keys, sold):
    first = get(client, "/api/v1/analytics/events", keys["events"], page_size=2).json()
    assert first["count"] == 7  # 3 views, click, cart, checkout, purchase
    assert [e["name"] for e in first["items"]] == ["view", "view"]
    last_seq = first["items"][-1]["seq"]
    rest = get(client, "/api/v1/analytics/events", keys["events"], since_seq=last_seq).json()
    assert rest["count"] == 5
    assert rest["items"][-1]["name"] == "purchase"
    assert rest["items"][-1]["amount_minor"] == 8598


def test_scopes_are_enforced(client, keys, sold):
    url = f"/api/v1/analytics/sessions/{sold.session.public_id}"
    assert get(client, url, keys["orders"]).status_code == 403
    assert get(client, "/api/v1/analytics/events", keys["read"]).json()["code"] == "forbidden"
    assert client.get(url).status_code == 401
    assert (
        get(client, "/api/v1/analytics/sessions/00000000-0000-0000-0000-000000000000", keys["read"]).status_code == 404
    )
