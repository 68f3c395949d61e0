"""The live-status JSON's fast path (sessions_app.middleware.StatusFastPathMiddleware, issue #15).

A fresh cached poll is answered above the inner middleware; it must be the same answer the full stack
gives (body and headers), never serve a stale or dropped entry, and still count as watch evidence.
"""

from __future__ import annotations

import json

import pytest
from django.middleware.common import CommonMiddleware
from django.urls import reverse

from sessions_app.control.services import viewer_caches_forget
from tests.factories import make_drop
from tests.watching import evidence, seconds_later

pytestmark = pytest.mark.django_db

VISITOR = "ab" * 16


@pytest.fixture
def full_stack(monkeypatch):
    """Counts the requests that went through the inner middleware (CommonMiddleware sits below the fast path)."""
    calls = []
    real = CommonMiddleware.process_request

    def counted(self, request):
        calls.append(request.path)
        return real(self, request)

    monkeypatch.setattr(CommonMiddleware, "process_request", counted)
    return calls


def _headers(response) -> dict:
    return {k: v for k, v in response.items() if k not in ("Date",)}


def test_a_fresh_poll_is_answered_above_the_stack_with_the_same_body_and_headers(client, full_stack):
    drop = make_drop(quantity=5)
    url = reverse("sessions_app:session_status", args=[drop.session.public_id])
    slow = client.get(url)  # builds the entry; this process learns the headers
    assert len(full_stack) == 1
    fast = client.get(url)
    assert len(full_stack) == 1  # no second trip through the stack
    assert fast.status_code == 200
    assert fast.content == slow.content
    assert _headers(fast) == _headers(slow)
    assert "Content-Security-Policy" in fast and fast["X-Content-Type-Options"] == "nosniff"
    assert sorted(fast["Cache-Control"].split(", ")) == ["max-age=1", "public"]
    assert not fast.cookies


def test_a_dropped_entry_goes_down_the_stack_and_shows_the_change_at_once(client, full_stack):
    drop = make_drop(quantity=5)
    url = reverse("sessions_app:session_status", args=[drop.session.public_id])
    client.get(url)
    client.get(url)
    drop.__class__.objects.filter(pk=drop.pk).update(available=2)
    viewer_caches_forget(public_id=drop.session.public_id)  # what a control-room action does after commit
    again = client.get(url)
    assert len(full_stack) == 2
    assert json.loads(again.content)["drops"][0]["available"] == 2


def test_a_stale_entry_is_never_served_by_the_fast_path(client, full_stack, monkeypatch):
    from sessions_app import pagecache

    drop = make_drop(quantity=5)
    url = reverse("sessions_app:session_status", args=[drop.session.public_id])
    client.get(url)
    now = pagecache.time.time()
    monkeypatch.setattr(pagecache.time, "time", lambda: now + 5)  # the 1 s entry is stale
    client.get(url)
    assert len(full_stack) == 2  # rebuilt below, not replayed


@pytest.mark.parametrize(
    "request_kwargs",
    [{"path_suffix": "?x=\x00"}, {"path_suffix": "?v=1"}, {"method": "post"}, {"method": "head"}],
    ids=["nul-in-query", "query-string", "post", "head"],
)
def test_anything_but_a_plain_get_takes_the_full_stack(client, full_stack, request_kwargs):
    drop = make_drop(quantity=5)
    url = reverse("sessions_app:session_status", args=[drop.session.public_id])
    client.get(url)
    response = getattr(client, request_kwargs.get("method", "get"))(url + request_kwargs.get("path_suffix", ""))
    if "\x00" in request_kwargs.get("path_suffix", ""):
        assert response.status_code == 400  # the request guard (above CommonMiddleware) still sees it
    else:
        assert len(full_stack) == 2


def test_an_unknown_session_is_404_not_a_fast_answer(client, full_stack):
    drop = make_drop(quantity=5)
    client.get(reverse("sessions_app:session_status", args=[drop.session.public_id]))
    missing = reverse("sessions_app:session_status", args=["00000000-0000-0000-0000-000000000001"])
    assert client.get(missing).status_code == 404
    assert len(full_stack) == 2


def test_a_fast_poll_still_counts_as_watch_evidence(client, full_stack):
    drop = make_drop(quantity=5)  # a live session
    url = reverse("sessions_app:session_status", args=[drop.session.public_id])
    client.get(url)  # no cookie: the entry is built, nothing recorded
    client.cookies["mm_vid"] = VISITOR
    client.get(url)
    assert len(full_stack) == 1
    assert evidence().get(session_id=drop.session_id).visitor_id == VISITOR


def _beat(client, session):
    return client.post(reverse("sessions_app:session_watching", args=[session.public_id]))


def test_a_heartbeat_with_a_visitor_cookie_is_answered_above_the_stack_and_still_counts(
    client, full_stack, monkeypatch
):
    drop = make_drop(quantity=5)  # a live session
    client.cookies["mm_vid"] = VISITOR
    slow = _beat(client, drop.session)  # this process learns the heartbeat's headers
    assert len(full_stack) == 1
    first = evidence().get(session_id=drop.session_id)
    seconds_later(monkeypatch, 20)  # the next beat, after the 10 s write window
    fast = _beat(client, drop.session)
    assert len(full_stack) == 1  # no second trip through the stack
    assert fast.status_code == 204 and "no-store" in fast["Cache-Control"]
    assert _headers(fast) == _headers(slow)
    counted = evidence().get(session_id=drop.session_id)
    assert (counted.visitor_id, counted.polls, counted.watched_seconds) == (VISITOR, first.polls + 1, 20)


def test_heartbeats_the_fast_path_leaves_to_the_stack(client, full_stack):
    drop = make_drop(quantity=5)
    client.cookies["mm_vid"] = VISITOR
    _beat(client, drop.session)
    missing = reverse("sessions_app:session_watching", args=["00000000-0000-0000-0000-000000000001"])
    assert client.post(missing).status_code == 404  # unknown session: the stack's 404
    assert client.get(reverse("sessions_app:session_watching", args=[drop.session.public_id])).status_code == 405
    del client.cookies["mm_vid"]
    newcomer = _beat(client, drop.session)  # no cookie yet: the full stack gives it one
    assert newcomer.status_code == 204 and "mm_vid" in newcomer.cookies
    assert len(full_stack) == 4
