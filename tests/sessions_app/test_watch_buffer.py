"""Heartbeats buffered in Redis (sessions_app.watch): no database work per beat, nothing lost on the way
to WatchEvidence. These tests use the machine's Redis whatever the suite's cache is."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
import redis
from django.core.cache import cache
from django.utils import timezone

from sessions_app import watch
from sessions_app.models import LiveSession, WatchEvidence
from sessions_app.watch import (
    BUFFER_KEEP_AFTER_SECONDS,
    MAX_GAP_SECONDS,
    viewers_now,
    watch_buffer_in_use,
    watch_evidence_flush,
    watch_poll_record,
    watched_seconds,
)
from tests.commerce.test_races import race
from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(settings):
    """The default cache on Redis (REDIS_URL, else database 14 on loopback), emptied before and after."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("needs Redis on 127.0.0.1:6379 (CI starts it)")
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": "mmt"}
    }
    cache.clear()
    assert watch_buffer_in_use()
    yield
    cache.clear()


def beat(session, visitor, at):
    return watch_poll_record(session_id=session.pk, session_status="live", visitor_id=visitor, now=at)


def test_beats_cost_no_query_and_are_read_from_the_buffer_until_flushed(redis_cache, django_assert_num_queries):
    session = LiveSessionFactory(status="live")
    visitor, t0 = uuid.uuid4().hex, timezone.now()
    with django_assert_num_queries(1):  # the session's first: its rows (none) are loaded into the buffer
        assert beat(session, visitor, t0)
    with django_assert_num_queries(0):
        assert beat(session, uuid.uuid4().hex, t0)  # another newcomer: the buffer has all there is
        assert beat(session, visitor, t0 + dt.timedelta(seconds=20))
        assert not beat(session, visitor, t0 + dt.timedelta(seconds=25))  # inside the 10 s write window
        assert beat(session, visitor, t0 + dt.timedelta(seconds=100))  # away: credited MAX_GAP_SECONDS
        assert watched_seconds(session_id=session.pk, visitor_id=visitor) == 20 + MAX_GAP_SECONDS
        assert viewers_now(session_id=session.pk, now=t0 + dt.timedelta(seconds=101)) == 1
    assert not WatchEvidence.objects.exists()

    assert watch_evidence_flush() == 2
    row = WatchEvidence.objects.get(visitor_id=visitor)
    assert (row.session_id, row.visitor_id, row.polls, row.watched_seconds) == (session.pk, visitor, 3, 50)
    assert (row.first_poll_at, row.last_poll_at) == (t0, t0 + dt.timedelta(seconds=100))
    # flushing again changes nothing and adds no row
    watch_evidence_flush()
    assert sorted(WatchEvidence.objects.values_list("polls", "watched_seconds")) == [(1, 0), (3, 50)]


def test_after_redis_loses_its_data_a_visitor_carries_on_from_the_table(redis_cache):
    session = LiveSessionFactory(status="live")
    visitor, t0 = uuid.uuid4().hex, timezone.now()
    for step in (0, 20, 40):
        beat(session, visitor, t0 + dt.timedelta(seconds=step))
    watch_evidence_flush()
    cache.clear()  # Redis restarted (it keeps nothing on disk)

    assert watched_seconds(session_id=session.pk, visitor_id=visitor) == 40  # from the table
    assert beat(session, visitor, t0 + dt.timedelta(seconds=60))
    assert watched_seconds(session_id=session.pk, visitor_id=visitor) == 60
    watch_evidence_flush()
    row = WatchEvidence.objects.get()
    assert (row.polls, row.watched_seconds, row.first_poll_at) == (4, 60, t0)


def _viewers_with_rows_then_a_redis_restart(count: int):
    """A live session whose `count` viewers beat twice (20 s credited each) and were flushed to the table,
    then Redis lost its data. Returns (session, visitor ids, the first beat's time)."""
    session = LiveSessionFactory(status="live")
    old, t0 = [uuid.uuid4().hex for _ in range(count)], timezone.now()
    for v in old:
        beat(session, v, t0)
        beat(session, v, t0 + dt.timedelta(seconds=20))
    watch_evidence_flush()
    cache.clear()
    return session, old, t0


def test_after_a_restart_the_first_beat_loads_the_sessions_rows_once(redis_cache, django_assert_num_queries):
    # after Redis lost its data an unknown visitor may have a row: the first unknown beat loads them all
    session, old, t0 = _viewers_with_rows_then_a_redis_restart(3)
    with django_assert_num_queries(1):  # a newcomer: one query loads the three rows
        assert beat(session, uuid.uuid4().hex, t0 + dt.timedelta(seconds=30))
    with django_assert_num_queries(0):  # the old viewers carry on from their rows, and newcomers are new
        for v in old:
            assert beat(session, v, t0 + dt.timedelta(seconds=40))
        assert beat(session, uuid.uuid4().hex, t0 + dt.timedelta(seconds=40))
    assert {watched_seconds(session_id=session.pk, visitor_id=v) for v in old} == {40}
    assert viewers_now(session_id=session.pk, now=t0 + dt.timedelta(seconds=41)) == 5
    assert watch_evidence_flush() == 5  # the loaded rows were not "changed": only what beat since
    assert sorted(WatchEvidence.objects.values_list("polls", "watched_seconds")) == [(1, 0)] * 2 + [(3, 40)] * 3


def test_while_another_request_loads_the_rows_a_visitor_is_looked_up_alone(redis_cache, django_assert_num_queries):
    session = LiveSessionFactory(status="live")
    old, t0 = uuid.uuid4().hex, timezone.now()
    beat(session, old, t0)
    beat(session, old, t0 + dt.timedelta(seconds=20))
    watch_evidence_flush()
    cache.clear()
    watch._redis().set(f"{watch._keys(session.pk)[0]}:loading", "1", ex=30)  # another request is loading
    with django_assert_num_queries(1):  # the old viewer: their row is looked up and carried on
        assert beat(session, old, t0 + dt.timedelta(seconds=40))
    assert watched_seconds(session_id=session.pk, visitor_id=old) == 40


def test_a_flush_never_lowers_what_the_table_has(redis_cache):
    # a slower flush that read the buffer earlier must not undo a later one: values only move forward
    session = LiveSessionFactory(status="live")
    visitor, t0 = uuid.uuid4().hex, timezone.now()
    beat(session, visitor, t0)
    beat(session, visitor, t0 + dt.timedelta(seconds=20))
    watch_evidence_flush()
    later = t0 + dt.timedelta(seconds=300)
    WatchEvidence.objects.update(watched_seconds=500, polls=40, last_poll_at=later)
    watch_evidence_flush()
    row = WatchEvidence.objects.get()
    assert (row.watched_seconds, row.polls, row.last_poll_at, row.first_poll_at) == (500, 40, later, t0)


def test_a_flush_killed_half_way_loses_nothing(redis_cache, monkeypatch):
    sessions = [LiveSessionFactory(status="live") for _ in range(2)]
    t0 = timezone.now()
    for session in sessions:
        for step in (0, 20):
            beat(session, "a" * 32, t0 + dt.timedelta(seconds=step))
    real_upsert, calls = watch._upsert, []

    def dies_on_the_second(session_id, rows):
        calls.append(session_id)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real_upsert(session_id, rows)

    monkeypatch.setattr(watch, "_upsert", dies_on_the_second)
    with pytest.raises(SystemExit):
        watch_evidence_flush()
    assert WatchEvidence.objects.count() == 1
    monkeypatch.setattr(watch, "_upsert", real_upsert)
    assert watch_evidence_flush() == 1  # the next run copies what the killed one had taken
    assert sorted(WatchEvidence.objects.values_list("session_id", "watched_seconds")) == [
        (sessions[0].pk, 20),
        (sessions[1].pk, 20),
    ]


def test_an_ended_session_leaves_the_buffer_only_after_its_last_copy(redis_cache):
    session = LiveSessionFactory(status="live")
    visitor, t0 = uuid.uuid4().hex, timezone.now()
    beat(session, visitor, t0)
    beat(session, visitor, t0 + dt.timedelta(seconds=20))
    LiveSession.objects.filter(pk=session.pk).update(status="ended", ended_at=t0 + dt.timedelta(seconds=25))
    # just ended: copied, still buffered (a beat that read a live status a moment ago may still land)
    watch_evidence_flush(now=t0 + dt.timedelta(seconds=30))
    assert watch._redis().sismember(watch._keys(0)[2], session.pk)
    # long after the last beat: copied and dropped; readers fall back to the table
    watch_evidence_flush(now=t0 + dt.timedelta(seconds=20 + BUFFER_KEEP_AFTER_SECONDS + 1))
    client = watch._redis()
    assert not client.sismember(watch._keys(0)[2], session.pk)
    assert not client.exists(watch._keys(session.pk)[0])
    assert watched_seconds(session_id=session.pk, visitor_id=visitor) == 20
    assert viewers_now(session_id=session.pk, now=t0 + dt.timedelta(seconds=21)) == 1  # the table's answer


def test_the_missed_session_sweep_sees_beats_still_in_the_buffer(redis_cache):
    from analytics.models import VisitorAlias
    from commerce.memberships.services_credits import member_credits_grant_for_session
    from tests.commerce.memberships.members_support import make_member

    t0 = timezone.now()
    day = dt.timedelta(days=1)
    member = make_member("watcher@example.com", started_at=t0 - day, period_start=t0 - day)
    session = LiveSessionFactory(status="live", members_only=True, went_live_at=t0)
    visitor = uuid.uuid4().hex
    VisitorAlias.objects.create(visitor_id=visitor, customer_id=member.customer_id, identified_at=t0)
    beat(session, visitor, t0 + dt.timedelta(seconds=5))
    LiveSession.objects.filter(pk=session.pk).update(status="ended", ended_at=t0 + dt.timedelta(minutes=10))
    assert not WatchEvidence.objects.exists()  # the flush has not run yet
    assert member_credits_grant_for_session(session_id=session.pk) == 0  # they watched: no credit
    assert WatchEvidence.objects.filter(visitor_id=visitor).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_beats_count_once_per_window_and_racing_flushes_lose_nothing(redis_cache):
    # given 20 viewers, each with three tabs (or retries) beating at the same instant, and flushes
    # running in the middle of it, five rounds 15 s apart
    session = LiveSessionFactory(status="live")
    visitors = [uuid.uuid4().hex for _ in range(20)]
    t0 = timezone.now()
    for r in range(5):
        at = t0 + dt.timedelta(seconds=15 * r)

        def act(i, at=at):
            if i % 16 == 15:
                return watch_evidence_flush()
            return beat(session, visitors[i % 20], at)

        results = race(64, act)
        assert not [x for x in results if isinstance(x, Exception)], results
        # then each viewer was recorded exactly once this round
        assert sum(1 for i, x in enumerate(results) if i % 16 != 15 and x is True) == 20
    watch_evidence_flush()
    rows = WatchEvidence.objects.filter(session=session)
    assert rows.count() == 20
    assert set(rows.values_list("polls", "watched_seconds", "first_poll_at", "last_poll_at")) == {
        (5, 60, t0, t0 + dt.timedelta(seconds=60))
    }


def test_a_flush_copies_only_what_changed_since_the_last_one(redis_cache):
    session = LiveSessionFactory(status="live")
    visitors, t0 = [uuid.uuid4().hex for _ in range(3)], timezone.now()
    for v in visitors:
        beat(session, v, t0)
    assert watch_evidence_flush() == 3
    assert watch_evidence_flush() == 0  # nobody beat since: nothing rewritten
    beat(session, visitors[1], t0 + dt.timedelta(seconds=20))
    assert beat(session, visitors[1], t0 + dt.timedelta(seconds=25)) is False  # in the write window
    assert watch_evidence_flush() == 1
    assert WatchEvidence.objects.get(visitor_id=visitors[1]).watched_seconds == 20


def test_a_forged_visitor_id_is_refused_and_a_bad_buffer_entry_blocks_no_flush(redis_cache, monkeypatch):
    from django.test import Client
    from django.urls import reverse

    sessions = [LiveSessionFactory(status="live") for _ in range(3)]
    t0 = timezone.now()
    # "<32 hex>\n" passed a `^…$` check; Django unquotes it from a cookie header
    assert not beat(sessions[0], "a" * 32 + "\n", t0)
    client = Client()
    client.cookies["mm_vid"] = "a" * 32 + "\n"
    assert client.post(reverse("sessions_app:session_watching", args=[sessions[0].public_id])).status_code == 204
    for session in sessions:
        beat(session, "b" * 32, t0)
    # a field that is not a visitor id (left by an older release, or written by hand) is dropped, not copied
    hash_key, _, _, changed_key, _ = watch._keys(sessions[0].pk)
    watch._redis().hset(hash_key, "z" * 40, f"{t0.timestamp()} {t0.timestamp()} 5 1")
    watch._redis().sadd(changed_key, "z" * 40)
    # and one session whose copy fails does not stop the others
    real_upsert = watch._upsert

    def fails_for_the_second(session_id, rows):
        if session_id == sessions[1].pk:
            raise ValueError("database said no")
        return real_upsert(session_id, rows)

    monkeypatch.setattr(watch, "_upsert", fails_for_the_second)
    assert watch_evidence_flush() == 2
    assert sorted(WatchEvidence.objects.values_list("session_id", "visitor_id")) == [
        (sessions[0].pk, "b" * 32),
        (sessions[2].pk, "b" * 32),
    ]
    assert not watch._redis().hexists(hash_key, "z" * 40)
    monkeypatch.setattr(watch, "_upsert", real_upsert)
    assert watch_evidence_flush() == 1  # the failed one is copied on the next run
    monkeypatch.setattr(watch, "_upsert", fails_for_the_second)
    beat(sessions[1], "c" * 32, t0)
    with pytest.raises(ValueError, match="database said no"):  # one session's caller (the credit sweep) is told
        watch_evidence_flush(session_id=sessions[1].pk)


def test_a_status_poll_on_a_members_only_session_is_no_evidence_for_a_non_member(redis_cache):
    from django.test import Client
    from django.urls import reverse

    session = LiveSessionFactory(status="live", members_only=True)
    client = Client()
    client.cookies["mm_vid"] = "d" * 32
    assert client.get(reverse("sessions_app:session_status", args=[session.public_id])).status_code == 200
    watch_evidence_flush()
    assert not WatchEvidence.objects.exists()
    assert viewers_now(session_id=session.pk, now=timezone.now()) == 0


def test_a_buffer_behind_the_table_stops_calling_itself_complete(redis_cache):
    # Redis restored from an older snapshot: the hash lacks a visitor the table has
    session = LiveSessionFactory(status="live")
    t0 = timezone.now()
    beat(session, "a" * 32, t0)
    beat(session, "b" * 32, t0)
    beat(session, "b" * 32, t0 + dt.timedelta(seconds=20))
    watch_evidence_flush()
    hash_key = watch._keys(session.pk)[0]
    watch._redis().hdel(hash_key, "b" * 32)  # b joined after the snapshot
    watch_evidence_flush()
    assert not watch._redis().hexists(hash_key, watch.COMPLETE)
    # so b's next beat carries on from the table instead of starting again at 0
    assert beat(session, "b" * 32, t0 + dt.timedelta(seconds=40))
    assert watched_seconds(session_id=session.pk, visitor_id="b" * 32) == 40


def test_a_buffer_restored_behind_the_table_is_raised_to_it_at_the_next_flush(redis_cache):
    # Redis restored from an older snapshot that predates b; b beats again before the next flush, so
    # the buffer starts b again from zero (the buffer still calls itself complete)
    session = LiveSessionFactory(status="live")
    t0 = timezone.now()
    a, b = "a" * 32, "b" * 32
    beat(session, a, t0)
    for step in (0, 20, 40, 60, 80, 100):
        beat(session, b, t0 + dt.timedelta(seconds=step))
    watch_evidence_flush()
    watch._redis().hdel(watch._keys(session.pk)[0], b)
    assert beat(session, b, t0 + dt.timedelta(seconds=120))
    assert watched_seconds(session_id=session.pk, visitor_id=b) == 0  # until the flush
    watch_evidence_flush()
    assert WatchEvidence.objects.get(visitor_id=b).watched_seconds == 100  # the table never went down
    # the flush raised the buffer to the table: readers asking Redis first see the table's figure, and
    # b's next beat carries on from it
    assert watched_seconds(session_id=session.pk, visitor_id=b) == 100
    assert beat(session, b, t0 + dt.timedelta(seconds=140))
    assert watched_seconds(session_id=session.pk, visitor_id=b) == 120
    watch_evidence_flush()
    row = WatchEvidence.objects.get(visitor_id=b)
    assert (row.watched_seconds, row.polls, row.first_poll_at) == (120, 7, t0)


def test_a_flush_killed_while_another_runs_strands_no_newer_state(redis_cache, monkeypatch):
    # flush A takes v; v beats; flush B takes v's newer state and is killed; A then finishes
    session = LiveSessionFactory(status="live")
    visitor, t0 = uuid.uuid4().hex, timezone.now()
    beat(session, visitor, t0)
    real_upsert = watch._upsert
    calls = []

    def upsert(session_id, rows):
        calls.append(rows)
        if len(calls) == 2:
            raise SystemExit("flush B killed")
        if len(calls) == 1:
            assert beat(session, visitor, t0 + dt.timedelta(seconds=20))
            with pytest.raises(SystemExit):
                watch_evidence_flush()
        return real_upsert(session_id, rows)

    monkeypatch.setattr(watch, "_upsert", upsert)
    watch_evidence_flush()
    monkeypatch.setattr(watch, "_upsert", real_upsert)
    assert WatchEvidence.objects.get().watched_seconds == 0  # A copied the state it had taken
    # the newer state is still to be copied: the next flush (or the credit sweep's) finds it
    assert watch_evidence_flush(session_id=session.pk) == 1
    assert WatchEvidence.objects.get().watched_seconds == 20
    assert watch_evidence_flush() == 0


def test_a_throttled_beat_on_a_members_only_session_costs_no_query(redis_cache, django_assert_num_queries):
    from django.test import RequestFactory

    from commerce.memberships.identity import MEMBER_COOKIE
    from sessions_app.views import _watch_record
    from tests.commerce.memberships.members_support import make_member, member_cookie_value

    t0 = timezone.now()
    day = dt.timedelta(days=1)
    member = make_member("beats@example.com", started_at=t0 - day, period_start=t0 - day)
    session = LiveSessionFactory(status="live", members_only=True)

    def member_beat(at):
        request = RequestFactory().post("/", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
        request.COOKIES = {"mm_vid": "c" * 32, MEMBER_COOKIE: member_cookie_value(member.pass_token)}
        _watch_record(request, session.pk, "live", True, now=at)

    member_beat(t0)
    assert watched_seconds(session_id=session.pk, visitor_id="c" * 32) == 0  # recorded (0 s so far)
    with django_assert_num_queries(0):  # inside the write window: no member check, nothing recorded
        member_beat(t0 + dt.timedelta(seconds=5))
    member_beat(t0 + dt.timedelta(seconds=20))  # past it: checked again and credited
    assert watched_seconds(session_id=session.pk, visitor_id="c" * 32) == 20


def test_with_redis_down_beats_are_dropped_and_readers_use_the_table(settings, caplog):
    session = LiveSessionFactory(status="live")
    t0 = timezone.now()
    WatchEvidence.objects.create(
        session=session, visitor_id="e" * 32, first_poll_at=t0, last_poll_at=t0, watched_seconds=40, polls=3
    )
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    assert watch_buffer_in_use()
    assert beat(session, "e" * 32, t0 + dt.timedelta(seconds=20)) is False  # not recorded, not raised
    assert "Redis unavailable" in caplog.text
    assert watched_seconds(session_id=session.pk, visitor_id="e" * 32) == 40
    assert viewers_now(session_id=session.pk, now=t0 + dt.timedelta(seconds=1)) == 1
    assert WatchEvidence.objects.get().polls == 3


def test_the_credit_sweep_goes_on_past_a_session_it_cannot_flush(redis_cache, monkeypatch):
    from commerce.memberships import services_credits
    from commerce.memberships.models import MemberCredit
    from tests.commerce.memberships.members_support import make_member

    t0 = timezone.now()
    make_member("missed@example.com", started_at=t0 - dt.timedelta(days=3), period_start=t0 - dt.timedelta(days=3))
    ended = t0 - dt.timedelta(hours=1)
    first, second = (
        LiveSessionFactory(status="ended", members_only=True, went_live_at=ended, ended_at=ended) for _ in range(2)
    )
    real_flush = watch.watch_evidence_flush

    def flush(*, session_id=None, now=None):
        if session_id == first.pk:
            raise redis.ConnectionError("Redis went away")
        return real_flush(session_id=session_id, now=now)

    monkeypatch.setattr(watch, "watch_evidence_flush", flush)
    assert services_credits.member_credits_grant_due(now=t0) == 1  # the second session's credit
    assert list(MemberCredit.objects.values_list("session_id", flat=True)) == [second.pk]
    monkeypatch.setattr(watch, "watch_evidence_flush", real_flush)
    assert services_credits.member_credits_grant_due(now=t0) == 1  # the next run retries the first
    assert MemberCredit.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_after_a_restart_racing_first_beats_load_once_and_each_viewer_carries_on_exactly(redis_cache):
    # given 20 viewers with rows, Redis restarted, then their next beats and 20 newcomers' at one instant
    session, old, t0 = _viewers_with_rows_then_a_redis_restart(20)
    new = [uuid.uuid4().hex for _ in range(20)]
    at = t0 + dt.timedelta(seconds=40)
    results = race(40, lambda i: beat(session, (old + new)[i], at))
    assert results == [True] * 40, results
    assert watch._redis().hexists(watch._keys(session.pk)[0], watch.COMPLETE)
    watch_evidence_flush()
    rows = dict(WatchEvidence.objects.filter(session=session).values_list("visitor_id", "watched_seconds"))
    assert {rows[v] for v in old} == {40} and {rows[v] for v in new} == {0} and len(rows) == 40
