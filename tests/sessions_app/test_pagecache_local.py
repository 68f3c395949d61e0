"""The process-local layer in front of the shared page cache (sessions_app.pagecache): a spike costs each
process about two shared-cache reads a second per URL, and what it may serve late is bounded."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from sessions_app import pagecache
from sessions_app.pagecache import cache_forget, cache_store, cached_entry, cached_fresh, status_cache_key
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def local(settings, monkeypatch):
    """The layer on (0.5 s, as deployed) with a clock the test moves."""
    settings.PAGE_CACHE_LOCAL_SECONDS = 0.5
    clock = [1000.0]
    monkeypatch.setattr(pagecache.time, "monotonic", lambda: clock[0])
    return clock


class CountingGets:
    def __init__(self, monkeypatch):
        self.keys: list[str] = []
        real = cache.get
        monkeypatch.setattr(cache, "get", lambda key, *a, **kw: self.keys.append(key) or real(key, *a, **kw))


def test_a_spike_of_polls_reads_the_shared_cache_once_per_window(local, monkeypatch):
    session = make_drop(quantity=5).session  # live
    url = reverse("sessions_app:session_status", args=[session.public_id])
    client = Client()
    first = client.get(url).content  # builds and stores the entry
    gets = CountingGets(monkeypatch)
    bodies = {client.get(url).content for _ in range(50)}
    assert bodies == {first}
    assert gets.keys.count(status_cache_key(session.public_id)) == 0  # stored by this process: its own copy
    local[0] += 0.6  # the window passed: one read of the shared entry, then local again
    for _ in range(20):
        client.get(url)
    assert gets.keys.count(status_cache_key(session.public_id)) == 1


def test_another_processs_change_is_seen_after_the_window_and_a_stale_entry_never(local):
    key = "session-status:test"
    cache_store(key, "v1", 10)
    assert cached_fresh(key) == "v1"
    cache.set(key, (time.time() + 10, "v2"), 60)  # another process stored a newer copy
    assert cached_fresh(key) == "v1"  # within the half second
    local[0] += 0.6
    assert cached_fresh(key) == "v2"
    # an entry past its own freshness is never served from the local copy, however recently it was read
    cache.set(key, (time.time() - 1, "old"), 60)
    local[0] += 0.6
    assert cached_entry(key)[1] == "old" and cached_fresh(key) is None


def test_changes_made_in_this_process_take_effect_at_once(local):
    key = "session-status:test"
    cache_store(key, "v1", 10)
    assert cached_fresh(key) == "v1"
    cache_store(key, "v2", 10)
    assert cached_fresh(key) == "v2"
    cache_forget(key)
    assert cached_entry(key) is None and cache.get(key) is None


def test_a_session_made_private_is_404_at_once_in_the_process_that_saw_it(local):
    session = make_drop(quantity=5).session
    url = reverse("sessions_app:session_status", args=[session.public_id])
    assert Client().get(url).status_code == 200
    session.is_private = True
    session.save(update_fields=["is_private"])  # the control room's forget runs on commit (sessions_app.control)
    cache_forget(status_cache_key(session.public_id), pagecache.page_cache_key(session.public_id))
    assert Client().get(url).status_code == 404


def test_off_means_every_read_goes_to_the_shared_cache(settings, monkeypatch):
    settings.PAGE_CACHE_LOCAL_SECONDS = 0
    key = "session-status:test"
    cache_store(key, "v1", 10)
    cache.set(key, (time.time() + 10, "v2"), 60)
    assert cached_fresh(key) == "v2" and not pagecache._local


def test_while_another_request_rebuilds_a_stale_entry_its_copy_is_served_without_asking_each_time(local, monkeypatch):
    from sessions_app.pagecache import cached_or_claim, cached_unless_rebuild_due

    key = "session-status:test"
    cache.set(key, (time.time() - 0.1, "stale"), 60)  # went stale a moment ago
    assert cached_unless_rebuild_due(key) is None  # nobody rebuilds it: the caller must go the full way
    assert cache.add(f"{key}:claim", 1, 5)  # another request claimed the rebuild
    gets = CountingGets(monkeypatch)
    assert cached_unless_rebuild_due(key) == "stale"
    asked = len(gets.keys)
    assert asked >= 1  # it looked once
    for _ in range(50):  # the rest of the rebuild window: its own copy, no shared reads
        assert cached_unless_rebuild_due(key) == "stale" and cached_or_claim(key) == "stale"
    assert len(gets.keys) == asked
    local[0] += 0.06  # past the recheck: it asks again and sees the rebuilt entry
    cache.set(key, (time.time() + 1, "fresh"), 60)
    cache.delete(f"{key}:claim")
    assert cached_unless_rebuild_due(key) == "fresh"


def test_a_status_poll_during_another_requests_rebuild_takes_the_fast_path(local, monkeypatch):
    session = make_drop(quantity=5).session
    url = reverse("sessions_app:session_status", args=[session.public_id])
    client = Client()
    body = client.get(url).content  # the full stack: builds the entry, the fast path learns the headers
    key = status_cache_key(session.public_id)
    fresh_until, value = cache.get(key)
    cache.set(key, (time.time() - 0.1, value), 60)  # stale now
    assert cache.add(f"{key}:claim", 1, 5)  # and another request is rebuilding it
    local[0] += 0.6  # past this process's local window
    adds = []
    real_add = cache.add
    monkeypatch.setattr(cache, "add", lambda *a, **kw: adds.append(a[0]) or real_add(*a, **kw))
    for _ in range(10):
        response = client.get(url)
        assert response.status_code == 200 and response.content == body
    assert adds == []  # the full stack's view would have tried to claim the rebuild
