"""Session assets: content-addressed objects, recordings, clips, thumbnails, the timeline
moments clips are cut around, derivative jobs, resumable uploads and the cost ledger.

Bytes live once per SHA-256 in `AssetObject` (docs/assets.md); everything else references an
object and the object's `ref_count` says how many references hold it. Sizes are bytes, times
are aware UTC, media offsets are milliseconds from the recording's first frame.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class AssetKind(models.TextChoices):
    RECORDING = "recording", "Source recording"
    CLIP = "clip", "Clip"
    THUMBNAIL = "thumbnail", "Thumbnail"


class Tier(models.TextChoices):
    FAST = "fast", "Fast (hot storage)"
    MID = "mid", "Mid (infrequent access)"
    ARCHIVE = "archive", "Archive"


class AssetObject(models.Model):
    """One stored object, keyed by the SHA-256 of its bytes, written once, reference counted.

    `ref_count` is the number of Recording/Clip/Thumbnail rows (and open uploads) that use it;
    it changes only in sessions_app.assets.cas under a row lock. At 0 the garbage collector
    removes the bytes and the row, re-checking the count under the same lock.
    """

    class Restore(models.TextChoices):
        NONE = "", "Not requested"
        REQUESTED = "requested", "Restore requested"
        READY = "ready", "Restored (temporary copy)"

    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.BigIntegerField()
    content_type = models.CharField(max_length=100)
    extension = models.CharField(max_length=10, blank=True, help_text="From the bytes or the first name, e.g. mp4.")
    kind = models.CharField(max_length=12, choices=AssetKind.choices, help_text="Decides the tier policy.")
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.FAST)
    storage_class = models.CharField(max_length=32, blank=True, help_text="S3 storage class as last written.")
    ref_count = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    tier_changed_at = models.DateTimeField(null=True, blank=True)
    unreferenced_at = models.DateTimeField(null=True, blank=True, help_text="When ref_count last reached 0.")
    restore = models.CharField(max_length=10, choices=Restore.choices, default=Restore.NONE, blank=True)
    restore_requested_at = models.DateTimeField(null=True, blank=True)
    restore_ready_at = models.DateTimeField(null=True, blank=True)
    restore_expires_at = models.DateTimeField(null=True, blank=True)
    hot = models.BooleanField(default=False, help_text="In the edge hot set (top 10 % of clips by score).")
    hot_score = models.FloatField(default=0)
    hot_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ref_count__gte=0),
                name="assetobject_ref_count_gte_0",
                violation_error_message="An asset cannot have fewer than zero references.",
            ),
            models.CheckConstraint(
                condition=Q(size_bytes__gte=0),
                name="assetobject_size_gte_0",
                violation_error_message="An asset's size cannot be negative.",
            ),
        ]
        indexes = [models.Index(fields=["kind", "tier", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.sha256[:12]} ({self.size_bytes} B, {self.tier})"

    @property
    def key(self) -> str:
        """Object key without tier: assets/ab/cd/<sha256> (immutable: bytes never change)."""
        return f"assets/{self.sha256[:2]}/{self.sha256[2:4]}/{self.sha256}"


class Recording(models.Model):
    """A session's source recording (mp4/webm) and what the worker learnt from it."""

    class State(models.TextChoices):
        UPLOADING = "uploading", "Uploading"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.PROTECT, related_name="recordings")
    asset = models.ForeignKey(AssetObject, null=True, blank=True, on_delete=models.PROTECT, related_name="recordings")
    original_name = models.CharField(max_length=255)
    state = models.CharField(max_length=12, choices=State.choices, default=State.UPLOADING)
    error = models.TextField(blank=True, help_text="Why the last processing failed, for staff.")
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="UTC instant of the recording's first frame; defaults to Go live."
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    video_codec = models.CharField(max_length=32, blank=True)
    audio_codec = models.CharField(max_length=32, blank=True)
    poster = models.ForeignKey(
        AssetObject, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Poster JPEG."
    )
    strip = models.ForeignKey(
        AssetObject, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Thumbnail strip JPEG."
    )
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey(
        "commerce.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The partner whose key uploaded it (API), if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("cut_clip", "Can cut clips from recordings")]

    def __str__(self) -> str:
        return f"recording {self.original_name} of session {self.session_id}"


class Clip(models.Model):
    """A cut of a recording: [start_ms, end_ms) of its media timeline, optionally selling a drop."""

    class Source(models.TextChoices):
        STAFF = "staff", "Cut by staff"
        HIGHLIGHT = "highlight", "Automatic highlight"
        UPLOAD = "upload", "Uploaded"
        API = "api", "Partner API"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be cut"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Method(models.TextChoices):
        NONE = "", "Not cut yet"
        COPY = "copy", "Stream copy (cut points on keyframes)"
        ENCODE = "encode", "Re-encoded to H.264/AAC"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.PROTECT, related_name="clips")
    recording = models.ForeignKey(Recording, null=True, blank=True, on_delete=models.PROTECT, related_name="clips")
    drop = models.ForeignKey("commerce.Drop", null=True, blank=True, on_delete=models.SET_NULL, related_name="clips")
    moment = models.ForeignKey(
        "sessions_app.SessionMoment", null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    title = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    start_ms = models.PositiveIntegerField()
    end_ms = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.NONE, blank=True)
    error = models.TextField(blank=True)
    asset = models.ForeignKey(AssetObject, null=True, blank=True, on_delete=models.PROTECT, related_name="clips")
    poster = models.ForeignKey(AssetObject, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Measured from the cut file.")
    is_public = models.BooleanField(default=True, help_text="Shown on the replay page and its own page.")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey("commerce.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "start_ms"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_ms__gt=models.F("start_ms")),
                name="clip_end_after_start",
                violation_error_message="A clip must end after it starts.",
            ),
            # One automatic highlight per timeline moment, however often the job runs.
            models.UniqueConstraint(
                fields=["moment"],
                condition=Q(source="highlight"),
                name="clip_one_highlight_per_moment",
                violation_error_message="This moment already has a highlight clip.",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class SessionMoment(models.Model):
    """A moment in a session's timeline (went live, drop opened or pinned, coupon fired, ended).

    Recorded by the services that cause it; the clip work cuts highlights around drop moments and
    analytics shows sales around each. `at` is the UTC instant.
    """

    class Kind(models.TextChoices):
        WENT_LIVE = "went_live", "Went live"
        DROP_OPENED = "drop_opened", "Drop opened"
        DROP_PINNED = "drop_pinned", "Drop pinned"
        DROP_CLOSED = "drop_closed", "Drop closed"
        COUPON_FIRED = "coupon_fired", "Coupon fired"
        ENDED = "ended", "Ended"

    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="moments")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField()
    drop = models.ForeignKey("commerce.Drop", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "at", "pk"]
        constraints = [
            # A drop opens once per session; re-recording the same moment is a no-op.
            models.UniqueConstraint(
                fields=["session", "kind", "drop"],
                condition=Q(kind="drop_opened"),
                name="moment_drop_opened_once",
                violation_error_message="This drop's opening is already in the timeline.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%H:%M:%S}"


class AssetJob(models.Model):
    """A derivative job (probe + thumbnails, a clip cut, highlights) with progress and retries.

    The worker claims a job with a lease; a killed worker's job is claimed again when the lease
    lapses. Failures are retried with exponential backoff up to `max_attempts`, then shown as
    failed with the reason.
    """

    class Kind(models.TextChoices):
        PROCESS_RECORDING = "process_recording", "Probe and thumbnails"
        CUT_CLIP = "cut_clip", "Cut clip"
        HIGHLIGHTS = "highlights", "Highlight clips"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRY = "retry", "Waiting to retry"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    recording = models.ForeignKey(Recording, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    clip = models.ForeignKey(Clip, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0, help_text="0..1")
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    run_after = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "run_after"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"


class RecordingUpload(models.Model):
    """A resumable upload in progress: bytes appended in order to a staging file.

    `received_bytes` is the committed offset; a chunk must start there (a retried chunk that
    starts earlier is answered with the current offset). Completed with the client's SHA-256.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="uploads")
    original_name = models.CharField(max_length=255)
    total_bytes = models.BigIntegerField()
    received_bytes = models.BigIntegerField(default=0)
    expected_sha256 = models.CharField(max_length=64, blank=True)
    staging_path = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    error = models.TextField(blank=True)
    recording = models.OneToOneField(Recording, null=True, blank=True, on_delete=models.SET_NULL, related_name="upload")
    partner = models.ForeignKey("commerce.Partner", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(received_bytes__gte=0) & Q(received_bytes__lte=models.F("total_bytes")),
                name="upload_received_within_total",
                violation_error_message="An upload cannot receive more bytes than announced.",
            ),
        ]


class AssetDelivery(models.Model):
    """Bytes delivered per object per UTC day, from the origin and (as reported) from the edge."""

    asset = models.ForeignKey(AssetObject, on_delete=models.CASCADE, related_name="deliveries")
    day = models.DateField()
    requests = models.BigIntegerField(default=0)
    bytes_origin = models.BigIntegerField(default=0)
    bytes_edge = models.BigIntegerField(default=0)
    views = models.BigIntegerField(default=0, help_text="Clip page views that day (for the hot-set score).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["asset", "day"], name="assetdelivery_one_per_day", violation_error_message="This asset already has a delivery row for that day.")]


class AssetCostDay(models.Model):
    """The cost ledger: one row per session, UTC day and tier, written by the daily task.

    byte_days = Σ object bytes held that day in that tier, each object charged to the session
    that first referenced it (a shared object is charged once). Costs derive from the price
    table at read time (sessions_app.assets.costs).
    """

    session = models.ForeignKey("sessions_app.LiveSession", on_delete=models.CASCADE, related_name="asset_costs")
    day = models.DateField()
    tier = models.CharField(max_length=8, choices=Tier.choices)
    byte_days = models.BigIntegerField(default=0)
    billable_byte_days = models.BigIntegerField(default=0, help_text="After the provider's minimum object size.")
    bytes_delivered = models.BigIntegerField(default=0)
    bytes_retrieved = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "day", "tier"], name="assetcostday_one_per_session_day_tier", violation_error_message="This session already has a cost row for that day and tier.")
        ]
