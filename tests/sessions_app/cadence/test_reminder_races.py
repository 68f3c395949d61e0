"""Reminders exactly once under real concurrency (PostgreSQL): two workers planning and draining at
once, and a worker process SIGKILLed mid-batch then a restart that drains the rest."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.utils import timezone

from commerce.models import OutboxMessage
from commerce.services.outbox import outbox_drain
from sessions_app.cadence.models import Reminder
from sessions_app.cadence.services import reminders_plan_due
from tests.commerce.test_races import race
from tests.sessions_app.cadence.helpers import followers, mail_log, make_series, session_at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def due_session(series, *, hours=23.9):
    """A session whose 24 h reminder is due now (real clock), its 10 min one not yet."""
    return session_at(series, timezone.now() + dt.timedelta(hours=hours))


def test_two_workers_planning_and_draining_at_once_send_each_follower_one_email_per_session():
    series = make_series(slug="weekly")
    sessions = [due_session(series, hours=23.9), due_session(series, hours=23.5)]
    people = followers(series, 30)

    def worker(i):
        planned = reminders_plan_due()
        return planned, outbox_drain(budget_seconds=60).sent

    results = race(2, worker)
    assert not [r for r in results if isinstance(r, Exception)], results
    outbox_drain()  # anything a worker left (none expected)
    sent = Counter((m.to[0], m.subject) for m in mail.outbox)
    assert len(sent) == len(people) * len(sessions)
    assert set(sent.values()) == {1}, [k for k, v in sent.items() if v > 1]
    assert Reminder.objects.filter(status=Reminder.Status.SENT).count() == 60
    assert OutboxMessage.objects.filter(kind="cadence_email").count() == 60  # one message per row, never two
    assert sum(r[0] for r in results) == 60  # the two planners together wrote each row once


WORKER = """
import django
django.setup()
from commerce.services.outbox import outbox_drain
from sessions_app.cadence.services import reminders_plan_due
print("planned", reminders_plan_due(), flush=True)
print("drained", outbox_drain(budget_seconds=120).sent, flush=True)
"""


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )


def test_a_worker_killed_mid_batch_then_a_restart_sends_every_follower_exactly_one_email(tmp_path):
    series = make_series(slug="weekly")
    due_session(series)
    people = followers(series, 12)
    log = tmp_path / "mail.jsonl"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "EMAIL_BACKEND": "tests.sessions_app.cadence.helpers.BlockingRecordingBackend",
        "CADENCE_MAIL_LOG": str(log),
        "CADENCE_MAIL_BLOCK_AFTER": "5",
    }
    first = _worker(env)
    try:
        deadline = time.monotonic() + 90
        while not os.path.exists(str(log) + ".blocked") and time.monotonic() < deadline:
            assert first.poll() is None, "the worker ended before it was killed"
            time.sleep(0.05)
        assert os.path.exists(str(log) + ".blocked"), "the worker never reached its 6th send"
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(timeout=30)

    assert len(mail_log(log)) == 5
    assert Reminder.objects.filter(status=Reminder.Status.SENT).count() == 5
    leased = OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, leased_until__gt=timezone.now())
    assert leased.count() == 1  # the row it was sending: its lease holds until it lapses
    assert outbox_drain().sent == 6  # a drain now takes the 6 untouched rows, not the leased one
    assert len(mail.outbox) == 6
    # the dead worker's lease lapses; a restarted worker plans again (nothing new) and drains the rest
    leased.update(leased_until=timezone.now() - dt.timedelta(seconds=1))
    restart = _worker({**env, "CADENCE_MAIL_BLOCK_AFTER": "0"})
    out, _ = restart.communicate(timeout=120)
    assert restart.returncode == 0, out
    assert "planned 0" in out

    recipients = Counter(r["to"][0] for r in mail_log(log)) + Counter(m.to[0] for m in mail.outbox)
    assert recipients == Counter({p.email: 1 for p in people})  # every follower exactly one e-mail
    ids = [r["message_id"] for r in mail_log(log)] + [m.extra_headers["Message-ID"] for m in mail.outbox]
    assert len(set(ids)) == len(ids) == 12
    assert Reminder.objects.filter(status=Reminder.Status.SENT).count() == 12
    assert not OutboxMessage.objects.exclude(status=OutboxMessage.Status.DONE).exists()


@pytest.mark.parametrize("round_", range(3))
def test_a_move_racing_the_senders_gives_each_follower_the_reminder_and_the_notice_or_neither(round_, monkeypatch):
    monkeypatch.setattr("commerce.services.outbox.outbox_kick", lambda: None)  # only the racers below send
    series = make_series(slug=f"weekly-{round_}")
    session = due_session(series)
    people = followers(series, 25)
    reminders_plan_due()
    new_start = session.starts_at + dt.timedelta(hours=2)

    def worker(i):
        from sessions_app.cadence.services import session_reschedule

        if i == 0:
            time.sleep(0.04 * round_)  # vary the interleaving per round: before, early, mid-batch
            return session_reschedule(session_id=session.pk, starts_at=new_start)
        return outbox_drain(budget_seconds=60).sent

    results = race(3, worker)
    assert not [r for r in results if isinstance(r, Exception)], results
    outbox_drain()
    got = Counter((m.to[0], m.subject.split(":")[0]) for m in mail.outbox)
    assert set(got.values()) <= {1}
    for person in people:
        reminded = got[(person.email, "Tomorrow")]
        told = got[(person.email, "New time")]
        assert reminded == told, f"{person.email}: reminder {reminded}, notice {told}"
    reminder_rows = Reminder.objects.filter(session=session, kind=Reminder.Kind.REMINDER)
    sent_before = reminder_rows.filter(status=Reminder.Status.SENT).count()
    print(f"round {round_}: {sent_before} of {len(people)} reminded before the move, the rest skipped")  # -s
    assert reminder_rows.filter(status=Reminder.Status.PLANNED).count() == 0
