"""Recording, upload, clip and highlight services (writes; docs/video.md).

Entry points (keyword-only; every one raises AssetError(code, message) on bad input and leaves
nothing half-written):
- recording_create_from_file: validate (size, video_probe), store content-addressed, create the
  Recording and queue its processing job (poster + strip, then highlights), in one transaction.
- upload_open / upload_append / upload_complete: the resumable chunked upload (uploads.py).
- clip_create / clip_delete / recording_delete.
- asset_jobs_run_due: run due derivative jobs inline (what the django-q2 schedule calls).
Job handlers (recording_process, clip_cut, highlights_make_for_job) run inside jobs.asset_job_run.

Units: bytes, milliseconds of media time, aware UTC datetimes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import jobs
from .cas import AssetError, asset_put_bytes, asset_put_file, asset_release, asset_storage, asset_storage_name
from .models import AssetJob, AssetKind, AssetObject, Clip, Recording, SessionMoment
from .uploads import upload_append, upload_complete, upload_open, uploads_abandoned_clean  # noqa: F401 (re-exported)
from .video import video_cut, video_poster, video_probe, video_strip

GIB = 1024**3


def max_recording_bytes() -> int:
    return int(getattr(settings, "ASSET_MAX_RECORDING_BYTES", 8 * GIB))


def tmp_dir() -> Path:
    path = Path(getattr(settings, "ASSET_TMP_DIR", settings.VAR_DIR / "tmp"))
    path.mkdir(parents=True, exist_ok=True)
    return path


RECORDING_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm"}


def check_recording_name(original_name: str) -> None:
    """Raise AssetError("recording_type") unless the name ends in .mp4/.m4v/.mov/.webm."""
    if Path(original_name or "").suffix.lower() not in RECORDING_EXTENSIONS:
        raise AssetError("recording_type", "Recordings must be .mp4 or .webm files.")


def check_recording_size(size: int) -> None:
    """Raise AssetError("recording_too_large" | "recording_empty") for a size outside 1..max bytes."""
    if size <= 0:
        raise AssetError("recording_empty", "The file is empty.")
    limit = max_recording_bytes()
    if size > limit:
        raise AssetError(
            "recording_too_large",
            f"The file is {size / GIB:.2f} GiB; recordings may be at most {limit / GIB:.2f} GiB.",
        )


# --- recordings ------------------------------------------------------------------------------------


def recording_create_from_file(
    *,
    session_id: int,
    path,
    original_name: str,
    created_by=None,
    partner=None,
    started_at: dt.datetime | None = None,
    sha256: str | None = None,
) -> Recording:
    """Store a local video file as `session_id`'s recording and queue its processing.

    `path` is read, never moved or deleted (the caller cleans up). Order: size and name checks,
    video_probe (a bad, truncated or unsupported file raises AssetError: nothing stored), then in
    one transaction the content-addressed object (a reference taken), the Recording (state
    processing, duration and codecs from the probe, started_at defaulting to the session's Go live)
    and its PROCESS_RECORDING job, kicked on commit. `sha256` skips re-hashing when known.
    """
    from sessions_app.models import LiveSession

    path = Path(path)
    check_recording_name(original_name)
    check_recording_size(path.stat().st_size)
    session = LiveSession.objects.filter(pk=session_id).first()
    if session is None:
        raise AssetError("session_missing", "That session does not exist.")
    info = video_probe(path)
    with transaction.atomic():
        obj = asset_put_file(path=path, kind=AssetKind.RECORDING, original_name=original_name, sha256=sha256)
        recording = Recording.objects.create(
            session=session,
            asset=obj,
            original_name=original_name[:255],
            state=Recording.State.PROCESSING,
            started_at=started_at or session.went_live_at,
            duration_ms=info["duration_ms"],
            width=info["width"],
            height=info["height"],
            video_codec=info["video_codec"],
            audio_codec=info["audio_codec"],
            created_by=created_by,
            partner=partner,
        )
        jobs.asset_job_queue(kind=AssetJob.Kind.PROCESS_RECORDING, recording_id=recording.pk)
    return recording


@contextlib.contextmanager
def local_file(obj: AssetObject):
    """A local path to an object's bytes: the file itself on the filesystem store, else a temporary
    download (S3) removed afterwards. Raises AssetError("asset_missing") when the bytes are gone."""
    storage = asset_storage()
    name = asset_storage_name(obj)
    try:
        direct = Path(storage.path(name))
    except NotImplementedError:
        direct = None
    if direct is not None:
        if not direct.is_file():
            raise AssetError("asset_missing", f"The stored bytes of {obj.sha256[:12]} are missing ({obj.tier} tier).")
        yield direct
        return
    fd, tmp = tempfile.mkstemp(dir=tmp_dir(), prefix="dl-", suffix=f".{obj.extension or 'bin'}")
    try:
        with open(fd, "wb") as out, storage.open(name, "rb") as src:
            for chunk in iter(lambda: src.read(1024 * 1024), b""):
                out.write(chunk)
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _swap(instance, field: str, new: AssetObject | None) -> None:
    """Point instance.<field> at `new` (a reference already taken) and release the old object."""
    old_id = getattr(instance, f"{field}_id")
    setattr(instance, field, new)
    if old_id:  # also when the bytes are the same: `new` took its own reference, keep exactly one
        asset_release(asset_id=old_id)


def recording_process(ctx: jobs.JobContext) -> None:
    """Job handler: poster (10 % in) and strip for a recording, then queue its highlights job."""
    recording = Recording.objects.select_related("asset").filter(pk=ctx.job.recording_id).first()
    if recording is None or recording.asset is None:
        raise AssetError("recording_missing", "The recording or its file is gone.")
    with local_file(recording.asset) as path:
        info = video_probe(path)
        ctx.progress(0.2)
        poster = video_poster(path)
        ctx.progress(0.5)
        strip = video_strip(path, count=int(getattr(settings, "ASSET_STRIP_FRAMES", 10)))
        ctx.progress(0.9)
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording.pk)
        poster_obj = asset_put_bytes(data=poster, kind=AssetKind.THUMBNAIL, original_name="poster.jpg")
        strip_obj = asset_put_bytes(data=strip, kind=AssetKind.THUMBNAIL, original_name="strip.jpg")
        _swap(recording, "poster", poster_obj)
        _swap(recording, "strip", strip_obj)
        recording.duration_ms, recording.width, recording.height = info["duration_ms"], info["width"], info["height"]
        recording.state, recording.error = Recording.State.READY, ""
        recording.save()
        jobs.asset_job_queue(kind=AssetJob.Kind.HIGHLIGHTS, recording_id=recording.pk)


def recording_reprocess(*, recording_id: int) -> AssetJob:
    """Queue the recording's processing again (posters, strip, then highlights for new moments)."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if recording.asset_id is None:
            raise AssetError("recording_missing", "This recording has no stored file to process.")
        recording.state, recording.error = Recording.State.PROCESSING, ""
        recording.save(update_fields=["state", "error"])
        return jobs.asset_job_queue(kind=AssetJob.Kind.PROCESS_RECORDING, recording_id=recording.pk)


def recording_set_started_at(*, recording_id: int, started_at: dt.datetime) -> Recording:
    """Staff correct when the recording's first frame was (aware UTC); highlights use it as offset 0."""
    if timezone.is_naive(started_at):
        raise AssetError("started_at_naive", "The start time needs a timezone.")
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        recording.started_at = started_at
        recording.save(update_fields=["started_at"])
    return recording


def recording_delete(*, recording_id: int) -> None:
    """Delete a recording and give back its references (bytes go when nothing else uses them).

    Raises AssetError("recording_has_clips") while clips cut from it exist (they sell drops: delete
    them first), and ("recording_missing") for an unknown id.
    """
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None:
            raise AssetError("recording_missing", "That recording does not exist.")
        if recording.clips.exists():
            raise AssetError(
                "recording_has_clips",
                f"This recording has {recording.clips.count()} clip(s); delete them first.",
            )
        held = [recording.asset_id, recording.poster_id, recording.strip_id]
        recording.delete()
        for asset_id in held:
            if asset_id:
                asset_release(asset_id=asset_id)


# --- clips -----------------------------------------------------------------------------------------


def _clip_limits() -> tuple[int, int]:
    return int(getattr(settings, "ASSET_CLIP_MIN_MS", 500)), int(getattr(settings, "ASSET_CLIP_MAX_MS", 10 * 60_000))


def clip_create(
    *,
    recording_id: int,
    start_ms: int,
    end_ms: int,
    title: str,
    drop_id: int | None = None,
    source: str = Clip.Source.STAFF,
    created_by=None,
    partner=None,
    moment_id: int | None = None,
) -> Clip:
    """Create a clip of [start_ms, end_ms) of a recording and queue its cut; returns the pending Clip.

    Checks: the recording exists, is not failed and has a duration; 0 ≤ start < end ≤ duration;
    length between ASSET_CLIP_MIN_MS and ASSET_CLIP_MAX_MS; the drop belongs to the same session;
    a non-empty title. Raises AssetError ("recording_missing", "recording_failed", "clip_invalid",
    "clip_drop_other_session", "clip_title"); a highlight for a moment that already has one raises
    "clip_duplicate_highlight" (the unique constraint decides, race-safe).
    Clips by partners, and clips of a recording a partner uploaded, start unpublished
    (`is_public=False`); staff publish them in the admin.
    """
    from commerce.models import Drop

    title = (title or "").strip()
    if not title:
        raise AssetError("clip_title", "Give the clip a title.")
    try:
        start_ms, end_ms = int(start_ms), int(end_ms)
    except (TypeError, ValueError):
        raise AssetError("clip_invalid", "Start and end must be whole milliseconds.") from None
    low, high = _clip_limits()
    with transaction.atomic():
        recording = Recording.objects.filter(pk=recording_id).first()
        if recording is None:
            raise AssetError("recording_missing", "That recording does not exist.")
        if recording.state == Recording.State.FAILED or not recording.duration_ms:
            raise AssetError("recording_failed", "This recording could not be processed; clips cannot be cut from it.")
        if start_ms < 0 or end_ms <= start_ms or end_ms > recording.duration_ms:
            raise AssetError(
                "clip_invalid",
                f"A clip must lie inside the recording (0–{recording.duration_ms} ms) and end after it starts.",
            )
        if not low <= end_ms - start_ms <= high:
            raise AssetError("clip_invalid", f"A clip lasts between {low / 1000:g} s and {high / 1000:g} s.")
        if drop_id is not None and not Drop.objects.filter(pk=drop_id, session_id=recording.session_id).exists():
            raise AssetError("clip_drop_other_session", "That drop is not part of this recording's session.")
        try:
            with transaction.atomic():
                clip = Clip.objects.create(
                    session_id=recording.session_id,
                    recording=recording,
                    drop_id=drop_id,
                    moment_id=moment_id,
                    title=title[:200],
                    source=source,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    created_by=created_by,
                    partner=partner,
                    # A partner's clip, or any clip of a partner's recording (its highlights too),
                    # starts unpublished: staff review it before it reaches the shop's pages.
                    is_public=partner is None and recording.partner_id is None,
                )
        except IntegrityError:
            raise AssetError("clip_duplicate_highlight", "This moment already has a highlight clip.") from None
        jobs.asset_job_queue(kind=AssetJob.Kind.CUT_CLIP, clip_id=clip.pk)
    return clip


def clip_cut(ctx: jobs.JobContext) -> None:
    """Job handler: cut the clip's range (video_cut), store it and a poster content-addressed.

    A clip cut to bytes that already exist shares that AssetObject (dedup in cas).
    """
    clip = Clip.objects.select_related("recording__asset").filter(pk=ctx.job.clip_id).first()
    if clip is None or clip.recording is None or clip.recording.asset is None:
        raise AssetError("recording_missing", "The clip's recording or its file is gone.")
    fd, out_name = tempfile.mkstemp(dir=tmp_dir(), prefix="cut-", suffix=".mp4")
    Path(out_name).unlink()
    out = Path(out_name)
    try:
        with local_file(clip.recording.asset) as src:
            method = video_cut(
                src, out, start_ms=clip.start_ms, end_ms=clip.end_ms, progress=lambda f: ctx.progress(0.9 * f)
            )
        info = video_probe(out)
        poster = video_poster(out, at_ms=min(info["duration_ms"] // 2, 1000))
        with transaction.atomic():
            locked = Clip.objects.select_for_update().filter(pk=clip.pk).first()
            if locked is None:
                return  # deleted while cutting: nothing to attach
            obj = asset_put_file(path=out, kind=AssetKind.CLIP, original_name=f"{clip.public_id}.mp4")
            poster_obj = asset_put_bytes(data=poster, kind=AssetKind.THUMBNAIL, original_name="poster.jpg")
            _swap(locked, "asset", obj)
            _swap(locked, "poster", poster_obj)
            locked.method, locked.duration_ms = method, info["duration_ms"]
            locked.state, locked.error = Clip.State.READY, ""
            locked.save()
    finally:
        out.unlink(missing_ok=True)


def clip_recut(*, clip_id: int) -> AssetJob:
    """Queue a clip's cut again (after a failure or a change of range).

    A clip that is ready stays ready with its current file until the new cut replaces it (the job
    swaps the file in one step), so its public page and shared links keep playing; a failed re-cut
    leaves it as it was, with the reason in `error`.
    """
    with transaction.atomic():
        clip = Clip.objects.select_for_update().get(pk=clip_id)
        if clip.recording_id is None:
            raise AssetError("recording_missing", "This clip has no recording to cut from.")
        keeps_playing = clip.state == Clip.State.READY and clip.asset_id is not None
        clip.state, clip.error = (Clip.State.READY if keeps_playing else Clip.State.PENDING), ""
        clip.save(update_fields=["state", "error"])
        return jobs.asset_job_queue(kind=AssetJob.Kind.CUT_CLIP, clip_id=clip.pk)


def clip_delete(*, clip_id: int) -> None:
    """Delete a clip and give back its references to the clip bytes and poster (jobs go with it).

    Raises AssetError("clip_missing") for an unknown id.
    """
    with transaction.atomic():
        clip = Clip.objects.select_for_update().filter(pk=clip_id).first()
        if clip is None:
            raise AssetError("clip_missing", "That clip does not exist.")
        held = [clip.asset_id, clip.poster_id]
        clip.delete()
        for asset_id in held:
            if asset_id:
                asset_release(asset_id=asset_id)


# --- highlights ------------------------------------------------------------------------------------

HIGHLIGHT_KINDS = (SessionMoment.Kind.DROP_OPENED, SessionMoment.Kind.DROP_PINNED)


def highlight_window_ms() -> tuple[int, int]:
    """(before, after) in ms around a moment: ASSET_HIGHLIGHT_BEFORE_MS (5 s), ASSET_HIGHLIGHT_AFTER_MS (25 s)."""
    return (
        int(getattr(settings, "ASSET_HIGHLIGHT_BEFORE_MS", 5_000)),
        int(getattr(settings, "ASSET_HIGHLIGHT_AFTER_MS", 25_000)),
    )


def highlights_make(*, recording_id: int) -> list[Clip]:
    """Queue one highlight clip per drop moment of the recording's session; returns the new clips.

    Rule (docs/video.md): moments are the session's drop_opened and drop_pinned SessionMoments; a
    drop of the session with neither gets a drop_opened moment backfilled at
    max(drop.opens_at, went_live_at) when that instant lies in the live window [went_live_at,
    ended_at] (or the recording's span while still live). Offset = moment.at − recording.started_at
    (default: went_live_at); the clip is [offset − before, offset + after] clamped to [0, duration];
    moments outside the recording, or leaving less than ASSET_CLIP_MIN_MS, are skipped. Exactly one
    highlight per moment (a unique constraint): running this again adds only missing ones.
    Raises AssetError("recording_unanchored") when neither started_at nor went_live_at is known.
    """
    from commerce.models import Drop
    from sessions_app.services import session_moment_record

    recording = Recording.objects.select_related("session").get(pk=recording_id)
    session = recording.session
    anchor = recording.started_at or session.went_live_at
    if anchor is None or not recording.duration_ms:
        raise AssetError(
            "recording_unanchored",
            "Set the recording's start time (or go live first): highlights are placed by clock time.",
        )
    rec_end = anchor + dt.timedelta(milliseconds=recording.duration_ms)
    live_from = session.went_live_at or anchor
    live_to = session.ended_at or rec_end
    before, after = highlight_window_ms()
    low, _high = _clip_limits()
    made = []
    for drop in Drop.objects.filter(session=session).select_related("sku__product").order_by("opens_at", "pk"):
        moments = list(SessionMoment.objects.filter(session=session, drop=drop, kind__in=HIGHLIGHT_KINDS))
        if not moments:
            at = max(drop.opens_at, live_from)
            if live_from <= at <= live_to:
                with transaction.atomic():
                    moments = [session_moment_record(session_id=session.pk, kind=SessionMoment.Kind.DROP_OPENED,
                                                     at=at, drop_id=drop.pk, note="backfilled for highlights")]
        for moment in moments:
            offset = round((moment.at - anchor).total_seconds() * 1000)
            if not 0 <= offset < recording.duration_ms:
                continue
            start, end = max(0, offset - before), min(recording.duration_ms, offset + after)
            if end - start < low or Clip.objects.filter(moment=moment, source=Clip.Source.HIGHLIGHT).exists():
                continue
            label = drop.title or str(drop.sku.product.title if drop.sku_id else drop)
            verb = "opens" if moment.kind == SessionMoment.Kind.DROP_OPENED else "pinned"
            try:
                made.append(
                    clip_create(recording_id=recording.pk, start_ms=start, end_ms=end, title=f"{label} — {verb}",
                                drop_id=drop.pk, source=Clip.Source.HIGHLIGHT, moment_id=moment.pk)
                )
            except AssetError as exc:
                if exc.code != "clip_duplicate_highlight":
                    raise
    return made


def highlights_make_for_job(ctx: jobs.JobContext) -> None:
    """Job handler for HIGHLIGHTS."""
    highlights_make(recording_id=ctx.job.recording_id)
    ctx.progress(1.0)


def highlights_queue(*, recording_id: int) -> AssetJob:
    """Staff "make highlights": queue a highlights job for a processed recording."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if recording.state != Recording.State.READY:
            raise AssetError("recording_not_ready", "Highlights are made once the recording is processed.")
        return jobs.asset_job_queue(kind=AssetJob.Kind.HIGHLIGHTS, recording_id=recording.pk)


# --- jobs ------------------------------------------------------------------------------------------


def asset_jobs_run_due(*, now: dt.datetime | None = None, limit: int = 10) -> int:
    """Run due derivative jobs inline (claim with a lease, run, record); returns how many ran.

    The django-q2 schedule `sessions_app.asset_jobs` calls this every minute, so a job whose kick
    was lost, or whose worker died (lease lapsed), still runs.
    """
    return jobs.asset_jobs_run_due(now=now, limit=limit)
