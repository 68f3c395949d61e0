"""Session formats, weekly series and live sessions.

All datetimes are aware UTC in the database; each series carries the host's IANA
timezone, used to recur at the same local wall-clock time across DST changes.
"""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not an IANA timezone such as Europe/Berlin.") from exc


class SessionFormat(models.Model):
    """A repeatable shape of live session (60-second highlight, 10-minute AMA, drop demo)."""

    class Kind(models.TextChoices):
        HIGHLIGHT = "highlight", "Product highlight"
        AMA = "ama", "AMA with featured SKU"
        DROP_DEMO = "drop_demo", "Drop-style demo with coupon"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField(blank=True)
    duration_seconds = models.PositiveIntegerField(help_text="Planned on-air length in seconds.")
    max_featured_skus = models.PositiveSmallIntegerField(default=1)
    has_coupon = models.BooleanField(default=False, help_text="Sessions of this format run a time-limited coupon.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Series(models.Model):
    """A format on a weekly cadence at a local time in the host's timezone."""

    WEEKDAYS = [
        (0, "Monday"),
        (1, "Tuesday"),
        (2, "Wednesday"),
        (3, "Thursday"),
        (4, "Friday"),
        (5, "Saturday"),
        (6, "Sunday"),
    ]

    name = models.CharField(max_length=160)
    slug = models.SlugField(unique=True)
    format = models.ForeignKey(SessionFormat, on_delete=models.PROTECT, related_name="series")
    host_name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="Europe/Berlin", validators=[validate_timezone])
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    local_time = models.TimeField(help_text="Wall-clock start time in the series' timezone.")
    starts_on = models.DateField(help_text="First day the series may run (local date).")
    ends_on = models.DateField(null=True, blank=True, help_text="Last day (local date); empty = open-ended.")
    stream_url = models.URLField(blank=True, help_text="Default stream URL for the series' sessions.")
    weeks_ahead = models.PositiveSmallIntegerField(default=4, help_text="How many upcoming sessions to keep scheduled.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "series"
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6),
                name="series_weekday_range",
                violation_error_message="The weekday must be between Monday (0) and Sunday (6).",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="series_ends_after_start",
                violation_error_message="A series cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class LiveSession(models.Model):
    """One live session: scheduled → live → ended, or cancelled."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions")
    format = models.ForeignKey(SessionFormat, on_delete=models.PROTECT, related_name="sessions")
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField(db_index=True, help_text="Scheduled start (stored UTC).")
    duration_seconds = models.PositiveIntegerField()
    timezone = models.CharField(max_length=64, default="Europe/Berlin", validators=[validate_timezone])
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    stream_url = models.URLField(blank=True)
    presale_opens_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Pre-sale: from this time the session's drops sell (inside each drop's own window) while the "
            "session is still scheduled. Empty = drops sell only while the session is live."
        ),
    )
    members_only = models.BooleanField(
        default=False,
        help_text="Only active members see the stream (others get a join call to action; docs/memberships.md).",
    )
    is_private = models.BooleanField(
        default=False,
        help_text="A private micro-session: not listed; its stream reaches only holders of a bundle seat's join link.",
    )
    went_live_at = models.DateTimeField(null=True, blank=True, help_text="Real start, recorded by Go live.")
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Real end, recorded by End session / Cancel.")
    pinned_drop = models.ForeignKey(
        "commerce.Drop",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The drop the host pinned in the control room: viewers' pages feature it.",
    )
    sequence = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="iCalendar SEQUENCE: raised each time the session moves or is cancelled (calendar feed).",
    )
    schedule_note = models.CharField(
        max_length=300,
        blank=True,
        help_text="Set by the series planner when the wall-clock time did not exist or occurred twice (DST).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        permissions = [
            ("golive_livesession", "Can take a session live and end it"),
            ("cancel_livesession", "Can cancel a session"),
            ("control_livesession", "Can run a session's live control room"),
        ]
        constraints = [
            # A series creates each weekly occurrence once, however often it is re-planned.
            models.UniqueConstraint(
                fields=["series", "starts_at"],
                name="session_unique_per_series_start",
                violation_error_message="This series already has a session starting at that time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({timezone.localtime(self.starts_at, self.tz):%Y-%m-%d %H:%M %Z})"

    def get_absolute_url(self) -> str:
        return reverse("sessions_app:session", kwargs={"public_id": self.public_id})

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def ends_at(self):
        """Planned end: start + duration (UTC)."""
        return self.starts_at + timedelta(seconds=self.duration_seconds)

    @property
    def shown_start(self):
        """The start to show: the real start once the session went live, else the scheduled one (UTC)."""
        return self.went_live_at or self.starts_at


class WatchEvidence(models.Model):
    """Server-side evidence that one visitor watched a live session: its status polls while live.

    Recorded by sessions_app.watch.watch_poll_record from the session page's heartbeats and status
    polls (never from a client's claim), at most once per visitor every WRITE_EVERY_SECONDS: in Redis,
    copied here every minute by watch_evidence_flush (without Redis, written here directly). `watched_seconds`
    adds the time between recorded polls, each gap capped (a viewer who left and came back is not
    credited for the time away). Used for watch-gated coupons and the control room's "viewers now".
    """

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="watch_evidence")
    visitor_id = models.CharField(max_length=32, help_text="The analytics visitor cookie (mm_vid).")
    first_poll_at = models.DateTimeField()
    last_poll_at = models.DateTimeField(db_index=True)
    watched_seconds = models.PositiveIntegerField(default=0)
    polls = models.PositiveIntegerField(default=1, help_text="Recorded polls (throttled, not every poll).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "visitor_id"],
                name="watch_evidence_once_per_visitor",
                violation_error_message="This visitor already has watch evidence for this session.",
            ),
        ]
        indexes = [models.Index(fields=["session", "last_poll_at"], name="watch_session_recent")]
        verbose_name_plural = "watch evidence"

    def __str__(self) -> str:
        return f"{self.visitor_id[:8]}… watched {self.watched_seconds}s of {self.session_id}"


# Session assets (recordings, clips, thumbnails, content-addressed objects, cost ledger) live in
# sessions_app/assets/; imported here so Django finds the models of the app.
from .assets.models import (  # noqa: E402, F401
    AssetCostDay,
    AssetDelivery,
    AssetJob,
    AssetKind,
    AssetObject,
    Clip,
    Recording,
    RecordingUpload,
    SessionMoment,
    Tier,
)

# Cadence (followers, reminders, notices) lives in sessions_app/cadence/ (docs/cadence.md).
from .cadence.models import Reminder, ReminderBatch, SeriesFollower, SessionMove  # noqa: E402, F401
