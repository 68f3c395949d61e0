"""Event capture: validation, never raising, after-commit buffering, bots, the beacon, the visitor cookie."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from analytics.models import BufferedEvent, Event
from analytics.services import event_capture, is_bot
from analytics.services.capture import EventInvalid, event_clean
from tests.factories import make_drop
from tests.pageview import page_view_event, page_view_post

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "teleport"}, "name"),
        ({"name": "view", "session_id": 0}, "session_id"),
        ({"name": "view", "session_id": "7"}, "session_id"),
        ({"name": "view", "drop_id": True}, "drop_id"),
        ({"name": "purchase", "amount_minor": 100}, "currency"),
        ({"name": "purchase", "amount_minor": -1, "currency": "USD"}, "amount_minor"),
        ({"name": "purchase", "amount_minor": 1, "currency": "usd"}, "currency"),
        ({"name": "view", "visitor_id": "has space"}, "visitor_id"),
        ({"name": "view", "props": {"x": "y" * 3000}}, "props"),
        ({"name": "view", "props": ["not", "a", "dict"]}, "props"),
        ({"name": "view", "occurred_at": dt.datetime(2026, 1, 1)}, "occurred_at"),
    ],
)
def test_invalid_events_are_refused_with_the_field(fields, field):
    with pytest.raises(EventInvalid) as exc:
        event_clean(**fields)
    assert exc.value.field == field


def test_future_timestamps_beyond_clock_skew_are_refused(now):
    assert event_clean(name="view", occurred_at=now + dt.timedelta(minutes=4), now=now)
    with pytest.raises(EventInvalid):
        event_clean(name="view", occurred_at=now + dt.timedelta(minutes=6), now=now)


def test_capture_never_raises_and_reports_drops(committed):
    with committed():
        assert event_capture(name="nonsense") is False
        assert event_capture(name="view", session_id=-4) is False
        assert event_capture(name="view", session_id=4, visitor_id="abc") is True
    assert BufferedEvent.objects.count() == 1


def _failing_payment():
    with transaction.atomic():
        event_capture(name="checkout", session_id=1)
        raise RuntimeError("payment failed")


def test_capture_waits_for_commit_and_a_rollback_records_nothing(committed):
    # given an event captured inside a transaction that rolls back
    with committed():
        with pytest.raises(RuntimeError):
            _failing_payment()
        # then nothing was buffered; an event in a committed block is
        with transaction.atomic():
            event_capture(name="checkout", session_id=1)
            assert BufferedEvent.objects.count() == 0  # not before the commit
    assert BufferedEvent.objects.count() == 1


def test_a_failing_buffer_does_not_break_the_caller(committed, monkeypatch):
    def broken(rows):
        raise DatabaseError("disk full")

    monkeypatch.setattr("analytics.services.capture.buffer_append", broken)
    with committed():
        assert event_capture(name="view", session_id=1) is True  # the page carries on
    assert BufferedEvent.objects.count() == 0


def test_bots_are_recognised_by_the_maintained_patterns():
    assert is_bot(GOOGLEBOT)
    assert is_bot(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36"
    )
    assert not is_bot(BROWSER)
    assert not is_bot("")


def _buffered():
    keys = {"name": "name", "session_id": "s", "visitor_id": "v", "drop_id": "d", "sku_id": "k"}
    return [
        {short: row[field] for field, short in keys.items()} for row in BufferedEvent.objects.order_by("id").values()
    ]


def test_session_page_view_is_posted_by_its_script_for_people_not_bots(client, committed):
    # the shared page (one copy for everyone, maybe from a CDN) records nothing itself: its script
    # posts the view it carries to the beacon, which gives a first visitor the visitor cookie
    drop = make_drop()
    url = drop.session.get_absolute_url()
    with committed():
        first = client.get(url, headers={"User-Agent": BROWSER})
        assert _buffered() == []
        assert "mm_vid" not in first.cookies  # a shared copy hands nobody's cookie to anybody
        assert page_view_event(first) == {"name": "view", "session_id": drop.session_id}
        beacon = page_view_post(client, first, **{"User-Agent": BROWSER})
        page_view_post(client, client.get(url, headers={"User-Agent": GOOGLEBOT}), **{"User-Agent": GOOGLEBOT})
    assert beacon.status_code == 202
    events = _buffered()
    assert [(e["name"], e["s"]) for e in events] == [("view", drop.session_id)]
    assert events[0]["v"] == beacon.cookies["mm_vid"].value


def test_a_personal_session_page_records_its_own_view_and_carries_none(client, committed):
    drop = make_drop()
    client.cookies["messages"] = "x"  # pending messages: the page is rendered for this browser only
    with committed():
        page = client.get(drop.session.get_absolute_url(), headers={"User-Agent": BROWSER})
    assert page_view_event(page) is None
    assert "private" in page["Cache-Control"]
    assert [(e["name"], e["s"], e["v"]) for e in _buffered()] == [
        ("view", drop.session_id, page.cookies["mm_vid"].value)
    ]


def test_visitor_cookie_is_first_party_stable_and_replaced_when_forged(client):
    drop = make_drop()
    url = drop.session.get_absolute_url()
    first = page_view_post(client, client.get(url))  # the view beacon issues the cookie
    cookie = first.cookies["mm_vid"]
    assert len(cookie.value) == 32
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    again = page_view_post(client, client.get(url))
    assert "mm_vid" not in again.cookies  # kept, not re-issued
    client.cookies["mm_vid"] = "<script>"
    assert page_view_post(client, client.get(url)).cookies["mm_vid"].value != "<script>"
    assert "mm_vid" not in client.get("/api/v1/drops").cookies
    client.cookies.clear()  # a poller without the cookie is not handed a new visitor every second
    status = client.get(reverse("sessions_app:session_status", args=[drop.session.public_id]))
    assert "mm_vid" not in status.cookies
    assert "Cookie" not in status.get("Vary", "")  # anonymous polls stay cacheable by a CDN
    page = client.get(url)  # nor is the shared page
    assert "mm_vid" not in page.cookies and "Cookie" not in page.get("Vary", "")


def test_an_error_answer_issues_no_visitor_cookie(client):
    # Chromium asks /favicon.ico while the page's view beacon is issuing the visitor's cookie: a second
    # id from the 404 would replace the first, and the view would count for a visitor who never returns
    drop = make_drop()
    assert client.get("/favicon.ico").status_code == 404
    assert "mm_vid" not in client.cookies
    gone = reverse("sessions_app:session_status", args=["00000000-0000-0000-0000-000000000000"])
    assert client.get(gone).status_code == 404 and "mm_vid" not in client.cookies
    issued = page_view_post(client, client.get(drop.session.get_absolute_url())).cookies["mm_vid"].value
    assert client.get("/favicon.ico").status_code == 404
    assert client.cookies["mm_vid"].value == issued


def test_the_session_pages_qr_image_issues_no_visitor_cookie(client):
    # the browser fetches it at page load, before the view beacon's cookie is stored: a cookie of its own
    # would race the beacon's, and the view would count for an id the browser then loses
    drop = make_drop()
    response = client.get(reverse("commerce:drop_qr", args=[drop.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert "mm_vid" not in response.cookies and "public" in response["Cache-Control"]
    issued = page_view_post(client, client.get(drop.session.get_absolute_url())).cookies["mm_vid"].value
    client.cookies.pop("mm_vid")
    assert "mm_vid" not in client.get(reverse("commerce:drop_qr", args=[drop.pk])).cookies
    assert BufferedEvent.objects.get(name="view").visitor_id == issued


@pytest.mark.parametrize("cookie", ["a" * 32 + "xyz", "a" * 31, "A" * 32])
def test_a_malformed_visitor_cookie_is_replaced_by_the_beacon(client, cookie):
    drop = make_drop()
    client.cookies["mm_vid"] = cookie
    issued = page_view_post(client, client.get(drop.session.get_absolute_url())).cookies["mm_vid"].value
    assert issued != cookie and len(issued) == 32
    assert BufferedEvent.objects.get(name="view").visitor_id == issued


def test_logout_starts_a_new_visitor(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw-123456-x", is_staff=True)
    client.force_login(user)
    before = client.get("/").cookies.get("mm_vid")
    visitor = before.value if before else client.cookies["mm_vid"].value
    response = client.post(reverse("admin:logout"))
    assert response.cookies["mm_vid"].value != visitor


def test_buy_now_goes_through_the_click_endpoint(client, committed):
    drop = make_drop()
    page = client.get(drop.session.get_absolute_url(), headers={"User-Agent": BROWSER})
    assert reverse("analytics:click", args=[drop.pk]).encode() in page.content
    with committed():
        response = client.get(reverse("analytics:click", args=[drop.pk]), headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    assert response["Location"] == reverse("commerce:checkout", args=[drop.pk])
    assert [(e["name"], e["d"], e["k"]) for e in _buffered()] == [("click", drop.pk, drop.sku_id)]
    assert client.get(reverse("analytics:click", args=[999999])).status_code == 404


# --- the beacon ---------------------------------------------------------------------------------

BEACON = "/a/e"


def post(client, body, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(BEACON, data=data, content_type="application/json", headers={"User-Agent": BROWSER, **headers})


def test_beacon_accepts_valid_events_and_reports_bad_ones():
    from django.test import Client

    from tests.factories import LiveSessionFactory

    session = LiveSessionFactory()
    private = LiveSessionFactory(is_private=True)  # no page of it carries the beacon
    client = Client()
    response = post(
        client,
        {
            "events": [
                {"name": "share", "session_id": session.pk, "props": {"to": "whatsapp"}},
                {"name": "purchase", "session_id": session.pk},
                {"name": "view", "session_id": "x"},
                {"name": "view", "session_id": private.pk},
                {"name": "view", "session_id": private.pk + 1000},  # no such session
                {"name": "view", "session_id": [1]},
            ]
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "name"),
        (2, "session_id"),
        (3, "session_id"),
        (4, "session_id"),
        (5, "session_id"),
    ]
    (event,) = _buffered()
    assert event["name"] == "share"
    assert event["v"] == response.cookies["mm_vid"].value


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        ({"events": []}, 422, "invalid"),
        ([1, 2], 422, "invalid"),
        ({"events": [{"name": "view"}] * 21}, 413, "too_many_events"),
        ({"events": [{"name": "view", "props": {"x": "y" * 17000}}]}, 413, "too_large"),
        ({"events": [{"name": "view", "customer_id": 5}]}, 422, None),
        ({"events": [{"name": ["view"], "session_id": 5}]}, 422, None),
        (b"[" * 5000 + b"]" * 5000, 400, "invalid_json"),
        # what PostgreSQL's jsonb refuses must be refused here, not poison the writer's batch
        (b'{"events": [{"name": "view", "session_id": 5, "props": {"x": NaN}}]}', 422, None),
        (b'{"events": [{"name": "view", "session_id": 5, "props": {"x": 1e400}}]}', 422, None),
        ({"events": [{"name": "view", "session_id": 5, "props": {"x": "a\u0000b"}}]}, 400, "bad_request"),  # the request guard (config.middleware)
        ({"events": [{"name": "view", "session_id": 5, "props": {"k\u0000": 1}}]}, 400, "bad_request"),  # the request guard (config.middleware)
        (b'{"events": [{"name": "view", "session_id": 5, "props": {"x": "\\ud800"}}]}', 400, "bad_request"),  # the request guard (config.middleware)
    ],
)
def test_beacon_refuses_bad_input_with_json_errors(client, body, status, code):
    response = post(client, body)
    assert response.status_code == status
    if code:
        assert response.json()["code"] == code
    assert BufferedEvent.objects.count() == 0


def test_beacon_only_takes_post_and_ignores_bots(client):
    assert client.get(BEACON).status_code == 405
    response = post(client, {"name": "view", "session_id": 1}, **{"User-Agent": GOOGLEBOT})
    assert response.status_code == 202
    assert response.json()["bot"] is True
    assert BufferedEvent.objects.count() == 0


def test_beacon_answers_503_not_500_when_the_buffer_is_down(client, monkeypatch):
    def broken(rows):
        raise DatabaseError("connection refused")

    monkeypatch.setattr("analytics.services.capture.buffer_append", broken)
    response = post(client, {"name": "view", "session_id": 1})
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


def test_flushed_events_keep_their_fields(committed, process, now):
    when = timezone.now() - dt.timedelta(seconds=5)
    with committed():
        event_capture(
            name="share", visitor_id="v1", session_id=9, drop_id=8, sku_id=7, occurred_at=when, props={"to": "x"}
        )
    assert process() == 1
    event = Event.objects.get()
    assert (event.name, event.actor, event.session_id, event.drop_id, event.sku_id) == ("share", "v:v1", 9, 8, 7)
    assert event.occurred_at == when
    assert event.props == {"to": "x"}
    assert BufferedEvent.objects.count() == 0


def test_the_beacon_refuses_posts_from_other_sites_and_is_never_cached(client):
    drop = make_drop()
    body = json.dumps({"events": [{"name": "view", "session_id": drop.session_id}]})
    other = client.post("/a/e", body, content_type="text/plain", headers={"Origin": "https://evil.example"})
    assert other.status_code == 403 and other.json()["code"] == "cross_origin"
    assert "no-store" in other["Cache-Control"]
    own = client.post("/a/e", body, content_type="application/json", headers={"Origin": "http://testserver"})
    assert own.status_code == 202 and "no-store" in own["Cache-Control"]
    assert len(_buffered()) == 1


def test_the_beacon_learns_a_session_made_public_soon_and_one_made_private_within_a_minute(monkeypatch):
    from django.test import Client

    from analytics import views
    from tests.factories import LiveSessionFactory

    clock = [1000.0]
    monkeypatch.setattr(views.time, "monotonic", lambda: clock[0])
    session = LiveSessionFactory(is_private=True)
    client = Client()

    def accepted():
        return post(client, {"events": [{"name": "view", "session_id": session.pk}]}).json()["accepted"]

    assert accepted() == 0
    session.is_private = False
    session.save(update_fields=["is_private"])
    assert accepted() == 0  # the "no" is kept a few seconds
    clock[0] += views.NOT_PUBLIC_CACHE_SECONDS + 0.1
    assert accepted() == 1
    session.is_private = True
    session.save(update_fields=["is_private"])
    assert accepted() == 1  # the "yes" is kept up to a minute: one query per session a minute at a spike
    clock[0] += views.PUBLIC_SESSION_CACHE_SECONDS + 0.1
    assert accepted() == 0
