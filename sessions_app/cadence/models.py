"""Cadence: followers of a series and the reminders/notices they get (docs/cadence.md).

- SeriesFollower: one e-mail address following one series, double opt-in (pending → confirmed),
  one-click unsubscribe (RFC 8058). Unique per (series, normalized e-mail).
- ReminderBatch: one planning of one offset (or notice) for one session at one SEQUENCE; the admin
  shows "sent x of y" from its reminders.
- Reminder: one e-mail to one follower about one session. The unique constraint
  (follower, session, offset_seconds, kind, sequence) makes a duplicate impossible in the database,
  whatever number of planners run at once.
"""

from __future__ import annotations

import secrets

from django.db import models


def new_follower_token() -> str:
    """An unguessable token (256 bits) for the confirm and unsubscribe links."""
    return secrets.token_urlsafe(32)


class SeriesFollower(models.Model):
    """An e-mail address following a series. Only `confirmed` followers get reminders."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (confirmation e-mailed)"
        CONFIRMED = "confirmed", "Confirmed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    series = models.ForeignKey("sessions_app.Series", on_delete=models.CASCADE, related_name="followers")
    email = models.EmailField(max_length=254, help_text="As typed (cleaned); the address the e-mails go to.")
    email_normalized = models.CharField(
        max_length=254, help_text="commerce.identity.normalize_email: the identity key."
    )
    customer = models.ForeignKey(
        "commerce.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="series_follows"
    )
    token = models.CharField(max_length=64, unique=True, default=new_follower_token, editable=False)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField()
    confirm_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["series", "email_normalized"],
                name="series_follower_once_per_address",
                violation_error_message="This address already follows this series.",
            ),
        ]
        indexes = [models.Index(fields=["series", "status"], name="follower_series_status")]

    def __str__(self) -> str:
        return f"{self.email} → {self.series_id} ({self.status})"


class ReminderBatch(models.Model):
    """One planning round of one reminder offset (or notice kind) for one session at one SEQUENCE."""

    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="reminder_batches")
    kind = models.CharField(max_length=10, default="reminder")
    offset_seconds = models.PositiveIntegerField(default=0, help_text="Before the start; 0 for notices.")
    sequence = models.PositiveIntegerField(default=0, help_text="The session's SEQUENCE when planned.")
    due_at = models.DateTimeField(help_text="When the reminders were due (UTC).")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "reminder batches"
        constraints = [
            models.UniqueConstraint(
                fields=["session", "kind", "offset_seconds", "sequence"],
                name="reminder_batch_once",
                violation_error_message="This session already has a reminder batch for that offset and time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.offset_seconds}s for session {self.session_id} (seq {self.sequence})"


class Reminder(models.Model):
    """One e-mail to one follower about one session: a reminder, a "time changed" or a cancellation notice."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Reminder"
        MOVED = "moved", "Time changed"
        CANCELLED = "cancelled", "Cancelled"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped (moved, cancelled, unsubscribed or too late)"

    follower = models.ForeignKey(SeriesFollower, on_delete=models.CASCADE, related_name="reminders")
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="reminders")
    batch = models.ForeignKey(ReminderBatch, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REMINDER)
    offset_seconds = models.PositiveIntegerField(default=0)
    sequence = models.PositiveIntegerField(default=0, help_text="The session's SEQUENCE the e-mail is about.")
    due_at = models.DateTimeField(help_text="UTC instant it became due.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["follower", "session", "offset_seconds", "kind", "sequence"],
                name="reminder_exactly_once",
                violation_error_message="This follower already has this reminder for this session.",
            ),
        ]
        indexes = [models.Index(fields=["session", "kind", "status"], name="reminder_session_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.offset_seconds}s → follower {self.follower_id}, session {self.session_id}"


class SessionMove(models.Model):
    """A session moved by session_reschedule: its old and new start. The series planner never re-creates
    an occurrence a session was moved away from (else moving Tue 18:00 to 20:00 would plan a new 18:00)."""

    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="moves")
    series = models.ForeignKey("sessions_app.Series", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    from_starts_at = models.DateTimeField(db_index=True)
    to_starts_at = models.DateTimeField()
    sequence = models.PositiveIntegerField(help_text="The session's SEQUENCE after the move.")
    moved_at = models.DateTimeField()

    class Meta:
        ordering = ["-moved_at"]

    def __str__(self) -> str:
        return (
            f"session {self.session_id}: {self.from_starts_at:%Y-%m-%d %H:%M} → {self.to_starts_at:%Y-%m-%d %H:%M} UTC"
        )
