"""Writes for following a series, reminders and moved/cancelled notices (docs/cadence.md).

Every e-mail is decided inside the transaction that changes state and written to the transactional
outbox (commerce.services.outbox, kind `cadence_email`); the sender (sessions_app.cadence.senders)
renders and sends it after commit, with a Message-ID derived from the outbox key.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from commerce.exceptions import CommerceError
from commerce.identity import clean_email, normalize_email
from commerce.services.outbox import outbox_enqueue

from ..models import LiveSession, Series
from .models import Reminder, ReminderBatch, SeriesFollower, SessionMove
from .timing import reminder_cutoff, reminder_due_at, reminder_offsets

logger = logging.getLogger(__name__)

OUTBOX_KIND = "cadence_email"


class CadenceError(CommerceError):
    """A refused cadence action: `code` (stable, for the API), HTTP `status`, `field` (the input, if any).

    A CommerceError, so config/api.py and commerce.idempotency answer it as 4xx JSON {code, message, fields}.
    """

    status = 422

    def __init__(self, code: str, message: str, *, status: int = 422, field: str | None = None):
        super().__init__(message, field=field)
        self.code = code
        self.status = status


def _confirm_resend_seconds() -> int:
    return int(getattr(settings, "SERIES_FOLLOW_CONFIRM_RESEND_SECONDS", 600))


# --- following ------------------------------------------------------------------------------------


def series_follow_request(*, series_id: int, email: str, now: dt.datetime | None = None) -> None:
    """Start (or restart) double opt-in for `email` on a series; returns nothing on purpose.

    The caller's answer must be the same whatever happened ("check your inbox"): a new or
    unsubscribed address gets a confirmation e-mail (outbox, to that address only); a pending one
    gets it again at most every SERIES_FOLLOW_CONFIRM_RESEND_SECONDS (default 600); a confirmed one
    gets nothing. Re-following after an unsubscribe restarts double opt-in with a fresh token.
    Raises CadenceError("invalid_email", field="email") for a malformed address, and
    CadenceError("not_found", status=404) for an unknown or inactive series.
    """
    now = now or timezone.now()
    try:
        cleaned, key = clean_email(email), normalize_email(email)
    except ValidationError:
        raise CadenceError("invalid_email", "Enter a valid email address.", field="email") from None
    if not Series.objects.filter(pk=series_id, is_active=True).exists():
        raise CadenceError("not_found", "No such series.", status=404)
    for _ in range(2):  # a concurrent first follow of the same address: the unique constraint decides
        try:
            with transaction.atomic():
                follower, created = SeriesFollower.objects.select_for_update().get_or_create(
                    series_id=series_id, email_normalized=key, defaults={"email": cleaned, "created_at": now}
                )
                _follow_step(follower, created=created, email=cleaned, now=now)
            return
        except IntegrityError:
            continue


def _follow_step(follower: SeriesFollower, *, created: bool, email: str, now: dt.datetime) -> None:
    status = SeriesFollower.Status
    if follower.status == status.CONFIRMED:
        return
    if follower.status == status.UNSUBSCRIBED:
        from .models import new_follower_token

        follower.status, follower.token, follower.email = status.PENDING, new_follower_token(), email
        follower.confirmed_at = follower.unsubscribed_at = None
    elif (
        not created
        and follower.confirm_sent_at
        and (now - follower.confirm_sent_at).total_seconds() < (_confirm_resend_seconds())
    ):
        return  # a pending address asked again within the resend window: no second e-mail
    follower.confirm_sent_at = now
    follower.save()
    outbox_enqueue(
        kind=OUTBOX_KIND,
        key=f"cadence:confirm:{follower.pk}:{int(now.timestamp() * 1000)}",
        payload={"kind": "confirm", "follower_id": follower.pk, "token": follower.token},
    )


def series_follow_confirm(*, token: str, now: dt.datetime | None = None) -> SeriesFollower:
    """Confirm a pending follower by its token (the POST behind the e-mailed link); idempotent.

    Links the follower to the customer with the same normalized e-mail, if any.
    Raises CadenceError("not_found", status=404) for an unknown token, and
    CadenceError("unsubscribed", status=409) for a follower who unsubscribed since (follow again).
    """
    from commerce.models import Customer

    now = now or timezone.now()
    with transaction.atomic():
        follower = SeriesFollower.objects.select_for_update().filter(token=token).first()
        if follower is None:
            raise CadenceError("not_found", "This link is not valid (any more).", status=404)
        if follower.status == SeriesFollower.Status.UNSUBSCRIBED:
            raise CadenceError("unsubscribed", "You unsubscribed; follow the series again to resubscribe.", status=409)
        if follower.status == SeriesFollower.Status.PENDING:
            follower.status, follower.confirmed_at = SeriesFollower.Status.CONFIRMED, now
            follower.customer = Customer.objects.filter(email_normalized=follower.email_normalized).first()
            follower.save(update_fields=["status", "confirmed_at", "customer"])
    return follower


def series_unsubscribe(*, token: str, now: dt.datetime | None = None) -> SeriesFollower | None:
    """One-click unsubscribe (RFC 8058) by token; idempotent. Returns the follower, None for an unknown token.

    Planned, unsent reminders of this follower are skipped in the same transaction (never sent).
    """
    now = now or timezone.now()
    with transaction.atomic():
        follower = SeriesFollower.objects.select_for_update().filter(token=token).first()
        if follower is None:
            return None
        if follower.status != SeriesFollower.Status.UNSUBSCRIBED:
            follower.status, follower.unsubscribed_at = SeriesFollower.Status.UNSUBSCRIBED, now
            follower.save(update_fields=["status", "unsubscribed_at"])
            Reminder.objects.filter(follower=follower, status=Reminder.Status.PLANNED).update(
                status=Reminder.Status.SKIPPED, skip_reason="unsubscribed"
            )
    return follower


# --- reminders ------------------------------------------------------------------------------------


def _batch(*, session: LiveSession, kind: str, offset: int, due_at: dt.datetime, now: dt.datetime) -> ReminderBatch:
    batch, _ = ReminderBatch.objects.get_or_create(
        session=session,
        kind=kind,
        offset_seconds=offset,
        sequence=session.sequence,
        defaults={"due_at": due_at, "created_at": now},
    )
    return batch


def _plan(*, session: LiveSession, batch: ReminderBatch, follower_ids: list[int], now: dt.datetime) -> int:
    """Insert the missing Reminder rows of `batch` for these followers and write one outbox row each.

    Runs inside the caller's transaction. ON CONFLICT DO NOTHING: a racing planner's rows win, and
    the outbox keys (`cadence:<kind>:<reminder id>`) are unique too, so each row gets one message.
    """
    if not follower_ids:
        return 0
    Reminder.objects.bulk_create(
        [
            Reminder(
                follower_id=fid,
                session=session,
                batch=batch,
                kind=batch.kind,
                offset_seconds=batch.offset_seconds,
                sequence=batch.sequence,
                due_at=batch.due_at,
            )
            for fid in follower_ids
        ],
        ignore_conflicts=True,
    )
    rows = Reminder.objects.filter(batch=batch, follower_id__in=follower_ids, status=Reminder.Status.PLANNED)
    written = 0
    for row_id in rows.values_list("pk", flat=True):
        written += outbox_enqueue(
            kind=OUTBOX_KIND,
            key=f"cadence:{batch.kind}:{row_id}",
            payload={"kind": batch.kind, "reminder_id": row_id, "batch_id": batch.pk},
        )
    return written


def reminders_plan_session(*, session_id: int, now: dt.datetime | None = None) -> int:
    """Plan the reminders of one scheduled session that are due now; returns outbox rows written.

    For each offset with due_at <= now < cut-off (sessions_app.cadence.timing), every confirmed
    follower of the session's series who has no reminder of that offset for the current SEQUENCE
    and was not already sent one of that offset (a moved session is re-reminded only for offsets not
    sent yet) gets a Reminder row and an outbox message, in one transaction.
    """
    now = now or timezone.now()
    planned = 0
    with transaction.atomic():
        session = LiveSession.objects.select_related("series").filter(pk=session_id).first()
        if session is None or session.status != LiveSession.Status.SCHEDULED or not session.series_id:
            return 0
        for offset in reminder_offsets():
            due_at = reminder_due_at(starts_at=session.starts_at, tz_name=session.timezone, offset_seconds=offset)
            if not (due_at <= now < reminder_cutoff(starts_at=session.starts_at, offset_seconds=offset)):
                continue
            done = Reminder.objects.filter(session=session, kind=Reminder.Kind.REMINDER, offset_seconds=offset).filter(
                sequence=session.sequence
            ) | Reminder.objects.filter(
                session=session, kind=Reminder.Kind.REMINDER, offset_seconds=offset, status=Reminder.Status.SENT
            )
            followers = list(
                SeriesFollower.objects.filter(series_id=session.series_id, status=SeriesFollower.Status.CONFIRMED)
                .exclude(pk__in=done.values("follower_id"))
                .values_list("pk", flat=True)
            )
            if not followers:
                continue
            batch = _batch(session=session, kind=Reminder.Kind.REMINDER, offset=offset, due_at=due_at, now=now)
            planned += _plan(session=session, batch=batch, follower_ids=followers, now=now)
    return planned


def reminders_plan_due(now: dt.datetime | None = None) -> int:
    """Every minute (django-q2 schedule `sessions_app.reminders_plan_due`): plan every due reminder.

    Looks at scheduled series sessions starting within the largest offset (+1 day for DST). Safe to
    run on any number of workers at once: the unique constraints let each reminder exist once.
    Returns the number of outbox rows written.
    """
    now = now or timezone.now()
    offsets = reminder_offsets()
    if not offsets:
        return 0
    horizon = now + dt.timedelta(seconds=max(offsets)) + dt.timedelta(days=1)
    ids = LiveSession.objects.filter(
        status=LiveSession.Status.SCHEDULED, series__isnull=False, starts_at__gt=now, starts_at__lte=horizon
    ).values_list("pk", flat=True)
    return sum(reminders_plan_session(session_id=pk, now=now) for pk in list(ids))


def _notify_reminded(*, session: LiveSession, kind: str, now: dt.datetime) -> int:
    """In the caller's transaction (session row locked, `sequence` already raised): skip the session's
    unsent reminders and write a `kind` notice for every confirmed follower who was already sent one."""
    Reminder.objects.filter(session=session, kind=Reminder.Kind.REMINDER, status=Reminder.Status.PLANNED).update(
        status=Reminder.Status.SKIPPED, skip_reason=f"session {kind}"
    )
    followers = list(
        SeriesFollower.objects.filter(
            status=SeriesFollower.Status.CONFIRMED,
            reminders__session=session,
            reminders__kind=Reminder.Kind.REMINDER,
            reminders__status=Reminder.Status.SENT,
        )
        .distinct()
        .values_list("pk", flat=True)
    )
    if not followers:
        return 0
    # one cancellation notice per follower, whatever SEQUENCE; one "time changed" per move
    sequence_key = session.sequence if kind == Reminder.Kind.MOVED else 0
    batch, _ = ReminderBatch.objects.get_or_create(
        session=session, kind=kind, offset_seconds=0, sequence=sequence_key, defaults={"due_at": now, "created_at": now}
    )
    return _plan(session=session, batch=batch, follower_ids=followers, now=now)


def session_reschedule(*, session_id: int, starts_at: dt.datetime, now: dt.datetime | None = None) -> LiveSession:
    """Move a scheduled session to `starts_at` (aware); raises its iCalendar SEQUENCE by 1.

    Under the session's row lock: unsent reminders for the old time are skipped, followers who were
    already reminded get a "time changed" e-mail (outbox, once per move), and the next planner run
    reminds everyone for the new time (only offsets not sent yet). Audited (auditlog entry).
    Raises CadenceError("invalid_transition", 409) unless scheduled, ("invalid", 422) for a naive or
    past time, ("conflict", 409) if another session of the series already starts then.
    """
    from commerce.audit import audit_change

    now = now or timezone.now()
    if timezone.is_naive(starts_at):
        raise CadenceError("invalid", "The new start needs a timezone.", field="starts_at")
    if starts_at <= now:
        raise CadenceError("invalid", "The new start must be in the future.", field="starts_at")
    with transaction.atomic():
        session = LiveSession.objects.select_for_update().get(pk=session_id)
        if session.status != LiveSession.Status.SCHEDULED:
            raise CadenceError(
                "invalid_transition", f"A {session.get_status_display().lower()} session cannot be moved.", status=409
            )
        if starts_at == session.starts_at:
            return session
        if (
            session.series_id
            and LiveSession.objects.filter(series_id=session.series_id, starts_at=starts_at)
            .exclude(pk=session.pk)
            .exists()
        ):
            raise CadenceError("conflict", "Another session of this series starts at that time.", status=409)
        before = (session.starts_at, session.sequence)
        session.starts_at, session.sequence = starts_at, session.sequence + 1
        session.save(update_fields=["starts_at", "sequence"])
        SessionMove.objects.create(
            session=session,
            series_id=session.series_id,
            from_starts_at=before[0],
            to_starts_at=starts_at,
            sequence=session.sequence,
            moved_at=now,
        )
        audit_change(session, {"starts_at": (before[0], starts_at), "sequence": (before[1], session.sequence)})
        _notify_reminded(session=session, kind=Reminder.Kind.MOVED, now=now)
    return session


def session_cancelled_notify(*, session: LiveSession, now: dt.datetime) -> int:
    """Called by sessions_app.services.session_cancel in its transaction (session row locked): raise
    SEQUENCE (calendar feeds show STATUS:CANCELLED), skip unsent reminders, and write one cancellation
    notice per confirmed follower who was already reminded. Returns notices written."""
    LiveSession.objects.filter(pk=session.pk).update(sequence=session.sequence + 1)
    session.sequence += 1
    return _notify_reminded(session=session, kind=Reminder.Kind.CANCELLED, now=now)


def reminder_deliver(*, reminder_id: int, send, now: dt.datetime | None = None) -> bool:
    """Send one planned reminder/notice exactly once (the outbox sender's core). Returns True if sent.

    Locks the Reminder row, re-checks (still planned; follower confirmed; for a reminder: the session
    is still scheduled, at the SEQUENCE it was planned for, and has not started), calls
    `send(reminder)` (its `sent_at` set to `now`) while holding the lock and marks it sent in the same transaction. A move or
    cancel that commits first makes this skip the row (the notice goes instead); one that comes
    second waits for the lock and then sees the row as sent (and notifies). A killed worker rolls
    back: the outbox re-delivers with the same Message-ID. Raises whatever `send` raises (retried).
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = Reminder.objects.select_for_update().filter(pk=reminder_id).first()
        if row is None or row.status != Reminder.Status.PLANNED:
            return False
        session = LiveSession.objects.get(pk=row.session_id)
        follower = SeriesFollower.objects.get(pk=row.follower_id)
        reason = ""
        if follower.status != SeriesFollower.Status.CONFIRMED:
            reason = "unsubscribed"
        elif row.kind == Reminder.Kind.REMINDER:
            if session.status != LiveSession.Status.SCHEDULED:
                reason = f"session {session.status}"
            elif session.sequence != row.sequence:
                reason = "session moved"
            elif now >= session.starts_at:
                reason = "too late: the session has started"
        elif row.kind == Reminder.Kind.MOVED and session.sequence != row.sequence:
            reason = "moved again"  # the newer move's notice goes instead
        if reason:
            Reminder.objects.filter(pk=row.pk).update(status=Reminder.Status.SKIPPED, skip_reason=reason)
            return False
        row.sent_at = now  # the instant of sending, for the e-mail's "Today/Tomorrow" (saved below)
        send(row)
        Reminder.objects.filter(pk=row.pk).update(status=Reminder.Status.SENT, sent_at=now)
    return True
