"""The background event writer: requests do not wait, batches are written, nothing acknowledged is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from analytics.models import BufferedEvent
from analytics.services import capture, event_capture, writer
from analytics.services.capture import buffer_append, event_clean
from analytics.services.writer import EventWriter
from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def thread_writer(settings, monkeypatch):
    """Thread mode with a fresh writer (production's setting), closed at the end of the test."""
    settings.ANALYTICS_WRITER = "thread"
    calls: list[int] = []

    def counted(rows):
        calls.append(len(rows))
        return buffer_append(rows)

    w = EventWriter(append=counted, max_delay=0.02)
    w.calls = calls
    monkeypatch.setattr(writer, "_writer", w)
    yield w
    w.close()


def test_captured_events_from_many_threads_are_written_in_batches_and_none_lost(thread_writer):
    # given 16 request threads capturing 250 views each, at once
    def views(i):
        for k in range(250):
            assert event_capture(name="view", session_id=1, visitor_id=f"t{i}-{k}")
        connection.close()

    threads = [threading.Thread(target=views, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # when the writer has caught up
    assert thread_writer.flush(timeout=30)
    # then every event is in the buffer exactly once, written in far fewer appends than events
    assert BufferedEvent.objects.count() == 4000
    assert BufferedEvent.objects.values("visitor_id").distinct().count() == 4000
    assert sum(thread_writer.calls) == 4000
    assert len(thread_writer.calls) < 400


def test_the_caller_does_not_wait_for_the_database():
    # given a database write that takes as long as we like
    release = threading.Event()
    written = []
    w = EventWriter(append=lambda rows: (release.wait(10), written.extend(rows)), max_delay=0.0)
    row = event_clean(name="view", session_id=1)
    # when a request hands over an event
    started = time.monotonic()
    assert w.submit([row]) is None
    # then it returns at once while the write is still blocked
    assert time.monotonic() - started < 0.5
    assert written == []
    release.set()
    assert w.flush(timeout=5)
    assert written == [row]
    w.close()


def test_a_waited_for_batch_resolves_only_once_it_is_committed():
    release = threading.Event()
    w = EventWriter(append=lambda rows: release.wait(10), max_delay=0.0)
    future = w.submit([event_clean(name="view", session_id=1)] * 3, wait=True)
    time.sleep(0.1)
    assert not future.done()
    release.set()
    assert future.result(timeout=5) == 3
    w.close()


def test_database_outage_keeps_fire_and_forget_rows_and_fails_waiting_callers():
    # given a database that refuses the first write
    attempts, written = [], []

    def flaky(rows):
        attempts.append(len(rows))
        if len(attempts) == 1:
            raise DatabaseError("connection refused")
        written.extend(rows)

    w = EventWriter(append=flaky, max_delay=0.05)
    view = event_clean(name="view", session_id=1)
    beacon = event_clean(name="click", session_id=1)
    w.submit([view])
    future = w.submit([beacon], wait=True)
    # then the waiting caller gets the error (the beacon answers 503 and its client retries)
    with pytest.raises(DatabaseError):
        future.result(timeout=5)
    # and the page view is written once the database is back, not lost and not doubled
    assert w.flush(timeout=10)
    assert written == [view]
    w.close()


def test_beacon_answers_202_only_after_its_events_are_committed(client, thread_writer):
    sid = LiveSessionFactory().pk
    body = {"events": [{"name": "view", "session_id": sid}, {"name": "share", "session_id": sid}]}
    response = client.post(reverse("analytics:beacon"), json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    # no flush here: an acknowledged event is already in the database
    assert sorted(BufferedEvent.objects.values_list("name", flat=True)) == ["share", "view"]


def test_beacon_answers_503_when_the_writer_cannot_commit(client, settings, monkeypatch):
    settings.ANALYTICS_WRITER = "thread"

    def down(rows):
        raise DatabaseError("connection refused")

    w = EventWriter(append=down, max_delay=0.0)
    monkeypatch.setattr(writer, "_writer", w)
    response = client.post(
        reverse("analytics:beacon"),
        json.dumps({"name": "view", "session_id": LiveSessionFactory().pk}),
        content_type="application/json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    w.close()


def test_a_purchase_is_written_before_capture_returns_and_after_its_transactions_earlier_events(thread_writer):
    purchase = {"name": "purchase", "session_id": 3, "order_id": 9, "amount_minor": 1500, "currency": "EUR"}

    def failing_payment():
        with transaction.atomic():
            event_capture(**purchase)
            raise RuntimeError("payment failed")

    with pytest.raises(RuntimeError):
        failing_payment()
    assert thread_writer.flush(timeout=5)
    assert not BufferedEvent.objects.exists()  # rolled back with its payment
    with transaction.atomic():
        event_capture(name="checkout", session_id=3, order_id=9)
        event_capture(**purchase)
    # no flush: the payment's caller waited for its purchase event, written in capture order
    assert list(BufferedEvent.objects.order_by("pk").values_list("name", flat=True)) == ["checkout", "purchase"]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


EXITING_WORKER = """
import django, os, sys
django.setup()
from analytics.services import event_capture
for k in range(int(sys.argv[1])):
    event_capture(name="view", session_id=5, visitor_id=f"exit-{k}")
sys.exit(0)  # a graceful stop (gunicorn / qcluster restart): queued events are written on the way out
"""


def test_a_graceful_restart_loses_no_captured_event():
    env = {k: v for k, v in os.environ.items() if k not in {"TESTING", "ANALYTICS_WRITER"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="1",
        DATABASE_URL=_database_url(),
        ANALYTICS_WRITER="thread",
        ANALYTICS_WRITER_DELAY_SECONDS="5",  # longer than the process lives: only the exit flush can write
    )
    result = subprocess.run(
        [sys.executable, "-c", EXITING_WORKER, "1500"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert BufferedEvent.objects.filter(session_id=5).count() == 1500


def test_capture_module_routes_through_the_writer_in_thread_mode(thread_writer):
    assert capture.writer_mode() == "thread"
    event_capture(name="cart", session_id=2, drop_id=4, visitor_id="abc")
    assert thread_writer.flush(timeout=5)
    assert thread_writer.calls == [1]
