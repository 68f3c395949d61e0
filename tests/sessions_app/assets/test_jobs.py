"""Derivative jobs: processing, leases (a killed worker's job runs again), retries with backoff,
corrupt input → failed with a message (never a crashed worker), and a race of runners on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from sessions_app.assets import jobs, services
from sessions_app.assets.cas import asset_open, asset_storage, asset_storage_name
from sessions_app.assets.models import AssetJob, Clip, Recording
from sessions_app.assets.services import asset_jobs_run_due, clip_create, recording_create_from_file
from tests.sessions_app.assets.helpers import live_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(asset_store, bunny_mp4):
    return recording_create_from_file(session_id=live_session().pk, path=bunny_mp4, original_name="show.mp4")


def test_processing_makes_poster_and_strip_then_queues_highlights(recording):
    assert asset_jobs_run_due() >= 1
    recording.refresh_from_db()
    assert recording.state == Recording.State.READY and recording.error == ""
    for obj, size in ((recording.poster, (1280, 720)), (recording.strip, (1600, 90))):
        with asset_open(obj) as fh:
            image = Image.open(io.BytesIO(fh.read()))
            image.load()
        assert image.format == "JPEG" and image.size == size and obj.content_type == "image/jpeg"
    process = AssetJob.objects.get(kind=AssetJob.Kind.PROCESS_RECORDING)
    assert (process.state, process.progress, process.attempts) == (AssetJob.State.DONE, 1, 1)
    assert AssetJob.objects.filter(kind=AssetJob.Kind.HIGHLIGHTS, recording=recording).exists()


def test_reprocessing_keeps_one_reference_per_thumbnail(recording):
    asset_jobs_run_due()
    recording.refresh_from_db()
    poster_id = recording.poster_id
    services.recording_reprocess(recording_id=recording.pk)
    asset_jobs_run_due()
    recording.refresh_from_db()
    assert recording.poster_id == poster_id  # same bytes, same object (content-addressed)
    assert recording.poster.ref_count == 1 and recording.strip.ref_count == 1


def test_a_corrupt_stored_recording_fails_its_job_with_a_message_and_the_worker_goes_on(recording, bunny_mp4):
    other = recording_create_from_file(session_id=recording.session_id, path=bunny_mp4, original_name="again.mp4")
    assert other.asset_id == recording.asset_id  # dedup: same bytes, one object
    # the stored bytes go bad after both uploads (disk rot, a bad restore): both jobs now read bad bytes.
    # (Before the second put it would have been repaired: a put rewrites bytes of the wrong size, cas.py.)
    path = asset_storage().path(asset_storage_name(recording.asset))
    with open(path, "r+b") as fh:
        fh.truncate(300_000)
    ran = asset_jobs_run_due()
    assert ran == 2
    job = AssetJob.objects.filter(kind=AssetJob.Kind.PROCESS_RECORDING).first()
    assert job.state == AssetJob.State.FAILED and job.attempts == 1  # permanent: not retried
    assert "incomplete" in job.error
    recording.refresh_from_db()
    assert recording.state == Recording.State.FAILED and "incomplete" in recording.error


def test_a_transient_failure_is_retried_with_exponential_backoff_then_fails(recording, monkeypatch, settings):
    settings.ASSET_JOB_BACKOFF_SECONDS = 30
    settings.ASSET_JOB_MAX_ATTEMPTS = 3
    AssetJob.objects.update(max_attempts=3)
    calls = []

    def flaky(ctx):
        calls.append(ctx.job.attempts)
        raise OSError("disk full")

    monkeypatch.setattr(services, "recording_process", flaky)
    t0 = timezone.now()
    assert asset_jobs_run_due(now=t0) == 1
    job = AssetJob.objects.get()
    assert job.state == AssetJob.State.RETRY and job.run_after == t0 + dt.timedelta(seconds=30)
    assert "Attempt 1 of 3 failed: OSError: disk full" in job.error
    assert asset_jobs_run_due(now=t0 + dt.timedelta(seconds=29)) == 0  # not due yet
    t1 = t0 + dt.timedelta(seconds=31)
    assert asset_jobs_run_due(now=t1) == 1
    job.refresh_from_db()
    assert job.state == AssetJob.State.RETRY and job.run_after == t1 + dt.timedelta(seconds=60)  # doubled
    t2 = t1 + dt.timedelta(seconds=61)
    assert asset_jobs_run_due(now=t2) == 1
    job.refresh_from_db()
    assert job.state == AssetJob.State.FAILED and job.error == "OSError: disk full"
    assert calls == [1, 2, 3]
    recording.refresh_from_db()
    assert recording.state == Recording.State.FAILED and recording.error == "OSError: disk full"
    assert asset_jobs_run_due(now=t2 + dt.timedelta(days=1)) == 0  # failed stays failed


def test_backoff_is_capped(settings):
    settings.ASSET_JOB_BACKOFF_SECONDS = 30
    settings.ASSET_JOB_BACKOFF_MAX_SECONDS = 600
    assert [jobs.backoff_seconds(n) for n in (1, 2, 3, 4, 5, 6)] == [30, 60, 120, 240, 480, 600]


def test_a_killed_workers_job_runs_again_when_its_lease_lapses(recording, settings):
    settings.ASSET_JOB_LEASE_SECONDS = 600
    t0 = timezone.now()
    dead = jobs.asset_job_claim(now=t0)  # a worker claims it … and is killed (never reports)
    assert dead.state == AssetJob.State.RUNNING and dead.attempts == 1
    assert jobs.asset_job_claim(now=t0 + dt.timedelta(seconds=599)) is None  # the lease still holds
    assert asset_jobs_run_due(now=t0 + dt.timedelta(seconds=601)) >= 1  # it, then the highlights it queued
    job = AssetJob.objects.get(kind=AssetJob.Kind.PROCESS_RECORDING)
    assert (job.state, job.attempts) == (AssetJob.State.DONE, 2)
    recording.refresh_from_db()
    assert recording.state == Recording.State.READY
    # the dead worker wakes up: its progress and completion no longer count
    ctx = jobs.JobContext(dead)
    ctx.progress(1.0)
    assert ctx.lost
    assert jobs.asset_job_run(dead) in ("lost", AssetJob.State.DONE)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (AssetJob.State.DONE, 2)


def test_a_job_whose_worker_dies_on_every_attempt_fails(recording):
    AssetJob.objects.update(max_attempts=2)
    t = timezone.now()
    for _ in range(2):
        assert jobs.asset_job_claim(now=t) is not None
        t += dt.timedelta(seconds=jobs.lease_seconds() + 1)
    assert jobs.asset_job_claim(now=t) is None
    job = AssetJob.objects.get()
    assert job.state == AssetJob.State.FAILED and "stopped" in job.error
    recording.refresh_from_db()
    assert recording.state == Recording.State.FAILED


def test_progress_is_recorded_while_a_clip_is_cut(recording, monkeypatch):
    asset_jobs_run_due()
    recording.refresh_from_db()
    clip = clip_create(recording_id=recording.pk, start_ms=1000, end_ms=3000, title="Middle")
    seen = []
    real = jobs.JobContext.progress

    def spy(self, fraction):
        real(self, fraction)
        seen.append(AssetJob.objects.get(pk=self.job.pk).progress)

    monkeypatch.setattr(jobs.JobContext, "progress", spy)
    monkeypatch.setattr(jobs.time, "monotonic", iter(range(0, 10_000)).__next__)  # no throttling
    asset_jobs_run_due()
    clip.refresh_from_db()
    assert clip.state == Clip.State.READY and clip.method == Clip.Method.ENCODE
    assert len(seen) > 5 and seen == sorted(seen) and 0 < seen[len(seen) // 2] < 1


def test_retry_now_requeues_a_failed_job(recording, monkeypatch):
    AssetJob.objects.update(max_attempts=1)
    monkeypatch.setattr(services, "recording_process", lambda ctx: (_ for _ in ()).throw(OSError("boom")))
    asset_jobs_run_due()
    job = AssetJob.objects.get()
    assert job.state == AssetJob.State.FAILED
    monkeypatch.undo()
    jobs.asset_job_retry_now(job_id=job.pk)
    recording.refresh_from_db()
    assert recording.state == Recording.State.PROCESSING and recording.error == ""
    asset_jobs_run_due()
    job.refresh_from_db()
    recording.refresh_from_db()
    assert job.state == AssetJob.State.DONE and recording.state == Recording.State.READY


def test_the_task_function_runs_only_a_due_job(recording):
    job = AssetJob.objects.get()
    assert jobs.asset_job_task(job.pk) is True
    assert jobs.asset_job_task(job.pk) is False  # done: a duplicate kick does nothing


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_runners_racing_on_postgresql_run_each_job_once(asset_store, monkeypatch):
    """Twelve queued jobs, eight runners released together: every job runs exactly once."""
    ran, lock = [], threading.Lock()

    def handler(ctx):
        with lock:
            ran.append(ctx.job.pk)

    monkeypatch.setattr(services, "recording_process", handler)
    monkeypatch.setattr(jobs, "asset_job_kick", lambda **kw: None)  # only the racing runners run jobs
    session = live_session()
    recordings = [
        Recording.objects.create(session=session, original_name=f"r{i}.mp4", state=Recording.State.PROCESSING)
        for i in range(12)
    ]
    for rec in recordings:
        jobs.asset_job_queue(kind=AssetJob.Kind.PROCESS_RECORDING, recording_id=rec.pk)
    gate = threading.Barrier(8)

    def runner():
        try:
            gate.wait()
            asset_jobs_run_due(limit=100)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ran) == sorted(AssetJob.objects.values_list("pk", flat=True))
    assert len(ran) == len(set(ran)) == 12
    assert set(AssetJob.objects.values_list("state", "attempts")) == {(AssetJob.State.DONE, 1)}
