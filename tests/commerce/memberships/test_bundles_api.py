"""Partner API for bundles and trials (docs/bundles.md, docs/trials.md): what the answers carry."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.models import Partner, TrialReturn
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_mark_paid
from tests.commerce.memberships.bundle_support import bundle_drop
from tests.commerce.memberships.trial_support import trial_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner():
    return Partner.objects.create(name="Affiliate")


def _headers(partner, *scopes):
    return {"X-API-Key": api_key_create(partner=partner, name="k", scopes=list(scopes))[1]}


def test_bundles_lists_bundles_with_seats_left_and_never_a_join_link(client, partner):
    # given one bundle with seats, one whose seats are all taken
    open_bundle = bundle_drop(units=5, seats=2)
    full = bundle_drop(units=5, seats=1)
    hold_place(drop_id=full.drop_id, email="a@example.com", quantity=1)
    # when a partner lists bundles
    response = client.get("/api/v1/bundles", headers=_headers(partner, "bundles:read"))
    # then only the bundle with seats left is offered, with its seats and the private session's time
    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["id"] == open_bundle.pk and item["seats_available"] == 2 and item["units_available"] == 5
    assert item["title"].endswith("+ seat in Maker Q&A") and "join" not in str(item)
    assert client.get("/api/v1/bundles", headers=_headers(partner, "drops:read")).status_code == 403


def _own_paid_trial(partner, *, paid_days_ago: int = 1):
    hold = hold_place(drop_id=trial_drop().pk, email="t@example.com", quantity=1, partner_id=partner.pk)
    order = checkout_start(hold_token=hold.token)
    return order_mark_paid(order_id=order.pk, now=timezone.now() - dt.timedelta(days=paid_days_ago))


def test_trial_return_is_idempotent_and_listed(client, partner):
    order = _own_paid_trial(partner)
    line = order.lines.get()
    headers = {**_headers(partner, "trials:write", "trials:read"), "Idempotency-Key": "ret-1"}
    url = f"/api/v1/orders/{order.number}/lines/{line.pk}/trial-return"
    first = client.post(url, {"reason": "too big"}, content_type="application/json", headers=headers)
    again = client.post(url, {"reason": "too big"}, content_type="application/json", headers=headers)
    assert first.status_code == 201 and again.json() == first.json()
    body = first.json()
    assert body["status"] == "requested" and body["order_number"] == order.number and body["line_id"] == line.pk
    assert TrialReturn.objects.count() == 1
    listed = client.get("/api/v1/trial-returns", headers=headers).json()["items"]
    assert [r["id"] for r in listed] == [body["id"]]


def test_trial_return_after_the_window_is_a_409_with_its_code(client, partner):
    order = _own_paid_trial(partner, paid_days_ago=15)
    response = client.post(
        f"/api/v1/orders/{order.number}/lines/{order.lines.get().pk}/trial-return",
        {},
        content_type="application/json",
        headers=_headers(partner, "trials:write"),
    )
    assert response.status_code == 409 and response.json()["code"] == "trial_window_closed"
    assert not TrialReturn.objects.exists()


def test_trial_return_of_an_unknown_line_is_a_404(client, partner):
    order = _own_paid_trial(partner)
    response = client.post(
        f"/api/v1/orders/{order.number}/lines/987654/trial-return",
        {},
        content_type="application/json",
        headers=_headers(partner, "trials:write"),
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
