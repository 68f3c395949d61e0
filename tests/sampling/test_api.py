"""Partner API for sampling: scopes, create (with idempotency), status, 3PL export and import, error shape."""

from __future__ import annotations

import csv
import io

import pytest

from commerce.models import Partner
from commerce.services.api_keys import api_key_create
from sampling.models import SampleRequest
from tests.factories import ADDRESS_DE, make_campaign

from .helpers import approved_request

pytestmark = pytest.mark.django_db
S = SampleRequest.Status


@pytest.fixture
def partner():
    return Partner.objects.create(name="Acme 3PL")


def key(partner, *scopes):
    return {"X-API-Key": api_key_create(partner=partner, name="t", scopes=list(scopes))[1]}


def create(client, headers, **body):
    payload = {
        "campaign": body.pop("campaign"),
        "email": "ann@example.com",
        "use_case": "A gift",
        "consent": True,
        **body,
    }
    return client.post("/api/v1/samples/requests", payload, content_type="application/json", headers=headers)


def test_create_then_read_status(client, partner):
    campaign = make_campaign(quantity=1)
    write, read = key(partner, "samples:write"), key(partner, "samples:read")
    response = create(client, write, campaign=campaign.slug)
    assert response.status_code == 201
    body = response.json()
    assert body["answer"] == "accepted"
    assert body["request"]["status"] == "requested"
    request_id = body["request"]["id"]
    assert SampleRequest.objects.get(pk=request_id).partner == partner
    status = client.get(f"/api/v1/samples/requests/{request_id}", headers=read).json()
    assert status["status"] == "requested"
    assert status["campaign"] == campaign.slug
    second = create(client, write, campaign=campaign.slug, email="bob@example.com")
    assert (second.status_code, second.json()["answer"]) == (201, "waitlisted")
    again = create(client, write, campaign=campaign.slug, email="Ann+x@Example.com")
    assert (again.status_code, again.json()["answer"], again.json()["request"]["id"]) == (
        200,
        "already_requested",
        request_id,
    )


def test_create_with_address_runs_the_address_step(client, partner):
    campaign = make_campaign()
    response = create(client, key(partner, "samples:write"), campaign=campaign.slug, address=ADDRESS_DE)
    assert response.status_code == 201
    assert response.json()["request"]["status"] == "approved"
    req = SampleRequest.objects.get()
    events = list(req.events.values_list("to_status", "actor_label"))
    assert events == [("requested", "partner:Acme 3PL"), ("approved", "system")]


def test_bad_address_is_a_422_with_fields(client, partner):
    campaign = make_campaign()
    response = create(
        client, key(partner, "samples:write"), campaign=campaign.slug, address={**ADDRESS_DE, "postal_code": "99"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_address"
    assert "postal_code" in response.json()["fields"]


def test_idempotency_key_replays(client, partner):
    campaign = make_campaign()
    headers = {**key(partner, "samples:write"), "Idempotency-Key": "order-42"}
    first = create(client, headers, campaign=campaign.slug)
    replay = create(client, headers, campaign=campaign.slug, email="someone-else@example.com")
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["request"]["id"] == first.json()["request"]["id"]
    assert SampleRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"consent": False}, 422, "consent_required"),
        ({"email": "nope"}, 422, "invalid_email"),
        ({"use_case": "other"}, 422, "invalid_use_case"),
        ({"consent": "maybe"}, 422, "invalid"),
        ({"country": "US"}, 409, "not_eligible"),
        # QA: a malformed IP was a 500 with a traceback
        ({"ip": "not-an-ip"}, 422, "invalid"),
        ({"ip": "1.2.3.4.5"}, 422, "invalid"),
        ({"ip": "1.2.3.4/24"}, 422, "invalid"),
        ({"ip": "999.1.1.1"}, 422, "invalid"),
    ],
)
def test_errors_have_the_shared_shape(client, partner, body, status, code):
    campaign = make_campaign(countries=["DE"])
    response = create(client, key(partner, "samples:write"), campaign=campaign.slug, **body)
    assert response.status_code == status
    data = response.json()
    assert data["code"] == code
    assert set(data) == {"code", "message", "fields"}


def test_unknown_campaign_is_404(client, partner):
    response = create(client, key(partner, "samples:write"), campaign="nope")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_rate_limited_is_429(client, partner, settings):
    settings.SAMPLING_RATE_LIMIT_IP = 1
    campaign = make_campaign()
    headers = key(partner, "samples:write")
    assert create(client, headers, campaign=campaign.slug, ip="192.0.2.1").status_code == 201
    response = create(client, headers, campaign=campaign.slug, ip="192.0.2.1", email="b@example.com")
    assert (response.status_code, response.json()["code"]) == (429, "rate_limited")


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("get", "/api/v1/samples/requests/1", "samples:read"),
        ("get", "/api/v1/samples/shipments.csv", "samples:3pl"),
        ("post", "/api/v1/samples/tracking", "samples:3pl"),
        ("post", "/api/v1/samples/requests", "samples:write"),
    ],
)
def test_scopes_are_enforced(client, partner, method, path, scope):
    other = {"samples:read": "samples:write", "samples:3pl": "samples:read", "samples:write": "samples:3pl"}[scope]
    response = getattr(client, method)(path, headers=key(partner, other))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert getattr(client, method)(path).status_code == 401


def test_3pl_export_and_tracking_import(client, partner):
    campaign = make_campaign(fulfilment_partner=partner)
    req = approved_request(campaign)
    headers = key(partner, "samples:3pl")
    export = client.get(f"/api/v1/samples/shipments.csv?campaign={campaign.slug}", headers=headers)
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [r["request_id"] for r in rows] == [str(req.pk)]
    body = f"request_id,tracking_number,carrier\n{req.pk},1Z9,UPS\n"
    response = client.post("/api/v1/samples/tracking", body, content_type="text/csv", headers=headers)
    assert response.status_code == 200
    assert response.json()["shipped"] == 1
    req.refresh_from_db()
    assert (req.status, req.tracking_number) == (S.SHIPPED, "1Z9")
    assert req.events.last().actor_label == "partner:Acme 3PL"
    bad = client.post(
        "/api/v1/samples/tracking", "request_id,tracking_number\n424242,X\n", content_type="text/csv", headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_rows"
    assert bad.json()["fields"] == {"row 2": ["column 'request_id': no sample request '424242'"]}
    unreadable = client.post("/api/v1/samples/tracking", b"\xff\xfe", content_type="text/csv", headers=headers)
    assert (unreadable.status_code, unreadable.json()["code"]) == (422, "invalid_file")


def test_a_key_without_scopes_can_do_nothing(client, partner):
    campaign = make_campaign(fulfilment_partner=partner)
    req = approved_request(campaign, partner=partner)
    headers = key(partner)  # none ticked = no scope (docs/access.md)
    assert client.get(f"/api/v1/samples/requests/{req.pk}", headers=headers).status_code == 403
    assert create(client, headers, campaign=campaign.slug, email="b@example.com").status_code == 403
    assert client.get("/api/v1/samples/shipments.csv", headers=headers).status_code == 403
