"""Derivative jobs (AssetJob): queue, claim with a lease, run, retry with backoff (docs/video.md).

- Queue: `asset_job_queue(kind=, recording_id=|clip_id=)` inside the transaction that creates the
  recording or clip; a django-q2 task is kicked when it commits, and the per-minute schedule
  (`sessions_app.assets.services.asset_jobs_run_due`) catches up with any lost kick.
- Claim: one conditional UPDATE (`… WHERE state IN (queued, retry) AND run_after <= now, OR state =
  running AND lease_until < now`) that sets state=running, a lease and attempts+1. On PostgreSQL the
  UPDATE re-checks its WHERE after waiting for a competing writer, so exactly one worker wins a job;
  a killed worker's job is claimed again when its lease lapses. `attempts` doubles as the fencing
  token: progress, heartbeats and completion only count while it is still ours.
- Failures: an AssetError with a permanent code (a corrupt or unsupported input, a cut outside the
  recording) fails the job at once; any other exception (storage, disk, a bug) is retried after
  ASSET_JOB_BACKOFF_SECONDS × 2^(attempts−1) (capped at ASSET_JOB_BACKOFF_MAX_SECONDS) until
  max_attempts, then fails. A failed job's reason is shown on the job and on its recording or clip.
  Nothing a job does with a bad file crashes the worker: PyAV raises Python exceptions, caught here.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .cas import AssetError
from .models import AssetJob, Clip, Recording

logger = logging.getLogger(__name__)

# AssetError codes that no retry can fix: the input itself is bad.
PERMANENT_CODES = {
    "video_unreadable",
    "video_unsupported",
    "video_truncated",
    "clip_invalid",
    "clip_empty",
    "recording_unanchored",
    "recording_missing",
}


def _setting(name: str, default):
    return getattr(settings, name, default)


def lease_seconds() -> float:
    return float(_setting("ASSET_JOB_LEASE_SECONDS", 600))


def backoff_seconds(attempts: int) -> float:
    """Wait before retry number `attempts` (1-based): base × 2^(attempts−1), capped (seconds)."""
    base = float(_setting("ASSET_JOB_BACKOFF_SECONDS", 30))
    cap = float(_setting("ASSET_JOB_BACKOFF_MAX_SECONDS", 3600))
    return min(cap, base * 2 ** max(0, attempts - 1))


# --- queue ---------------------------------------------------------------------------------------


def asset_job_queue(*, kind: str, recording_id: int | None = None, clip_id: int | None = None,
                    now: dt.datetime | None = None) -> AssetJob:
    """Create a queued job (call inside the transaction that decided it) and kick a worker on commit."""
    job = AssetJob.objects.create(
        kind=kind,
        recording_id=recording_id,
        clip_id=clip_id,
        run_after=now or timezone.now(),
        max_attempts=int(_setting("ASSET_JOB_MAX_ATTEMPTS", 5)),
    )
    transaction.on_commit(lambda: asset_job_kick(job_id=job.pk), robust=True)
    return job


def asset_job_kick(*, job_id: int) -> None:
    """Queue a django-q2 task that runs this job if it is due (not transactional; a failure is logged:
    the per-minute schedule runs the job anyway)."""
    from django_q.tasks import async_task

    try:
        async_task(
            "sessions_app.assets.jobs.asset_job_task",
            job_id,
            task_name=f"asset job {job_id} {uuid.uuid4().hex[:6]}",
            group="assets",
            timeout=int(_setting("ASSET_JOB_TIMEOUT_SECONDS", 1800)),
        )
    except Exception:
        logger.exception("could not queue asset job %s; the per-minute schedule will run it", job_id)


def asset_job_task(job_id: int) -> bool:
    """django-q2 task: run job `job_id` if it can be claimed now. Returns True if it ran."""
    job = asset_job_claim(job_id=job_id)
    if job is None:
        return False
    asset_job_run(job)
    return True


# --- claim -----------------------------------------------------------------------------------------


def _claimable(now: dt.datetime):
    due = Q(state__in=[AssetJob.State.QUEUED, AssetJob.State.RETRY]) & (Q(run_after__isnull=True) | Q(run_after__lte=now))
    lapsed = Q(state=AssetJob.State.RUNNING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    return AssetJob.objects.filter(due | lapsed)


def asset_job_claim(*, now: dt.datetime | None = None, job_id: int | None = None) -> AssetJob | None:
    """Lease the oldest due job (or job `job_id` if it is due); None when nothing is claimable.

    A job whose lease lapsed after its last allowed attempt (its worker kept dying) is failed here.
    """
    now = now or timezone.now()
    for _ in range(20):  # a few candidates may be taken by other workers between SELECT and UPDATE
        candidates = _claimable(now)
        if job_id is not None:
            candidates = candidates.filter(pk=job_id)
        pk = candidates.order_by("run_after", "pk").values_list("pk", flat=True).first()
        if pk is None:
            return None
        exhausted = _claimable(now).filter(pk=pk, state=AssetJob.State.RUNNING, attempts__gte=F("max_attempts"))
        if exhausted.exists():
            job = AssetJob.objects.get(pk=pk)
            _fail(job, attempt=job.attempts, reason="The worker stopped (killed or timed out) on every attempt.",
                  now=now)
            continue
        won = _claimable(now).filter(pk=pk).update(
            state=AssetJob.State.RUNNING,
            lease_until=now + dt.timedelta(seconds=lease_seconds()),
            attempts=F("attempts") + 1,
            progress=0,
            updated_at=now,
        )
        if won:
            return AssetJob.objects.get(pk=pk)
    return None


# --- run -------------------------------------------------------------------------------------------


class JobContext:
    """What a handler gets: the job, and `progress(fraction)` which also renews the lease.

    Progress writes are throttled (at most every 0.5 s, or at 1.0) and fenced by the attempt number:
    a worker whose lease was taken over writes nothing and `lost` turns True.
    """

    def __init__(self, job: AssetJob):
        self.job = job
        self.lost = False
        self._last = 0.0

    def progress(self, fraction: float) -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        clock = time.monotonic()
        if fraction < 1.0 and clock - self._last < 0.5:
            return
        self._last = clock
        now = timezone.now()
        updated = AssetJob.objects.filter(
            pk=self.job.pk, state=AssetJob.State.RUNNING, attempts=self.job.attempts
        ).update(progress=fraction, lease_until=now + dt.timedelta(seconds=lease_seconds()), updated_at=now)
        self.lost = not updated
        self.job.progress = fraction


def _handler(kind: str):
    from . import services

    return {
        AssetJob.Kind.PROCESS_RECORDING: services.recording_process,
        AssetJob.Kind.CUT_CLIP: services.clip_cut,
        AssetJob.Kind.HIGHLIGHTS: services.highlights_make_for_job,
    }[kind]


def asset_job_run(job: AssetJob, *, now: dt.datetime | None = None) -> str:
    """Run a claimed job's handler; record done, retry or failed. Returns the job's new state.

    Never raises for a failure of the job itself (bad input, storage, a bug): it is recorded.
    """
    ctx = JobContext(job)
    try:
        _handler(job.kind)(ctx)
    except AssetError as exc:
        if exc.code in PERMANENT_CODES:
            return _fail(job, attempt=job.attempts, reason=exc.message, now=now)
        return _retry_or_fail(job, reason=exc.message, now=now)
    except Exception as exc:  # a job's failure must never take the worker down
        logger.warning("asset job %s failed: %s", job.pk, traceback.format_exc())
        return _retry_or_fail(job, reason=f"{type(exc).__name__}: {exc}", now=now)
    updated = AssetJob.objects.filter(pk=job.pk, state=AssetJob.State.RUNNING, attempts=job.attempts).update(
        state=AssetJob.State.DONE, progress=1, lease_until=None, error="", updated_at=timezone.now()
    )
    return AssetJob.State.DONE if updated else "lost"


def _retry_or_fail(job: AssetJob, *, reason: str, now: dt.datetime | None) -> str:
    now = now or timezone.now()
    if job.attempts >= job.max_attempts:
        return _fail(job, attempt=job.attempts, reason=reason, now=now)
    wait = backoff_seconds(job.attempts)
    updated = AssetJob.objects.filter(pk=job.pk, state=AssetJob.State.RUNNING, attempts=job.attempts).update(
        state=AssetJob.State.RETRY,
        run_after=now + dt.timedelta(seconds=wait),
        lease_until=None,
        error=f"Attempt {job.attempts} of {job.max_attempts} failed: {reason} (retrying in {int(wait)} s)",
        updated_at=now,
    )
    return AssetJob.State.RETRY if updated else "lost"


def _fail(job: AssetJob, *, attempt: int, reason: str, now: dt.datetime | None) -> str:
    """Mark the job failed (fenced by `attempt`) and show the reason on its recording or clip."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = AssetJob.objects.filter(pk=job.pk, attempts=attempt).exclude(state=AssetJob.State.DONE).update(
            state=AssetJob.State.FAILED, lease_until=None, error=reason, updated_at=now
        )
        if not updated:
            return "lost"
        if job.kind == AssetJob.Kind.CUT_CLIP and job.clip_id:
            Clip.objects.filter(pk=job.clip_id).exclude(state=Clip.State.READY).update(
                state=Clip.State.FAILED, error=reason
            )
            # a re-cut of a ready clip that failed keeps the clip's current file on its page
            Clip.objects.filter(pk=job.clip_id, state=Clip.State.READY).update(error=reason)
        elif job.recording_id:
            fields = {"error": reason}
            if job.kind == AssetJob.Kind.PROCESS_RECORDING:
                fields["state"] = Recording.State.FAILED
            Recording.objects.filter(pk=job.recording_id).update(**fields)
    return AssetJob.State.FAILED


def asset_jobs_run_due(*, now: dt.datetime | None = None, limit: int = 10) -> int:
    """Claim and run due jobs one by one, at most `limit`; returns how many ran."""
    ran = 0
    while ran < limit:
        job = asset_job_claim(now=now)
        if job is None:
            break
        asset_job_run(job, now=now)
        ran += 1
    return ran


def asset_job_retry_now(*, job_id: int, now: dt.datetime | None = None) -> AssetJob:
    """Staff "retry now": a failed or waiting job is queued again with fresh attempts and kicked.

    Raises AssetError("job_running") for a job that is running or done.
    """
    now = now or timezone.now()
    with transaction.atomic():
        job = AssetJob.objects.select_for_update().get(pk=job_id)
        if job.state not in (AssetJob.State.FAILED, AssetJob.State.RETRY, AssetJob.State.QUEUED):
            raise AssetError("job_running", f"Job #{job.pk} is {job.get_state_display().lower()}; nothing to retry.")
        job.state, job.attempts, job.run_after, job.lease_until = AssetJob.State.QUEUED, 0, now, None
        job.progress = 0
        job.save(update_fields=["state", "attempts", "run_after", "lease_until", "progress", "updated_at"])
        if job.kind == AssetJob.Kind.CUT_CLIP and job.clip_id:
            Clip.objects.filter(pk=job.clip_id, state=Clip.State.FAILED).update(state=Clip.State.PENDING, error="")
        elif job.kind == AssetJob.Kind.PROCESS_RECORDING and job.recording_id:
            Recording.objects.filter(pk=job.recording_id, state=Recording.State.FAILED).update(
                state=Recording.State.PROCESSING, error=""
            )
        transaction.on_commit(lambda: asset_job_kick(job_id=job.pk), robust=True)
    return job
