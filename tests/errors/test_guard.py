"""The request guard and the error handlers: NUL bytes, lone surrogates, oversized bodies, huge numbers.

Given bad input on any entry point (path, query, headers, form body, JSON body, text body),
when it arrives, then the answer is a clear 4xx (JSON under /api/, an HTML page elsewhere), never a 500,
and nothing reaches the database.
"""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from commerce.models import Hold
from config.bounds import INT64_MAX
from config.pagination import MAX_PAGE
from tests.factories import make_drop

pytestmark = pytest.mark.django_db

HUGE = 2**70


def _json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "fields"}
    return body


@pytest.mark.parametrize(
    "url",
    ["/api/v1/orders/a%00b", "/api/v1/sessions?status=a%00b", "/api/v1/drops?a%00=1", "/api/v1/pickup/bookings/%00"],
)
def test_nul_in_api_path_or_query_is_json_400(web, every_scope, url):
    body = _json_error(web.get(url, headers=every_scope), 400, "bad_request")
    assert body["fields"], "the answer names where the NUL was"


@pytest.mark.parametrize("url", ["/cart/a%00b/", "/orders/%00/", "/pickup/pass/a%00b/", "/samples/x%00/", "/?q=%00"])
def test_nul_on_the_storefront_is_an_html_400_page(web, url):
    response = web.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"We could not read that request" in response.content


def test_nul_in_a_form_post_from_a_page_script_asking_for_json_is_json_400(web):
    # the micro-form, watch-reward and share posts are form-encoded but read their answer as JSON
    response = web.post("/samples/x/", {"email": "a\x00@example.com"}, headers={"Accept": "application/json"})
    body = _json_error(response, 400, "bad_request")
    assert body["fields"]


def test_nul_in_a_header_is_400(web, every_scope):
    response = web.get("/api/v1/drops", headers={**every_scope, "Idempotency-Key": "a\x00b"})
    assert list(_json_error(response, 400, "bad_request")["fields"]) == ["Idempotency-Key"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"drop_id": %d, "email": "a\\u0000@example.com", "quantity": 1}',
        '{"drop_id": %d, "email": "a\\ud800@example.com", "quantity": 1}',  # a lone surrogate
        '{"drop_id": %d, "email": "a@example.com", "quantity": 1, "x\\u0000": 1}',  # in a key
        '{"drop_id": %d, "email": "a\x00@example.com", "quantity": 1}',  # a raw NUL byte
    ],
)
def test_nul_or_lone_surrogate_in_a_json_body_is_400_and_nothing_is_held(web, every_scope, raw):
    drop = make_drop()
    response = web.post("/api/v1/holds", raw % drop.pk, content_type="application/json", headers=every_scope)
    _json_error(response, 400, "bad_request")
    assert not Hold.objects.exists()


def test_a_valid_surrogate_pair_is_fine(web, every_scope):
    """An emoji is written as a surrogate pair in JSON: that is valid and reaches the view."""
    drop = make_drop()
    body = '{"drop_id": DROP, "email": "\\ud83d\\ude00@example.com", "quantity": 1}'.replace("DROP", str(drop.pk))
    response = web.post("/api/v1/holds", body, content_type="application/json", headers=every_scope)
    assert response.status_code == 422  # the view's own answer: not a valid e-mail address
    assert response.json()["code"] == "invalid_email"


def test_nul_in_a_form_body_is_an_html_400(web):
    drop = make_drop()
    response = web.post(f"/drops/{drop.pk}/checkout/", {"email": "a\x00@example.com", "quantity": "1"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert not Hold.objects.exists()


def test_nul_in_a_text_body_is_400(web, every_scope):
    csv = "request_id,tracking_number\n1,AB\x00C\n"
    response = web.post("/api/v1/samples/tracking", csv, content_type="text/csv", headers=every_scope)
    _json_error(response, 400, "bad_request")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_api_body_is_json_413(web, every_scope):
    body = json.dumps({"drop_id": 1, "email": "a@example.com", "quantity": 1, "pad": "x" * 2000})
    response = web.post("/api/v1/holds", body, content_type="application/json", headers=every_scope)
    body = _json_error(response, 413, "payload_too_large")
    assert "1000 bytes" in body["message"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_storefront_form_is_an_html_413(web):
    drop = make_drop()
    response = web.post(f"/drops/{drop.pk}/checkout/", {"email": "a@example.com", "quantity": "1", "pad": "x" * 2000})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert not Hold.objects.exists()


@pytest.mark.parametrize(
    "url", ["/api/v1/sessions", "/api/v1/drops", "/api/v1/orders", "/api/v1/pickup/popups", "/api/v1/analytics/events"]
)
def test_a_huge_page_is_422_naming_the_field(web, every_scope, url):
    for page in (HUGE, INT64_MAX, MAX_PAGE + 1):
        body = _json_error(web.get(f"{url}?page={page}", headers=every_scope), 422, "invalid")
        assert "page" in body["fields"]
    last = web.get(f"{url}?page={MAX_PAGE}&page_size=1000", headers=every_scope)  # clamped to the maximum
    assert last.status_code == 200, last.content
    assert last.json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/drops/{HUGE}",
        f"/api/v1/drops/{INT64_MAX + 1}/status",
        f"/api/v1/pickup/popups/{HUGE}/slots",
        f"/api/v1/samples/requests/{HUGE}",
        f"/api/v1/analytics/series/{HUGE}",
        f"/api/v1/analytics/events?since_seq={HUGE}",
    ],
)
def test_an_out_of_range_api_integer_is_422_naming_it(web, every_scope, url):
    body = _json_error(web.get(url, headers=every_scope), 422, "invalid")
    assert body["fields"]


def test_an_out_of_range_integer_in_a_json_body_is_422(web, every_scope):
    response = web.post(
        "/api/v1/holds",
        {"drop_id": HUGE, "email": "a@example.com", "quantity": 1},
        content_type="application/json",
        headers=every_scope,
    )
    assert "drop_id" in _json_error(response, 422, "invalid")["fields"]


def test_the_largest_id_is_a_plain_404(web, every_scope):
    _json_error(web.get(f"/api/v1/drops/{INT64_MAX}", headers=every_scope), 404, "not_found")


@pytest.mark.parametrize(
    "url",
    [f"/drops/{HUGE}/checkout/", f"/drops/{INT64_MAX + 1}/qr.svg", f"/a/click/{HUGE}/", f"/samples/offer/x/checkout/{HUGE}/"],
)
def test_a_storefront_id_beyond_64_bits_is_a_404_page(web, url):
    response = web.get(url)
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_unknown_api_url_is_json_404(web):
    _json_error(web.get("/api/v1/no-such-thing"), 404, "not_found")


@pytest.mark.parametrize(("method", "url"), [("put", "/api/v1/holds"), ("delete", "/api/v1/orders")])
def test_a_wrong_method_on_the_api_is_a_json_405_with_allow(web, every_scope, method, url):
    """QA: ninja answered a wrong method with Django's bare HTML 405."""
    response = getattr(web, method)(url, headers=every_scope)
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"] or "POST" in response["Allow"]
