"""Resumable chunked uploads of recordings (RecordingUpload; docs/video.md).

Protocol: `upload_open` announces the size (and optionally the SHA-256) and makes an empty staging
file under ASSET_TMP_DIR/uploads/. `upload_append(offset=, chunks=)` appends in order: under the
upload's row lock (so concurrent appends to one upload are serialised) the offset must equal the
committed `received_bytes`, else UploadOffsetMismatch says where to resume. Bytes are written at
that offset (anything past it from an interrupted append is cut away first), flushed to disk, and
only then is `received_bytes` moved on. `upload_complete` checks the size and the SHA-256, probes
the video and stores it as a Recording; on any refusal the staging file is removed and the upload
is marked failed with the reason. `uploads_abandoned_clean` (hourly schedule) removes uploads left
open longer than ASSET_UPLOAD_ABANDON_HOURS.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .cas import AssetError, hash_file
from .models import Recording, RecordingUpload


class UploadOffsetMismatch(AssetError):
    """A chunk that does not start at the committed offset; `offset` is where to resume."""

    def __init__(self, offset: int, given: int):
        super().__init__(
            "upload_offset_mismatch",
            f"This upload has {offset} bytes; send the next chunk from offset {offset} (not {given}).",
        )
        self.offset = offset


def _staging_dir() -> Path:
    path = Path(getattr(settings, "ASSET_TMP_DIR", settings.VAR_DIR / "tmp")) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _get_locked(upload_id) -> RecordingUpload:
    uploads = RecordingUpload.objects.select_for_update()
    try:
        if isinstance(upload_id, uuid.UUID) or (isinstance(upload_id, str) and not upload_id.isdecimal()):
            return uploads.get(public_id=uuid.UUID(str(upload_id)))
        return uploads.get(pk=int(upload_id))
    except (RecordingUpload.DoesNotExist, ValueError):
        raise AssetError("upload_missing", "That upload does not exist.") from None


def _check_open(upload: RecordingUpload) -> None:
    if upload.state != RecordingUpload.State.OPEN:
        reason = f": {upload.error}" if upload.error else ""
        raise AssetError("upload_closed", f"This upload is {upload.get_state_display().lower()}{reason}.")


def upload_open(
    *,
    session_id: int,
    original_name: str,
    total_bytes: int,
    expected_sha256: str = "",
    created_by=None,
    partner=None,
) -> RecordingUpload:
    """Start a resumable upload of `total_bytes` bytes for a session; returns the open upload.

    Raises AssetError: "recording_type" (not .mp4/.webm), "recording_empty"/"recording_too_large"
    (size outside 1..ASSET_MAX_RECORDING_BYTES), "upload_sha256" (not 64 hex digits), "session_missing".
    """
    from sessions_app.models import LiveSession

    from .services import check_recording_name, check_recording_size

    check_recording_name(original_name)
    try:
        total_bytes = int(total_bytes)
    except (TypeError, ValueError):
        raise AssetError("recording_empty", "Give the file's size in bytes.") from None
    check_recording_size(total_bytes)
    expected = (expected_sha256 or "").strip().lower()
    if expected and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise AssetError("upload_sha256", "The SHA-256 must be 64 hexadecimal digits.")
    if not LiveSession.objects.filter(pk=session_id).exists():
        raise AssetError("session_missing", "That session does not exist.")
    public_id = uuid.uuid4()
    staging = _staging_dir() / f"{public_id}.part"
    staging.touch()
    try:
        return RecordingUpload.objects.create(
            public_id=public_id,
            session_id=session_id,
            original_name=original_name[:255],
            total_bytes=total_bytes,
            expected_sha256=expected,
            staging_path=str(staging),
            created_by=created_by,
            partner=partner,
        )
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def upload_append(*, upload_id, offset: int, chunks: Iterable[bytes]) -> RecordingUpload:
    """Append `chunks` at `offset` (must equal the bytes received so far); returns the upload.

    Raises UploadOffsetMismatch (code "upload_offset_mismatch", `.offset` = where to resume),
    AssetError("upload_too_long") when the bytes would pass the announced size (nothing of this
    append is kept), ("upload_closed") for a completed/failed/abandoned upload, ("upload_missing").
    """
    with transaction.atomic():
        upload = _get_locked(upload_id)
        _check_open(upload)
        if int(offset) != upload.received_bytes:
            raise UploadOffsetMismatch(upload.received_bytes, int(offset))
        start = upload.received_bytes
        written = 0
        with open(upload.staging_path, "r+b") as fh:
            fh.truncate(start)  # bytes of an interrupted earlier append are not ours
            fh.seek(start)
            try:
                for chunk in chunks:
                    if start + written + len(chunk) > upload.total_bytes:
                        raise AssetError(
                            "upload_too_long",
                            f"The upload announced {upload.total_bytes} bytes; this chunk goes past that.",
                        )
                    fh.write(chunk)
                    written += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            except BaseException:
                fh.truncate(start)
                raise
        upload.received_bytes = start + written
        upload.save(update_fields=["received_bytes", "updated_at"])
    return upload


def _refuse(upload: RecordingUpload, error: AssetError) -> None:
    """Mark the upload failed with the reason (its own transaction) and remove the staging file."""
    RecordingUpload.objects.filter(pk=upload.pk).update(
        state=RecordingUpload.State.FAILED, error=error.message, updated_at=timezone.now()
    )
    Path(upload.staging_path).unlink(missing_ok=True)


def upload_complete(*, upload_id, sha256: str | None = None) -> Recording:
    """Finish an upload: all bytes there, SHA-256 matching (`sha256` or the one given at open), a
    readable video; then the Recording is created (recording_create_from_file) and the staging
    file removed.

    Raises AssetError: "upload_incomplete" (fewer bytes than announced; the upload stays open to
    resume), "upload_checksum_mismatch" (upload failed, staging removed, nothing stored), the
    video_probe codes (same), "upload_closed", "upload_missing".
    """
    from .services import recording_create_from_file

    failure = None
    with transaction.atomic():
        upload = _get_locked(upload_id)
        _check_open(upload)
        if upload.received_bytes != upload.total_bytes:
            raise AssetError(
                "upload_incomplete",
                f"Received {upload.received_bytes} of {upload.total_bytes} bytes; send the rest from offset "
                f"{upload.received_bytes}.",
            )
        staging = Path(upload.staging_path)
        actual = hash_file(staging)
        expected = (sha256 or upload.expected_sha256 or "").strip().lower()
        if expected and expected != actual:
            failure = AssetError(
                "upload_checksum_mismatch",
                f"The file's SHA-256 is {actual}, not {expected}: bytes were lost or changed on the way. "
                "Nothing was stored; upload it again.",
            )
        else:
            try:
                with transaction.atomic():
                    recording = recording_create_from_file(
                        session_id=upload.session_id,
                        path=staging,
                        original_name=upload.original_name,
                        created_by=upload.created_by,
                        partner=upload.partner,
                        sha256=actual,
                    )
            except AssetError as exc:
                failure = exc
            else:
                upload.state, upload.recording, upload.error = RecordingUpload.State.COMPLETE, recording, ""
                upload.save(update_fields=["state", "recording", "error", "updated_at"])
                transaction.on_commit(lambda: staging.unlink(missing_ok=True))
    if failure is not None:
        _refuse(upload, failure)
        raise failure
    return recording


def uploads_abandoned_clean(*, now: dt.datetime | None = None, hours: float | None = None) -> int:
    """Mark uploads open and untouched for `hours` (ASSET_UPLOAD_ABANDON_HOURS, default 24) abandoned
    and delete their staging files; also removes work files of killed jobs (cut-*, dl-*, spool-*)
    as old as that. Returns the number of uploads abandoned."""
    now = now or timezone.now()
    hours = float(hours if hours is not None else getattr(settings, "ASSET_UPLOAD_ABANDON_HOURS", 24))
    cutoff = now - dt.timedelta(hours=hours)
    cleaned = 0
    stale = RecordingUpload.objects.filter(state=RecordingUpload.State.OPEN, updated_at__lt=cutoff)
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            upload = RecordingUpload.objects.select_for_update().get(pk=pk)
            if upload.state != RecordingUpload.State.OPEN or upload.updated_at >= cutoff:
                continue  # an append arrived meanwhile
            upload.state = RecordingUpload.State.ABANDONED
            upload.error = f"No bytes for {hours:g} hours; abandoned."
            RecordingUpload.objects.filter(pk=pk).update(state=upload.state, error=upload.error)
            path = Path(upload.staging_path)
            transaction.on_commit(lambda path=path: path.unlink(missing_ok=True))
            cleaned += 1
    _stale_work_files_clean(cutoff)
    return cleaned


WORK_FILE_PATTERNS = ("cut-*", "dl-*", "spool-*")


def _stale_work_files_clean(cutoff: dt.datetime) -> int:
    """Remove work files a killed worker or request left in ASSET_TMP_DIR (a cut in progress, a
    download from S3, a spooled upload) untouched since `cutoff`. Returns how many were removed."""
    folder = Path(getattr(settings, "ASSET_TMP_DIR", settings.VAR_DIR / "tmp"))
    removed = 0
    for pattern in WORK_FILE_PATTERNS:
        for path in folder.glob(pattern):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
    return removed
