"""Partner API writes: holds and checkout, with Idempotency-Key replay."""

from __future__ import annotations

import datetime as dt

import pytest

from commerce.models import Drop, Hold, Order, Partner
from commerce.services.api_keys import api_key_create
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth():
    raw = api_key_create(
        partner=Partner.objects.create(name="Affiliate"),
        name="writes",
        scopes=["drops:read", "holds:write", "orders:write"],
    )[1]
    return {"X-API-Key": raw}


def post(client, path, data, headers):
    return client.post(path, data=data, content_type="application/json", headers=headers)


def test_hold_then_checkout(client, auth):
    drop = make_drop(quantity=5)
    response = post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": "a@example.com", "quantity": 2}, auth)
    assert response.status_code == 201
    hold = response.json()
    assert (hold["unit_price_minor"], hold["currency"], hold["status"]) == (4299, "USD", "active")
    status = client.get(f"/api/v1/drops/{drop.pk}/status", headers=auth).json()
    assert (status["available"], status["price_minor"], status["state"]) == (3, 4299, "live")
    response = post(client, f"/api/v1/holds/{hold['token']}/checkout", {}, auth)
    assert response.status_code == 201
    order = response.json()
    assert (order["total_minor"], order["status"], order["lines"][0]["quantity"]) == (8598, "awaiting_payment", 2)


def test_idempotency_key_replays_the_first_answer(client, auth):
    drop = make_drop(quantity=5)
    headers = {**auth, "Idempotency-Key": "k-1"}
    body = {"drop_id": drop.pk, "email": "a@example.com", "quantity": 1}
    first = post(client, "/api/v1/holds", body, headers)
    second = post(client, "/api/v1/holds", body, headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Hold.objects.count() == 1
    assert Drop.objects.get(pk=drop.pk).available == 4
    reused = post(client, "/api/v1/holds", {**body, "quantity": 2}, headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


def test_errors_are_json_with_codes_and_replayed_too(client, auth):
    drop = make_drop(quantity=1, per_customer_limit=1)
    post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": "a@example.com", "quantity": 1}, auth)
    headers = {**auth, "Idempotency-Key": "sold-out-1"}
    body = {"drop_id": drop.pk, "email": "b@example.com", "quantity": 1}
    first = post(client, "/api/v1/holds", body, headers)
    assert (first.status_code, first.json()["code"]) == (409, "sold_out")
    Drop.objects.filter(pk=drop.pk).update(available=1)  # stock comes back…
    assert post(client, "/api/v1/holds", body, headers).json()["code"] == "sold_out"  # …the replay still says so
    bad = post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": "nope", "quantity": 1}, auth)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_email")
    missing = post(client, "/api/v1/holds", {"drop_id": 99999, "email": "c@example.com", "quantity": 1}, auth)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    junk = client.post("/api/v1/holds", data="{not json", content_type="application/json", headers=auth)
    assert junk.status_code in (400, 422)
    expired = post(client, "/api/v1/holds/unknown-token/checkout", {}, auth)
    assert (expired.status_code, expired.json()["code"]) == (404, "not_found")


def test_write_scopes_are_required(client):
    raw = api_key_create(partner=Partner.objects.create(name="BI"), name="ro", scopes=["drops:read"])[1]
    drop = make_drop()
    response = post(
        client, "/api/v1/holds", {"drop_id": drop.pk, "email": "a@example.com", "quantity": 1}, {"X-API-Key": raw}
    )
    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_quantity_must_be_a_real_integer(client, auth):
    drop = make_drop(quantity=5)
    response = post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": "a@example.com", "quantity": True}, auth)
    assert response.status_code == 422
    assert "quantity" in response.json()["fields"]


def test_errors_name_the_field_they_are_about(client, auth):
    drop = make_drop(quantity=5)
    bad = post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": "nope", "quantity": 1}, auth)
    assert bad.json()["fields"] == {"email": ["Enter a valid email address."]}
    hold = post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": "a@example.com", "quantity": 1}, auth).json()
    coupon = post(client, f"/api/v1/holds/{hold['token']}/checkout", {"coupon_code": "NOPE"}, auth)
    assert (coupon.status_code, coupon.json()["code"]) == (422, "coupon_invalid")
    assert list(coupon.json()["fields"]) == ["coupon_code"]
    junk = client.post("/api/v1/holds", data="{not json", content_type="application/json", headers=auth)
    assert junk.json()["code"] in {"bad_request", "invalid"}


def test_ids_must_be_real_integers_too(client, auth):
    drop = make_drop(quantity=5)
    for drop_id in (True, str(drop.pk)):
        response = post(client, "/api/v1/holds", {"drop_id": drop_id, "email": "a@example.com", "quantity": 1}, auth)
        assert response.status_code == 422
        assert "drop_id" in response.json()["fields"]
    assert not Hold.objects.exists()


def test_an_address_that_unicode_normalization_lengthens_past_254_is_a_422_not_a_500(client, auth):
    drop = make_drop(quantity=5)
    email = "\ufb03" * 100 + "@example.com"  # 112 characters as typed, 312 after NFKC ("ﬃ" → "ffi")
    response = post(client, "/api/v1/holds", {"drop_id": drop.pk, "email": email, "quantity": 1}, auth)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_email")
    assert Drop.objects.get(pk=drop.pk).available == 5


def test_times_in_error_fields_are_iso_8601(client, auth):
    drop = make_drop(quantity=5, opens_in=3600, closes_in=7200)
    headers = {**auth, "Idempotency-Key": "early-1"}
    body = {"drop_id": drop.pk, "email": "a@example.com", "quantity": 1}
    for response in (post(client, "/api/v1/holds", body, headers), post(client, "/api/v1/holds", body, headers)):
        assert response.json()["code"] == "not_yet_open"
        opens_at = response.json()["fields"]["opens_at"]
        parsed = dt.datetime.fromisoformat(opens_at)  # ISO 8601 to the millisecond, as JSON dates go
        assert "T" in opens_at and abs(parsed - Drop.objects.get(pk=drop.pk).opens_at) < dt.timedelta(milliseconds=1)
