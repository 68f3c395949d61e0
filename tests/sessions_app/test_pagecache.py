"""Spike caching: an expired page or status payload is rebuilt by one request, not by all of them."""

from __future__ import annotations

import json
import threading

import pytest
from django.urls import reverse

from commerce.models import Drop
from sessions_app import pagecache, views
from sessions_app.pagecache import cache_store, cached_or_claim
from tests.factories import make_drop


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(pagecache.time, "time", lambda: now[0])
    return now


def test_a_stale_entry_is_claimed_by_exactly_one_of_many_concurrent_requests(clock):
    cache_store("k", "v1", 1)
    clock[0] += 1.5  # stale
    gate, results = threading.Barrier(32), []

    def request():
        gate.wait()
        results.append(cached_or_claim("k"))

    threads = [threading.Thread(target=request) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # one request rebuilds (None), the other 31 get the previous value at once
    assert results.count(None) == 1
    assert results.count("v1") == 31
    cache_store("k", "v2", 1)
    assert cached_or_claim("k") == "v2"


def test_a_rebuild_that_died_lets_another_request_retry_after_the_claim_lapses(clock):
    cache_store("k", "v1", 1)
    clock[0] += 2
    assert cached_or_claim("k") is None  # claimed, then the rebuild crashed: nothing stored
    assert cached_or_claim("k") == "v1"
    pagecache.cache.delete("k:claim")  # what CLAIM_SECONDS of cache expiry does
    assert cached_or_claim("k") is None


@pytest.mark.django_db
def test_live_status_serves_the_previous_payload_while_one_request_rebuilds_it(client, clock, monkeypatch):
    drop = make_drop(quantity=5)
    url = reverse("sessions_app:session_status", args=[drop.session.public_id])
    assert json.loads(client.get(url).content)["drops"][0]["available"] == 5
    Drop.objects.filter(pk=drop.pk).update(available=4)
    rebuilds = []
    real = views.drops_for_session
    monkeypatch.setattr(views, "drops_for_session", lambda **kw: rebuilds.append(1) or real(**kw))
    # fresh: no rebuild, the cached figure
    assert json.loads(client.get(url).content)["drops"][0]["available"] == 5
    assert rebuilds == []
    # stale, and another request is rebuilding it: the previous payload, no second rebuild
    clock[0] += 1.5
    pagecache.cache.add(f"session-status:{drop.session.public_id}:claim", 1, 5)
    assert json.loads(client.get(url).content)["drops"][0]["available"] == 5
    assert rebuilds == []
    # once that claim is gone, the next request rebuilds and everyone sees the new figure
    pagecache.cache.delete(f"session-status:{drop.session.public_id}:claim")
    assert json.loads(client.get(url).content)["drops"][0]["available"] == 4
    assert rebuilds == [1]
    assert json.loads(client.get(url).content)["drops"][0]["available"] == 4


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", ["sessionid=stale-session-key", "csrftoken=x", "mm_vid=zzz"])
def test_live_status_never_carries_cookies_or_vary_cookie(client, cookie):
    drop = make_drop(quantity=5)
    name, value = cookie.split("=")
    client.cookies[name] = value
    response = client.get(reverse("sessions_app:session_status", args=[drop.session.public_id]))
    assert response.status_code == 200
    assert "Set-Cookie" not in str(response.serialize_headers(), "latin-1")
    assert "Cookie" not in response.get("Vary", "")
    assert sorted(response["Cache-Control"].split(", ")) == ["max-age=1", "public"]
