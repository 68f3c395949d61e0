"""Partner API for series: listing with follower counts, the feed URLs, following (202, never revealing)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from commerce.models import Partner
from commerce.services.api_keys import api_key_create
from commerce.services.outbox import outbox_drain
from sessions_app.cadence.models import SeriesFollower
from tests.sessions_app.cadence.helpers import followers, make_series, session_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    partner = Partner.objects.create(name="Shop site")
    return {"X-API-Key": api_key_create(partner=partner, name="k", scopes=["sessions:read", "followers:write"])[1]}


@pytest.fixture
def series():
    s = make_series(slug="tuesday-live", weekday=1, local_time=dt.time(18, 0))
    session_at(s, timezone.now() + dt.timedelta(days=2))
    followers(s, 2)
    return s


def test_series_list_and_detail_include_cadence_followers_and_upcoming(client, key, series):
    listed = client.get("/api/v1/series", headers=key).json()
    assert [(s["slug"], s["followers"], s["cadence"]) for s in listed] == [
        ("tuesday-live", 2, "Tuesdays 18:00 Europe/Berlin")
    ]
    detail = client.get("/api/v1/series/tuesday-live", headers=key).json()
    assert detail["upcoming"][0]["id"] == str(series.sessions.get().public_id)
    assert detail["upcoming"][0]["sequence"] == 0
    assert client.get("/api/v1/series/nope", headers=key).json()["code"] == "not_found"


def test_calendar_urls(client, key, series):
    body = client.get("/api/v1/series/tuesday-live/calendar", headers=key).json()
    assert body == {
        "ics": "http://127.0.0.1:8000/series/tuesday-live/calendar.ics",
        "webcal": "webcal://127.0.0.1:8000/series/tuesday-live/calendar.ics",
        "download": "http://127.0.0.1:8000/series/tuesday-live/calendar.ics?download=1",
    }


def test_follow_answers_202_for_new_and_known_addresses_and_mails_only_the_new_one(client, key, series):
    def post(email, **headers):
        return client.post(
            "/api/v1/series/tuesday-live/followers",
            {"email": email},
            content_type="application/json",
            headers={**key, **headers},
        )

    new, known = post("ann@example.com"), post("viewer0@example.com")
    assert (new.status_code, new.json()) == (known.status_code, known.json()) == (202, {"answer": "check_inbox"})
    outbox_drain()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert SeriesFollower.objects.get(email="ann@example.com").status == SeriesFollower.Status.PENDING
    bad = post("nope")
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_email") and "email" in bad.json()["fields"]
    first, again = (
        post("cy@example.com", **{"Idempotency-Key": "k1"}),
        post("cy@example.com", **{"Idempotency-Key": "k1"}),
    )
    assert first.status_code == again.status_code == 202
    assert post("dan@example.com", **{"Idempotency-Key": "k1"}).json()["code"] == "idempotency_key_reused"


def test_follow_needs_its_scope(client, series):
    partner = Partner.objects.create(name="Reader")
    reader = {"X-API-Key": api_key_create(partner=partner, name="r", scopes=["sessions:read"])[1]}
    response = client.post(
        "/api/v1/series/tuesday-live/followers",
        {"email": "a@example.com"},
        content_type="application/json",
        headers=reader,
    )
    assert response.status_code == 403 and not SeriesFollower.objects.filter(email="a@example.com").exists()


def test_follow_is_rate_limited_per_address(client, key, series, settings):
    settings.SERIES_FOLLOW_RATE_LIMIT_EMAIL = 2
    codes = [
        client.post(
            "/api/v1/series/tuesday-live/followers",
            {"email": "Ann@example.com"},
            content_type="application/json",
            headers=key,
        ).status_code
        for _ in range(3)
    ]
    assert codes == [202, 202, 429]
