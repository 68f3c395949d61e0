"""The transactional outbox: write side effects with the business change, send them after commit.

Writing (`outbox_enqueue`) happens inside the caller's transaction: the row commits
or rolls back with the change that decided on it, and a second row with the same
`dedupe_key` is ignored. After commit a django-q2 task is kicked
(`commerce.tasks.outbox_drain`); a schedule runs the same task every minute
(`commerce.outbox_sweep`, migration), so a lost kick, a dead broker or a killed
worker only delays the send.

Draining (`outbox_drain`): claim one due row at a time with a lease (on
PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED`, so drains on many workers never
wait for each other; every claim is also a conditional UPDATE, which is what
serialises SQLite), call its sender, and mark it done ONLY after the sender
returned. A sender that raises puts the row back with exponential backoff
(`OUTBOX_BACKOFF_SECONDS` × 2^(attempt−1), capped at `OUTBOX_BACKOFF_MAX_SECONDS`,
±20 % jitter); after `max_attempts` claims the row is *failed* and listed for
staff (admin → Outbox messages → "Retry"). A claim counts as an attempt, so a
row whose worker keeps dying or timing out also stops at `max_attempts`.

Leases: `OUTBOX_LEASE_SECONDS` exceeds django-q2's task timeout (`Q_TIMEOUT`, after
which a worker is killed), so a live worker never loses its lease; a killed one's
lease lapses and the row is taken again. Guarantee: at-least-once delivery;
receivers deduplicate on the key (Message-ID, Stripe idempotency key, webhook
event id), so every side effect is done effectively once.

Senders are registered by kind (`outbox_sender_register`) in each app's
`AppConfig.ready()` as dotted paths; a sender takes one `Delivery`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import OutboxMessage

logger = logging.getLogger(__name__)

_SENDERS: dict[str, str] = {}


class OutboxMisuse(RuntimeError):
    """A programming error: unknown kind, or an enqueue outside the business transaction."""


class PermanentFailure(Exception):  # noqa: N818 (it is what a sender raises to stop the retries)
    """Raised by a sender when trying again cannot help (the row is marked failed at once)."""


@dataclass(frozen=True)
class Delivery:
    """What a sender gets: the row's id, key, payload, attempt number, and the receiver-side dedupe ids."""

    id: int
    kind: str
    key: str
    payload: dict
    attempt: int

    @property
    def message_id(self) -> str:
        """A deterministic RFC 5322 Message-ID: the same e-mail re-sent carries the same id."""
        return outbox_message_id(key=self.key, outbox_id=self.id)

    @property
    def email_headers(self) -> dict[str, str]:
        return {"Message-ID": self.message_id, "X-Micromoments-Outbox-Id": str(self.id)}

    @property
    def event_id(self) -> str:
        """A stable id for receiver-side dedupe (webhooks): derived from the dedupe key."""
        return "evt_" + hashlib.sha256(self.key.encode()).hexdigest()[:24]


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    more: bool = False
    errors: list[str] = field(default_factory=list)


# --- configuration ------------------------------------------------------------------


def _setting(name: str, default):
    return getattr(settings, name, default)


def lease_seconds() -> float:
    return float(_setting("OUTBOX_LEASE_SECONDS", 150))


def drain_seconds() -> float:
    return float(_setting("OUTBOX_DRAIN_SECONDS", 30))


def backoff_delay(attempt: int) -> dt.timedelta:
    """Delay before try `attempt + 1`: base × 2^(attempt−1), capped, ±20 % jitter."""
    base = float(_setting("OUTBOX_BACKOFF_SECONDS", 30))
    cap = float(_setting("OUTBOX_BACKOFF_MAX_SECONDS", 3600))
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return dt.timedelta(seconds=delay * random.uniform(0.8, 1.2))


def outbox_message_id(*, key: str, outbox_id: int) -> str:
    domain = _setting("OUTBOX_MESSAGE_ID_DOMAIN", "") or (
        parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}.{outbox_id}@{domain}>"


def outbox_sender_register(kind: str, dotted_path: str) -> None:
    """Register the function (dotted path, taking one Delivery) that performs rows of `kind`."""
    _SENDERS[kind] = dotted_path


def _sender(kind: str) -> Callable[[Delivery], object]:
    try:
        return import_string(_SENDERS[kind])
    except KeyError:
        raise PermanentFailure(f"no sender registered for kind {kind!r}") from None


# --- writing ------------------------------------------------------------------------


def outbox_enqueue(*, kind: str, key: str, payload: dict | None = None, now: dt.datetime | None = None) -> bool:
    """Write one side effect in the caller's transaction; kick a drain after commit.

    `key` is the dedupe key (≤ 200 characters): a second call with the same key
    writes nothing and returns False. Must run inside `transaction.atomic()`
    together with the business change (raises OutboxMisuse otherwise), so the
    intent cannot outlive a rolled-back change nor be lost after a committed one.
    """
    if kind not in _SENDERS:
        raise OutboxMisuse(f"Unknown outbox kind {kind!r}.")
    if transaction.get_autocommit():
        raise OutboxMisuse("outbox_enqueue must run inside the transaction that makes the change.")
    now = now or timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a duplicate key leaves the caller's transaction usable
            OutboxMessage.objects.create(
                kind=kind,
                dedupe_key=key,
                payload=payload or {},
                available_at=now,
                created_at=now,
                max_attempts=int(_setting("OUTBOX_MAX_ATTEMPTS", 8)),
            )
    except IntegrityError:
        return False
    outbox_kick_on_commit()
    return True


def outbox_kick_on_commit() -> None:
    """Queue a drain once the current transaction commits (dropped with a rollback).

    A transaction writing several rows queues several kicks; the extra drains find
    nothing left and end at once (cheaper than being clever about it).
    """
    transaction.on_commit(outbox_kick, robust=True)


def outbox_kick() -> None:
    """Queue one drain task now (not transactional). A failure is logged: the sweep covers it."""
    from django_q.tasks import async_task

    try:
        async_task(
            "commerce.tasks.outbox_drain",
            task_name=f"outbox drain {uuid.uuid4().hex[:8]}",
            group="outbox",
        )
    except Exception:
        logger.exception("could not queue an outbox drain; the per-minute sweep will send it")


# --- draining -----------------------------------------------------------------------


def _worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def _claimable(now: dt.datetime):
    return OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING, available_at__lte=now).filter(
        Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    )


def outbox_claim(*, now: dt.datetime | None = None) -> tuple[OutboxMessage, str] | None:
    """Lease the oldest due row; returns (row, lease token) or None when nothing is due.

    A row that already used all its attempts (each earlier worker died or timed
    out before reporting) is marked failed here instead of being tried again.
    """
    while True:
        now = now or timezone.now()
        with transaction.atomic():
            row = _claimable(now).order_by("available_at", "pk").select_for_update(skip_locked=True).first()
            if row is None:
                return None
            if row.attempts >= row.max_attempts:
                OutboxMessage.objects.filter(pk=row.pk, status=OutboxMessage.Status.PENDING).update(
                    status=OutboxMessage.Status.FAILED,
                    leased_until=None,
                    last_error=(
                        f"gave up after {row.attempts} attempts; the last worker died or timed out "
                        f"before reporting.\n{row.last_error}"
                    )[:4000],
                )
                logger.error("outbox %s failed: attempts exhausted by dead or timed-out workers", row.dedupe_key)
                now = None
                continue
            token = uuid.uuid4().hex
            won = (
                _claimable(now)
                .filter(pk=row.pk)
                .update(
                    leased_until=now + dt.timedelta(seconds=lease_seconds()),
                    lease_token=token,
                    leased_by=_worker_label(),
                    attempts=row.attempts + 1,
                    last_attempt_at=now,
                )
            )
            if won:
                row.attempts += 1
                row.lease_token = token
                return row, token
        now = None  # lost a race (SQLite has no SKIP LOCKED): look again


def _deliver(row: OutboxMessage, token: str, result: DrainResult) -> None:
    delivery = Delivery(id=row.pk, kind=row.kind, key=row.dedupe_key, payload=row.payload, attempt=row.attempts)
    try:
        _sender(row.kind)(delivery)
    except Exception as exc:  # any sender error is recorded on the row and retried, never raised into the worker
        permanent = isinstance(exc, PermanentFailure | ObjectDoesNotExist)
        _record_failure(row, token, exc, permanent=permanent, result=result)
        return
    OutboxMessage.objects.filter(pk=row.pk, status=OutboxMessage.Status.PENDING).update(
        status=OutboxMessage.Status.DONE, done_at=timezone.now(), leased_until=None, last_error=""
    )
    result.sent += 1


def _record_failure(row: OutboxMessage, token: str, exc: Exception, *, permanent: bool, result: DrainResult):
    now = timezone.now()
    message = f"attempt {row.attempts}: {exc.__class__.__name__}: {exc}"[:4000]
    result.errors.append(f"{row.dedupe_key}: {message}")
    owned = OutboxMessage.objects.filter(pk=row.pk, status=OutboxMessage.Status.PENDING, lease_token=token)
    if permanent or row.attempts >= row.max_attempts:
        owned.update(status=OutboxMessage.Status.FAILED, leased_until=None, last_error=message)
        result.failed += 1
        logger.error("outbox %s failed for good: %s", row.dedupe_key, message)
    else:
        owned.update(available_at=now + backoff_delay(row.attempts), leased_until=None, last_error=message)
        result.retried += 1
        logger.warning("outbox %s will be retried: %s", row.dedupe_key, message)


def outbox_drain(*, budget_seconds: float | None = None) -> DrainResult:
    """Send due rows until none is left or the time budget (`OUTBOX_DRAIN_SECONDS`) is used.

    `more` is True when the budget ran out with rows possibly left (the task then
    queues another drain). Never raises for a sender's error.
    """
    budget = drain_seconds() if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    result = DrainResult()
    while True:
        if time.monotonic() >= deadline:
            result.more = True
            return result
        claimed = outbox_claim()
        if claimed is None:
            return result
        _deliver(*claimed, result=result)


# --- staff --------------------------------------------------------------------------


def outbox_retry(*, message_ids, now: dt.datetime | None = None) -> int:
    """Put failed rows back in the queue with fresh attempts; returns how many. Kicks a drain."""
    now = now or timezone.now()
    with transaction.atomic():
        count = OutboxMessage.objects.filter(pk__in=list(message_ids), status=OutboxMessage.Status.FAILED).update(
            status=OutboxMessage.Status.PENDING,
            attempts=0,
            available_at=now,
            leased_until=None,
            lease_token="",
        )
        if count:
            outbox_kick_on_commit()
    return count


def outbox_backlog(*, now: dt.datetime | None = None) -> dict:
    """What is waiting: {"due": rows due now, "oldest_due_seconds": age of the oldest due row (0 if none),
    "failed": rows that used up their attempts}. A growing `oldest_due_seconds` means no worker drains."""
    now = now or timezone.now()
    due = _claimable(now)
    oldest = due.order_by("available_at").values_list("available_at", flat=True).first()
    return {
        "due": due.count(),
        "oldest_due_seconds": int((now - oldest).total_seconds()) if oldest else 0,
        "failed": OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED).count(),
    }
