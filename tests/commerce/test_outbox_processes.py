"""Invariant 9 with real processes: `manage.py qcluster` workers on PostgreSQL, killed with SIGKILL
mid-batch, lose nothing; a timed-out task is retried; the ORM broker cannot exceed max attempts.

The business changes run in this process against the test database (committed: transactional
test), the workers are subprocesses pointed at the same database. The per-minute sweep schedule is
stood in for by this process queueing `commerce.tasks.outbox_drain` every second or two (a real
minute would not fit the time budget); kicks after commit are suppressed while the data is made,
so the workers start on a full table and are killed while they drain it.

Receivers: e-mails are recorded by Message-ID in a file (tests.commerce.outbox_support), partner
webhooks by a local HTTP endpoint that verifies signatures and dedupes on the event id, refunds by
the Stripe stand-in (idempotency keys honoured, as Stripe does).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from commerce.models import Order, OutboxMessage, Partner, PickupBooking, Refund
from commerce.services import outbox
from commerce.services.orders import order_mark_paid, order_place
from commerce.services.pickup import checkin_record, pickup_reminders_send, pickup_slot_book
from commerce.services.refunds import refund_create
from tests.commerce.outbox_support import WebhookReceiver, mail_log
from tests.commerce.stripe_standin import StripeStandIn
from tests.factories import make_drop, make_popup, make_slot

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EMAIL_KINDS = {"order_email", "pickup_email", "sample_request_email", "sample_offer_email"}


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/4"


def redis_or_skip():
    import redis

    try:
        client = redis.from_url(redis_url())
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {redis_url()} ({exc}); CI starts one")
    return client


# --- processes -----------------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Cluster:
    """One `manage.py qcluster` (sentinel, monitor, pusher, workers) in its own process group."""

    def __init__(self, name: str, env: dict, log_dir: Path):
        self.name, self.env, self.log_path = name, env, log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Cluster:
        self.starts += 1
        log = open(self.log_path, "a")  # noqa: SIM115 (kept open for the child)
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def pids(self) -> set[int]:
        return {self.proc.pid} | descendants(self.proc.pid) if self.proc and self.proc.poll() is None else set()

    def ready(self, workers: int) -> bool:
        text = self.log_path.read_text() if self.log_path.exists() else ""
        return text.count("ready for work") >= workers * self.starts and text.count("running.") >= self.starts

    def kill(self) -> None:
        """SIGKILL the whole process group: the host dies, nothing gets to clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def worker_env(**extra) -> dict:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if k not in {"TESTING", "REDIS_URL", "DATABASE_URL"}}
    env.update(
        DEBUG="0",
        SECRET_KEY=settings.SECRET_KEY,  # task packages are signed with it
        DATABASE_URL=url,
        EMAIL_BACKEND="tests.commerce.outbox_support.RecordingEmailBackend",
        ANALYTICS_WRITER="sync",
        LOG_LEVEL="INFO",
        Q_WORKERS="2",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def wait_ready(clusters, workers: int = 2, timeout: float = 40):
    deadline = time.monotonic() + timeout
    while not all(c.ready(workers) for c in clusters):
        if time.monotonic() > deadline:
            logs = "\n".join(c.log_path.read_text()[-3000:] for c in clusters if c.log_path.exists())
            raise AssertionError(f"qcluster did not start in {timeout}s:\n{logs}")
        time.sleep(0.2)


def kick(broker) -> None:
    from django_q.tasks import async_task

    async_task("commerce.tasks.outbox_drain", broker=broker, sync=False, group="outbox", task_name="test sweep")


def holder_pid(row: OutboxMessage) -> int | None:
    try:
        return int(row.leased_by.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


@pytest.fixture
def no_kicks(monkeypatch):
    """While the test makes its data, commits queue no drains (the workers start on a full table)."""
    monkeypatch.setattr(outbox, "outbox_kick", lambda: None)


# --- the data: 150 order e-mails, 40 reminders, refunds, partner webhooks ---------------------


def make_side_effects(*, webhook_url: str, partner: Partner) -> dict:
    drop = make_drop(quantity=200, per_customer_limit=1, price_minor=1500)
    for n in range(150):
        order_place(drop_id=drop.pk, email=f"buyer{n}@example.com", quantity=1)  # confirmation e-mail each

    popup = make_popup(partner=partner)
    pickup = make_drop(quantity=60, per_customer_limit=1, fulfilment="pickup", popup=popup)
    slots = [make_slot(popup, starts_in=3600 + 900 * i, capacity=10) for i in range(4)]
    bookings = [
        pickup_slot_book(drop_id=pickup.pk, slot_id=slots[n % 4].pk, email=f"pickup{n}@example.com", quantity=1)
        for n in range(40)
    ]
    assert pickup_reminders_send(now=timezone.now() + dt.timedelta(minutes=45)) == 40  # 40 reminder rows

    # partner webhooks: 8 bookings paid at the door and checked in (order.paid + pickup.checked_in each)
    for booking in bookings[:8]:
        checkin_record(booking_id=booking.pk, actor_label="door", payment_collected=True)

    # refunds through Stripe: orders paid by card, refunded in full
    stripe_orders = Order.objects.filter(customer__email__startswith="buyer").order_by("pk")[:4]
    for n, order in enumerate(stripe_orders):
        order_mark_paid(order_id=order.pk)
        Order.objects.filter(pk=order.pk).update(payment_provider="stripe", provider_payment_id=f"pi_test_kill_{n}")
        refund_create(order_id=order.pk)
    return {"bookings": bookings}


def test_sigkilled_workers_lose_and_double_nothing(tmp_path, no_kicks, capsys):
    client = redis_or_skip()
    standin = StripeStandIn().start()
    partner = Partner.objects.create(name="Pickup partner")
    # the first pickup.checked_in delivery hangs past the task timeout: django-q2 kills that worker
    receiver = WebhookReceiver(partner.webhook_secret, hang_first={"pickup.checked_in": 12}).start()
    Partner.objects.filter(pk=partner.pk).update(webhook_url=receiver.url)
    partner.refresh_from_db()
    clusters: list[Cluster] = []
    try:
        mail_path = tmp_path / "mail.jsonl"
        env = worker_env(
            REDIS_URL=redis_url(),
            OUTBOX_TEST_MAIL_LOG=mail_path,
            OUTBOX_TEST_MAIL_DELAY_BEFORE="0.02",
            OUTBOX_TEST_MAIL_DELAY_AFTER="0.08",
            Q_TIMEOUT="5",
            Q_RETRY="10",
            OUTBOX_LEASE_SECONDS="10",
            OUTBOX_DRAIN_SECONDS="2",
            OUTBOX_BACKOFF_SECONDS="0.5",
            OUTBOX_BACKOFF_MAX_SECONDS="2",
            OUTBOX_WEBHOOK_TIMEOUT_SECONDS="30",
            PAYMENT_PROVIDER="stripe",
            STRIPE_TEST_SECRET_KEY="sk_test_51StandInKeyForLocalTestsOnly0123456789abcdef",
            STRIPE_API_HOST=standin.url,
        )
        from django_q.brokers.redis_broker import Redis

        broker = Redis(list_key="micromoments")
        broker.connection = client
        broker.purge_queue()
        # two "hosts" start while the shop takes orders; nothing kicks them until the data is made
        clusters = [Cluster("a", env, tmp_path).start(), Cluster("b", env, tmp_path).start()]
        started = time.monotonic()
        make_side_effects(webhook_url=receiver.url, partner=partner)
        made = time.monotonic() - started
        rows = {row.pk: row for row in OutboxMessage.objects.all()}
        kinds = Counter(row.kind for row in rows.values())
        assert kinds["order_email"] >= 150 + 40 and kinds["refund_submit"] == 4 and kinds["partner_webhook"] == 16
        assert sum(1 for r in rows.values() if r.dedupe_key.startswith("pickup-email:reminder:")) == 40
        wait_ready(clusters)
        drain_started = time.monotonic()
        for _ in range(4):
            kick(broker)

        killed_workers = killed_hosts = killed_after_accept = 0
        deadline = time.monotonic() + 75  # bounded; about 30 s on an idle machine
        last_sweep = 0.0
        while time.monotonic() < deadline:
            pending = OutboxMessage.objects.exclude(status=OutboxMessage.Status.DONE)
            if not pending.exists():
                break
            if killed_workers + killed_hosts < 6:
                in_flight = [r for r in pending.filter(leased_until__gt=timezone.now()) if r.kind != "partner_webhook"]
                accepted = {d["message_id"] for d in mail_log(mail_path)}
                # two of the worker kills land after the mail server accepted the message (it will be re-sent)
                if killed_after_accept < 2:
                    in_flight = [
                        r
                        for r in in_flight
                        if r.kind in EMAIL_KINDS
                        and outbox.outbox_message_id(key=r.dedupe_key, outbox_id=r.pk) in accepted
                    ]
                for row in in_flight:
                    pid = holder_pid(row)
                    owner = next((c for c in clusters if pid in c.pids()), None)
                    if owner is None:
                        continue
                    if killed_workers < 4:  # SIGKILL the worker that is sending this row
                        os.kill(pid, signal.SIGKILL)
                        killed_workers += 1
                        killed_after_accept += killed_after_accept < 2
                    else:  # SIGKILL the whole cluster holding it, restart it
                        owner.kill()
                        killed_hosts += 1
                        owner.start()
                    break
            if time.monotonic() - last_sweep > 1.5:  # the per-minute sweep, sped up
                kick(broker)
                last_sweep = time.monotonic()
            time.sleep(0.05 if killed_workers + killed_hosts < 6 else 0.4)
        drained = time.monotonic() - drain_started

        final = {row.pk: row for row in OutboxMessage.objects.all()}
        not_done = {
            r.dedupe_key: (r.status, r.attempts, r.leased_by, r.leased_until, r.last_attempt_at, r.last_error[:200])
            for r in final.values()
            if r.status != "done"
        }
        assert not not_done, f"left after {drained:.1f}s (now {timezone.now()}): {not_done}"
        assert killed_workers == 4 and killed_hosts == 2, (killed_workers, killed_hosts)

        # e-mails: every one delivered; after dedupe by Message-ID exactly once
        expected = {
            outbox.outbox_message_id(key=r.dedupe_key, outbox_id=r.pk) for r in final.values() if r.kind in EMAIL_KINDS
        }
        deliveries = mail_log(mail_path)
        raw = Counter(d["message_id"] for d in deliveries)
        assert set(raw) == expected  # nothing lost, nothing unexpected
        mail_resends = sum(raw.values()) - len(raw)
        assert mail_resends >= 1  # a worker killed after the server accepted: re-sent, same Message-ID

        # partner webhooks: every event delivered, signatures valid, the receiver dedupes the re-sends
        hooks = receiver.counts()
        expected_events = {
            outbox.Delivery(id=r.pk, kind=r.kind, key=r.dedupe_key, payload={}, attempt=0).event_id
            for r in final.values()
            if r.kind == "partner_webhook"
        }
        assert set(hooks) == expected_events and receiver.bad_signatures == 0
        hook_resends = sum(hooks.values()) - len(hooks)
        assert hook_resends >= 1  # the hung delivery's worker timed out and the event was sent again

        # refunds: applied once each, one refund per order at Stripe whatever the re-sends
        refunds = Refund.objects.all()
        assert [r.status for r in refunds] == [Refund.Status.SUCCEEDED] * 4
        assert len(standin.refunds) == 4
        refund_posts = sum(1 for method, path, _form in standin.requests if method == "POST" and "refunds" in path)

        # reminders: every booking reminded once
        assert PickupBooking.objects.filter(reminder_sent_at__isnull=False).count() == 40
        reminder_ids = {
            outbox.outbox_message_id(key=r.dedupe_key, outbox_id=r.pk)
            for r in final.values()
            if r.dedupe_key.startswith("pickup-email:reminder:")
        }
        assert len(reminder_ids & set(raw)) == 40

        retried = sum(1 for r in final.values() if r.attempts > 1)
        assert retried >= 4  # the killed workers' rows were taken again
        timed_out = next(
            r for r in final.values() if r.kind == "partner_webhook" and r.dedupe_key.startswith("webhook:pickup")
            and r.attempts > 1
        )
        assert timed_out.status == "done"
        with capsys.disabled():
            print(
                f"\n[outbox kill test] rows={len(final)} (e-mails {len(expected)}, webhooks {len(expected_events)}, "
                f"refunds 4); made in {made:.1f}s, drained in {drained:.1f}s with {killed_workers} workers and "
                f"{killed_hosts} clusters SIGKILLed mid-send; lost 0; e-mail raw deliveries {sum(raw.values())} "
                f"(re-sends {mail_resends}), webhook raw {sum(hooks.values())} (re-sends {hook_resends}), "
                f"refund POSTs {refund_posts} for 4 Stripe refunds; rows tried more than once: {retried}"
            )
    finally:
        for cluster in clusters:
            cluster.kill()
        receiver.stop()
        standin.stop()


def test_orm_broker_and_timeouts_cannot_exceed_max_attempts(tmp_path, no_kicks, capsys, settings):
    """A webhook whose endpoint always hangs past the task timeout: with the ORM broker (which re-delivers
    unacknowledged tasks) the partner still sees exactly max_attempts deliveries, then the row is failed."""
    settings.OUTBOX_MAX_ATTEMPTS = 3  # decided when the row is written
    partner = Partner.objects.create(name="Slow partner")
    receiver = WebhookReceiver(partner.webhook_secret, hang_always=20).start()
    Partner.objects.filter(pk=partner.pk).update(webhook_url=receiver.url)
    env = worker_env(
        Q_TIMEOUT="2",
        Q_RETRY="4",
        OUTBOX_LEASE_SECONDS="7",
        OUTBOX_DRAIN_SECONDS="1",
        OUTBOX_MAX_ATTEMPTS="3",
        OUTBOX_WEBHOOK_TIMEOUT_SECONDS="30",
        Q_WORKERS="1",
    )
    cluster = Cluster("orm", env, tmp_path)
    try:
        from commerce.services.webhooks import partner_event_emit

        with transaction.atomic():
            partner_event_emit(event="order.paid", subject="order:1", data={"order": {}}, partner_ids=[partner.pk])
        row = OutboxMessage.objects.get()
        from django_q.brokers.orm import ORM

        broker = ORM(list_key="micromoments")
        broker.purge_queue()
        cluster.start()
        wait_ready([cluster], workers=1)
        started = time.monotonic()
        deadline = started + 50
        last_sweep = 0.0
        while time.monotonic() < deadline:
            row.refresh_from_db()
            if row.status == OutboxMessage.Status.FAILED:
                break
            if time.monotonic() - last_sweep > 1.5:
                kick(broker)
                last_sweep = time.monotonic()
            time.sleep(0.3)
        elapsed = time.monotonic() - started
        row.refresh_from_db()
        assert row.status == OutboxMessage.Status.FAILED, (row.status, row.attempts, row.last_error)
        assert row.attempts == 3
        assert "died or timed out" in row.last_error
        time.sleep(1)  # nothing arrives late
        assert sum(receiver.counts().values()) == 3  # exactly max_attempts deliveries, not one more
        with capsys.disabled():
            print(
                f"\n[outbox ORM-broker test] a send that always outlives the 2 s task timeout: "
                f"{sum(receiver.counts().values())} deliveries for max_attempts=3, failed after {elapsed:.1f}s"
            )
    finally:
        cluster.kill()
        receiver.stop()
