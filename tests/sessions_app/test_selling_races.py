"""End/Cancel racing holds on PostgreSQL: no hold is ever placed after the session stopped selling.

The hold statement locks the session row FOR KEY SHARE when it sells (commerce.locks, the gate);
session_end / session_cancel lock it FOR UPDATE. Two forced interleavings prove each side of the
lock, then a crowd of threads races one End.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from commerce.exceptions import DropUnavailable
from commerce.models import Drop, Hold
from commerce.services.holds import hold_place
from sessions_app.models import LiveSession
from sessions_app.services import session_cancel, session_end
from tests.commerce.test_races import race
from tests.factories import LiveSessionFactory, make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _wait_until_blocked_on_a_lock(pid_holder: dict, done: threading.Event | None = None) -> None:
    """Poll pg_stat_activity until the backend in pid_holder["pid"] waits on a lock, or `done` is set
    (the other side finished without waiting: the test then fails on its result, never hangs)."""
    with connection.cursor() as cursor:
        while not (done and done.is_set()):
            time.sleep(0.01)  # a polling pause, not an assertion on time
            if pid_holder.get("pid") is None:
                continue
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is cached
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid_holder["pid"]])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return


def _in_thread(fn):
    pool = ThreadPoolExecutor(max_workers=1)

    def run():
        try:
            return fn()
        except Exception as exc:
            return exc
        finally:
            connection.close()

    return pool, pool.submit(run)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_end_waits_for_a_hold_that_passed_the_gate():
    """Given a hold whose transaction passed the gate and has not committed, End waits for it."""
    drop = make_drop(quantity=5)
    hold_done, end_pid, end_finished = threading.Event(), {}, threading.Event()

    def hold_then_wait():
        with transaction.atomic():
            hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
            hold_done.set()
            _wait_until_blocked_on_a_lock(end_pid, end_finished)  # End is now waiting for us
            assert not end_finished.is_set(), "End did not wait for a hold that passed the gate"
        return hold

    def end():
        hold_done.wait()
        end_pid["pid"] = _backend_pid()
        try:
            return session_end(session_id=drop.session_id)
        finally:
            end_finished.set()

    pool_a, held = _in_thread(hold_then_wait)
    pool_b, ended = _in_thread(end)
    assert isinstance(held.result(), Hold)
    assert isinstance(ended.result(), LiveSession)
    pool_a.shutdown()
    pool_b.shutdown()
    assert Hold.objects.filter(drop=drop).count() == 1  # committed before the End


@pytest.mark.parametrize("stop", [session_end, session_cancel])
def test_a_hold_waiting_on_an_end_in_progress_is_refused(stop):
    """Given End/Cancel locked the session and not committed, a hold waits and then is refused."""
    status = "live" if stop is session_end else "scheduled"
    session = LiveSessionFactory(status=status)
    if status == "scheduled":
        from django.utils import timezone

        session.presale_opens_at = timezone.now()
        session.save()
    drop = make_drop(quantity=5, session=session)
    stopped, hold_pid, hold_finished = threading.Event(), {}, threading.Event()

    def stop_then_wait():
        with transaction.atomic():
            stop(session_id=session.pk)
            stopped.set()
            _wait_until_blocked_on_a_lock(hold_pid, hold_finished)  # the hold statement waits on the session row
        return True

    def hold():
        stopped.wait()
        hold_pid["pid"] = _backend_pid()
        try:
            return hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
        finally:
            hold_finished.set()

    pool_a, ended = _in_thread(stop_then_wait)
    pool_b, held = _in_thread(hold)
    assert ended.result() is True
    refused = held.result()
    pool_a.shutdown()
    pool_b.shutdown()
    assert isinstance(refused, DropUnavailable), refused
    assert refused.code in ("session_ended", "session_cancelled")
    assert Hold.objects.filter(drop=drop).count() == 0
    assert Drop.objects.get(pk=drop.pk).available == 5


def test_crowd_of_holds_racing_one_end():
    """40 buyers and one End at once: every hold that exists committed before the End did."""
    drop = make_drop(quantity=100, per_customer_limit=1)
    inside_end = {}

    def end():
        with transaction.atomic():
            session_end(session_id=drop.session_id)
            # Under the End's lock: every hold that passed the gate has committed, none can follow.
            inside_end["holds"] = Hold.objects.filter(drop=drop).count()

    def act(i):
        if i == 20:
            return end()
        return hold_place(drop_id=drop.pk, email=f"buyer{i}@example.com", quantity=1)

    results = race(41, act)
    holds = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, DropUnavailable)]
    assert len(holds) + len(refused) == 40, [r for r in results if not isinstance(r, Hold | DropUnavailable)]
    assert {r.code for r in refused} <= {"session_ended"}
    assert Hold.objects.filter(drop=drop).count() == len(holds) == inside_end["holds"]
    assert Drop.objects.get(pk=drop.pk).available == 100 - len(holds)
