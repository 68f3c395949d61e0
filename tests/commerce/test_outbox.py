"""Transactional outbox: written with the change, sent after commit, done only after the send, retried
with backoff, failed rows visible and retryable by staff; leases survive killed workers."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from commerce.models import OutboxMessage, PickupBooking, Refund
from commerce.services import outbox
from commerce.services.orders import order_mark_paid, order_place
from commerce.services.pickup import pickup_reminders_send, pickup_slot_book
from commerce.services.refunds import refund_create
from tests.factories import make_drop, make_pickup_drop, make_slot

pytestmark = pytest.mark.django_db

sent_ids: list[int] = []


def ok_sender(delivery):
    sent_ids.append(delivery.id)


def broken_sender(delivery):
    raise ConnectionError("smtp down")


@pytest.fixture
def test_kinds():
    outbox.outbox_sender_register("test_ok", "tests.commerce.test_outbox.ok_sender")
    outbox.outbox_sender_register("test_broken", "tests.commerce.test_outbox.broken_sender")
    sent_ids.clear()
    yield
    outbox._SENDERS.pop("test_ok", None)
    outbox._SENDERS.pop("test_broken", None)


def enqueue(kind: str, key: str, **payload) -> bool:
    with transaction.atomic():
        return outbox.outbox_enqueue(kind=kind, key=key, payload=payload)


def test_row_is_written_with_the_change_and_rolled_back_with_it(test_kinds):
    def change_that_fails():
        with transaction.atomic():
            outbox.outbox_enqueue(kind="test_ok", key="k:1")
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not OutboxMessage.objects.exists()
    assert enqueue("test_ok", "k:1") is True
    assert enqueue("test_ok", "k:1") is False  # the same side effect twice is one row
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_or_of_an_unknown_kind_is_refused(test_kinds):
    with pytest.raises(outbox.OutboxMisuse):
        outbox.outbox_enqueue(kind="test_ok", key="k:1")
    with transaction.atomic(), pytest.raises(outbox.OutboxMisuse):
        outbox.outbox_enqueue(kind="nope", key="k:2")
    assert not OutboxMessage.objects.exists()


def test_commit_kicks_a_drain_that_sends_and_marks_done(test_kinds, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue("test_ok", "k:1")
    assert callbacks, "a drain is kicked after commit"
    row = OutboxMessage.objects.get()
    assert sent_ids == [row.pk]
    assert (row.status, row.attempts, row.leased_until) == (OutboxMessage.Status.DONE, 1, None)
    assert row.done_at is not None


def test_a_failed_send_is_retried_with_backoff_then_marked_failed(test_kinds, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    settings.OUTBOX_BACKOFF_SECONDS = 10
    enqueue("test_broken", "k:1")
    result = outbox.outbox_drain()
    row = OutboxMessage.objects.get()
    assert (result.sent, result.retried, row.status, row.attempts) == (0, 1, "pending", 1)
    assert "ConnectionError: smtp down" in row.last_error
    delay = (row.available_at - row.last_attempt_at).total_seconds()
    assert 8 <= delay <= 12  # base × 2^0, ±20 %
    assert outbox.outbox_drain().retried == 0  # not due yet: nothing is tried
    OutboxMessage.objects.update(available_at=timezone.now())
    outbox.outbox_drain()
    row.refresh_from_db()
    assert row.attempts == 2 and 16 <= (row.available_at - row.last_attempt_at).total_seconds() <= 24
    OutboxMessage.objects.update(available_at=timezone.now())
    assert outbox.outbox_drain().failed == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxMessage.Status.FAILED, 3)
    OutboxMessage.objects.update(available_at=timezone.now())
    assert outbox.outbox_drain().failed == 0  # failed rows are left for staff


def test_backoff_doubles_and_is_capped(settings):
    settings.OUTBOX_BACKOFF_SECONDS = 30
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 300
    seconds = [outbox.backoff_delay(n).total_seconds() for n in range(1, 8)]
    for got, want in zip(seconds, [30, 60, 120, 240, 300, 300, 300], strict=True):
        assert want * 0.8 <= got <= want * 1.2


def test_a_killed_worker_keeps_its_lease_until_it_lapses_then_the_row_is_sent(test_kinds, settings):
    enqueue("test_ok", "k:1")
    claimed = outbox.outbox_claim()  # a worker takes the row ... and is killed before sending
    assert claimed is not None
    row, _token = claimed
    assert outbox.outbox_drain().sent == 0  # another worker does not touch a leased row
    assert sent_ids == []
    OutboxMessage.objects.update(leased_until=timezone.now() - dt.timedelta(seconds=1))  # the lease lapses
    assert outbox.outbox_drain().sent == 1
    row.refresh_from_db()
    assert (sent_ids, row.status, row.attempts) == ([row.pk], OutboxMessage.Status.DONE, 2)


def test_a_row_whose_workers_keep_dying_stops_at_max_attempts(test_kinds, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    enqueue("test_ok", "k:1")
    for _ in range(2):
        assert outbox.outbox_claim() is not None  # claimed, then the worker dies (or times out)
        OutboxMessage.objects.update(leased_until=timezone.now() - dt.timedelta(seconds=1))
    assert outbox.outbox_drain().sent == 0
    row = OutboxMessage.objects.get()
    assert (row.status, row.attempts) == (OutboxMessage.Status.FAILED, 2)
    assert "died or timed out" in row.last_error
    assert sent_ids == []


def test_a_late_report_from_a_worker_that_lost_its_lease_does_not_undo_the_new_owner(test_kinds):
    enqueue("test_broken", "k:1")
    row, old_token = outbox.outbox_claim()
    OutboxMessage.objects.update(leased_until=timezone.now() - dt.timedelta(seconds=1))
    _row2, new_token = outbox.outbox_claim()
    outbox._record_failure(row, old_token, ConnectionError("late"), permanent=True, result=outbox.DrainResult())
    row.refresh_from_db()
    assert (row.status, row.lease_token) == (OutboxMessage.Status.PENDING, new_token)


def test_drain_stops_at_its_budget_and_says_more_is_left(test_kinds):
    for n in range(3):
        enqueue("test_ok", f"k:{n}")
    result = outbox.outbox_drain(budget_seconds=0)
    assert (result.sent, result.more) == (0, True)
    assert outbox.outbox_drain().sent == 3


def test_sweep_schedule_runs_the_drain_every_minute():
    from django.apps import apps

    migration = importlib.import_module("commerce.migrations.0012_outbox")
    Schedule.objects.filter(name="commerce.outbox_sweep").delete()  # a flushed --reuse-db database has none
    migration.sweep_schedule_create(apps, None)
    migration.sweep_schedule_create(apps, None)  # idempotent
    schedule = Schedule.objects.get(name="commerce.outbox_sweep")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "commerce.tasks.outbox_drain",
        Schedule.MINUTES,
        1,
        -1,
    )


def test_q2_settings_make_tasks_thin_kicks():
    q = django_settings.Q_CLUSTER
    assert q["retry"] > q["timeout"]  # the ORM broker never re-delivers a task that is still running
    assert q["max_attempts"] == 1 and q["ack_failures"] is True  # retries are the outbox's, with backoff
    assert q["timeout"] + 5 <= django_settings.OUTBOX_LEASE_SECONDS  # a live worker never loses its lease
    assert q["timeout"] > django_settings.OUTBOX_DRAIN_SECONDS


# --- the side effects that go through it ------------------------------------------------


def test_order_email_carries_a_deterministic_message_id_and_the_row_id(django_capture_on_commit_callbacks):
    drop = make_drop(quantity=5)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        order = order_place(drop_id=drop.pk, email="ann@example.com", quantity=1)
    row = OutboxMessage.objects.get(dedupe_key=f"order-email:confirmed:{order.pk}")
    assert row.status == OutboxMessage.Status.DONE
    [message] = mail.outbox
    assert message.extra_headers["Message-ID"] == outbox.outbox_message_id(key=row.dedupe_key, outbox_id=row.pk)
    assert message.extra_headers["X-Micromoments-Outbox-Id"] == str(row.pk)
    assert message.message()["Message-ID"] == message.extra_headers["Message-ID"]
    assert outbox.outbox_message_id(key=row.dedupe_key, outbox_id=row.pk).endswith("@localhost>")


def test_pickup_reminder_is_marked_sent_only_with_its_outbox_row(monkeypatch):
    drop = make_pickup_drop(quantity=5)
    slot = make_slot(drop.popup, starts_in=3600)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=1)

    def broken(**kwargs):
        raise ConnectionError("database went away while writing the outbox row")

    monkeypatch.setattr("commerce.services.notifications_pickup.outbox_enqueue", broken)
    with pytest.raises(ConnectionError):
        pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=30))
    assert PickupBooking.objects.get(pk=booking.pk).reminder_sent_at is None  # nothing claimed, nothing lost
    monkeypatch.undo()
    assert pickup_reminders_send(now=slot.starts_at - dt.timedelta(minutes=30)) == 1
    assert OutboxMessage.objects.filter(dedupe_key=f"pickup-email:reminder:{booking.pk}:v1").exists()


def test_pass_emails_are_their_own_rows_beside_the_confirmation(django_capture_on_commit_callbacks):
    drop = make_pickup_drop(quantity=5)
    slot = make_slot(drop.popup, starts_in=3600)
    with django_capture_on_commit_callbacks(execute=True):
        booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=1)
    keys = set(OutboxMessage.objects.values_list("dedupe_key", flat=True))
    assert {f"order-email:confirmed:{booking.order_id}", f"pickup-email:pass:{booking.pk}"} <= keys
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"done"}


def test_a_refund_whose_worker_died_after_stripe_refunded_is_applied_once(stripe_api, webhook, client):
    """The issue's case: the task died between Stripe's refund and our bookkeeping; it stayed pending."""
    from commerce.payments import get_provider
    from commerce.services.holds import hold_place
    from commerce.services.orders import checkout_start

    drop = make_drop(quantity=5, price_minor=2500)
    order = checkout_start(hold_token=hold_place(drop_id=drop.pk, email="a@example.com", quantity=1).token)
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed")
    refund = refund_create(order_id=order.pk)  # not committed-and-kicked: the row waits
    row, _token = outbox.outbox_claim()
    assert row.kind == "refund_submit"
    get_provider("stripe").refund(refund=refund)  # the worker got this far ... then SIGKILL
    assert len(stripe_api.refunds) == 1
    OutboxMessage.objects.filter(pk=row.pk).update(leased_until=timezone.now() - dt.timedelta(seconds=1))
    assert outbox.outbox_drain().sent == 2  # the refund, then the credit-note e-mail its success decided on
    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert len(stripe_api.refunds) == 1  # the retry reused the idempotency key: one refund at Stripe
    assert refund.provider_reference == stripe_api.refunds[0]["id"]
    assert (order.status, order.refunded_minor) == ("refunded", 2500)


# --- staff: failed rows and the retry action --------------------------------------------


def test_failed_rows_are_listed_and_retried_by_staff_with_the_permission(test_kinds, client, django_user_model):
    enqueue("test_ok", "k:1")
    OutboxMessage.objects.update(status=OutboxMessage.Status.FAILED, attempts=8, last_error="smtp down")
    row = OutboxMessage.objects.get()
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    client.force_login(viewer)
    changelist = reverse("admin:commerce_outboxmessage_changelist")
    page = client.get(changelist + "?status__exact=failed")
    assert page.status_code == 200 and b"smtp down" in page.content
    assert b'value="retry"' not in page.content  # the action is not offered without the permission
    client.post(changelist, {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.FAILED  # refused: nothing changed

    viewer.user_permissions.add(Permission.objects.get(codename="retry_outboxmessage"))
    viewer = django_user_model.objects.get(pk=viewer.pk)
    client.force_login(viewer)
    assert b'value="retry"' in client.get(changelist).content
    client.post(changelist, {"action": "retry", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboxMessage.Status.PENDING, 0)
    assert outbox.outbox_drain().sent == 1 and sent_ids == [row.pk]


def test_outbox_rows_cannot_be_added_or_edited_in_the_admin(admin_client, test_kinds):
    enqueue("test_ok", "k:1")
    row = OutboxMessage.objects.get()
    assert admin_client.get(reverse("admin:commerce_outboxmessage_add")).status_code == 403
    admin_client.post(reverse("admin:commerce_outboxmessage_change", args=[row.pk]), {"status": "done"})
    row.refresh_from_db()
    assert row.status == OutboxMessage.Status.PENDING


# --- concurrency (PostgreSQL) -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_drains_send_each_row_exactly_once(test_kinds):
    """Eight threads drain 200 rows at once: SKIP LOCKED hands each row to one of them."""
    with transaction.atomic():
        for n in range(200):
            outbox.outbox_enqueue(kind="test_ok", key=f"race:{n}")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def drain():
        try:
            barrier.wait()
            outbox.outbox_drain()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    counts = Counter(sent_ids)
    assert len(counts) == 200 and set(counts.values()) == {1}
    assert OutboxMessage.objects.filter(status="done", attempts=1).count() == 200


def test_the_order_paid_webhook_row_is_written_with_the_payment(django_capture_on_commit_callbacks):
    from commerce.models import Partner

    partner = Partner.objects.create(name="Pickup Co", webhook_url="http://127.0.0.1:9/hooks")
    drop = make_pickup_drop(quantity=5)
    drop.popup.partner = partner
    drop.popup.save()
    slot = make_slot(drop.popup, starts_in=3600)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=1)
    assert not OutboxMessage.objects.filter(kind="partner_webhook").exists()  # awaiting payment: not paid yet
    order_mark_paid(order_id=booking.order_id)
    row = OutboxMessage.objects.get(kind="partner_webhook")
    assert row.dedupe_key == f"webhook:order.paid:order:{booking.order_id}:p{partner.pk}"
    assert row.payload["event"]["type"] == "order.paid"
    assert row.payload["event"]["data"]["order"]["number"] == booking.order.number
    order_mark_paid(order_id=booking.order_id)  # idempotent: no second event
    assert OutboxMessage.objects.filter(kind="partner_webhook").count() == 1


def test_health_check_fails_while_due_rows_wait_too_long_and_passes_once_drained(test_kinds):
    """QA: a cluster whose pusher/monitor were SIGKILLed stopped draining without exiting. The rows wait
    (nothing lost); `manage.py outbox_health` is the liveness check that tells a supervisor to restart it."""
    from django.core.management import CommandError, call_command

    enqueue("test_ok", "health:1")
    OutboxMessage.objects.update(available_at=timezone.now() - dt.timedelta(minutes=10))  # nobody drained it
    assert outbox.outbox_backlog()["oldest_due_seconds"] >= 600
    with pytest.raises(CommandError, match="not draining"):
        call_command("outbox_health", "--max-age", "300")
    outbox.outbox_drain()
    call_command("outbox_health", "--max-age", "300")  # healthy again: exits 0
    assert outbox.outbox_backlog() == {"due": 0, "oldest_due_seconds": 0, "failed": 0}
