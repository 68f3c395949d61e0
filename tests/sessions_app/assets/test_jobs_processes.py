"""A real worker process killed with SIGKILL in the middle of a cut: nothing half-written is kept,
and the job runs again (to completion, once) when its lease lapses. PostgreSQL: the worker is a
subprocess on the same test database."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from sessions_app.assets import jobs
from sessions_app.assets.models import AssetJob, AssetObject, Clip
from sessions_app.assets.services import asset_jobs_run_due, clip_create, recording_create_from_file
from sessions_app.assets.uploads import uploads_abandoned_clean
from tests.sessions_app.assets.helpers import live_session

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKER = """
import django
django.setup()
from sessions_app.assets import jobs
job = jobs.asset_job_claim()
print("claimed", job.pk if job else None, flush=True)
if job is not None:
    jobs.asset_job_run(job)
"""


def test_a_worker_killed_mid_cut_leaves_nothing_and_the_job_runs_again(asset_store, long_mp4, monkeypatch):
    monkeypatch.setattr(jobs, "asset_job_kick", lambda **kw: None)  # only the processes below run jobs
    recording = recording_create_from_file(session_id=live_session().pk, path=long_mp4, original_name="long.mp4")
    asset_jobs_run_due()  # processing (+ highlights: none, no drops)
    clip = clip_create(recording_id=recording.pk, start_ms=1000, end_ms=20_000, title="Long re-encode")
    job = AssetJob.objects.get(clip=clip)
    objects_before = AssetObject.objects.count()

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "ASSET_ROOT": str(settings.STORAGES["assets"]["OPTIONS"]["location"]),
        "ASSET_TMP_DIR": str(settings.ASSET_TMP_DIR),
        "ASSET_JOB_LEASE_SECONDS": "600",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout.readline().split() == ["claimed", str(job.pk)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until it is visibly mid-cut
            job.refresh_from_db()
            if 0 < job.progress < 0.8:
                break
            time.sleep(0.05)
        assert 0 < job.progress < 0.8, f"the worker never reported progress mid-cut ({job.progress})"
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)

    job.refresh_from_db()
    clip.refresh_from_db()
    assert (job.state, job.attempts) == (AssetJob.State.RUNNING, 1)  # the dead worker's lease still holds
    assert clip.state == Clip.State.PENDING and clip.asset_id is None
    assert AssetObject.objects.count() == objects_before  # nothing half-written was stored
    assert asset_jobs_run_due() == 0  # not before the lease lapses
    leftovers = list(Path(settings.ASSET_TMP_DIR).glob("cut-*"))
    assert leftovers  # the killed cut's work file …
    uploads_abandoned_clean(now=timezone.now() + dt.timedelta(hours=25))
    assert not any(p.exists() for p in leftovers)  # … is removed by the hourly cleanup

    assert asset_jobs_run_due(now=timezone.now() + dt.timedelta(seconds=601)) == 1
    job.refresh_from_db()
    clip.refresh_from_db()
    assert (job.state, job.attempts) == (AssetJob.State.DONE, 2)
    assert clip.state == Clip.State.READY and clip.method == Clip.Method.ENCODE
    assert abs(clip.duration_ms - 19_000) <= 40
    assert clip.asset.ref_count == 1
