"""The back office for recordings, clips and jobs: upload with clear errors, the cut-clip page, actions,
what each role may do (staff guide steps in docs/video.md)."""

from __future__ import annotations

import os

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile

from sessions_app.assets.models import AssetJob, Clip, Recording
from sessions_app.assets.services import asset_jobs_run_due, recording_create_from_file
from tests.factories import make_staff
from tests.sessions_app.assets.helpers import WENT_LIVE, drop_at, live_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(client):
    user = make_staff("host1", role="host")
    client.force_login(user)
    return user


def test_host_uploads_a_recording_and_sees_it_processed(client, host, asset_store, bunny_mp4, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000  # the 1 MB test file goes to disk, as a big one would
    session = live_session()
    page = client.get("/admin/sessions_app/recording/add/")
    assert page.status_code == 200 and b"Upload a recording" in page.content
    with open(bunny_mp4, "rb") as fh:
        response = client.post(
            "/admin/sessions_app/recording/add/", {"session": session.pk, "file": fh, "started_at": ""}
        )
    recording = Recording.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/recording/{recording.pk}/change/")
    assert recording.created_by == host and recording.original_name == "big_buck_bunny_5s_720p.mp4"
    assert LogEntry.objects.filter(object_id=str(recording.pk), change_message__contains="Uploaded").exists()
    asset_jobs_run_due()
    changelist = client.get("/admin/sessions_app/recording/")
    assert changelist.status_code == 200 and b"Ready" in changelist.content
    change = client.get(f"/admin/sessions_app/recording/{recording.pk}/change/")
    assert change.status_code == 200 and b"Cut a clip" in change.content and b"<progress" in change.content


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("rec.mp4", os.urandom(4000), b"not a video we can read"),
        ("rec.avi", b"RIFF....AVI ", b"must be .mp4 or .webm"),
    ],
)
def test_a_bad_upload_is_a_form_error_and_stores_nothing(client, host, asset_store, name, content, message):
    session = live_session()
    response = client.post(
        "/admin/sessions_app/recording/add/",
        {"session": session.pk, "file": SimpleUploadedFile(name, content, content_type="video/mp4")},
    )
    assert response.status_code == 200 and message in response.content
    assert not Recording.objects.exists()


def test_a_truncated_upload_says_so(client, host, asset_store, bunny_mp4):
    response = client.post(
        "/admin/sessions_app/recording/add/",
        {"session": live_session().pk, "file": SimpleUploadedFile("rec.mp4", bunny_mp4.read_bytes()[:600_000])},
    )
    assert response.status_code == 200 and b"incomplete" in response.content
    assert not Recording.objects.exists()


@pytest.fixture
def ready_recording(asset_store, bunny_mp4):
    session = live_session()
    recording = recording_create_from_file(session_id=session.pk, path=bunny_mp4, original_name="show.mp4")
    asset_jobs_run_due()
    recording.refresh_from_db()
    return recording


def test_host_cuts_a_clip_on_the_cut_page(client, host, ready_recording):
    drop = drop_at(ready_recording.session, opens_at=WENT_LIVE, title="Ring")
    url = f"/admin/sessions_app/recording/{ready_recording.pk}/cut/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "js/admin_clip_cut.js" in html and "data-cut-start" in html and "data-cut-end" in html
    assert "<script>" not in html.split("</head>")[-1]  # no inline scripts in the page body
    refused = client.post(url, {"title": "Too long", "start_s": "1", "end_s": "99", "drop": drop.pk})
    assert refused.status_code == 200 and b"inside the recording" in refused.content
    assert not Clip.objects.exists()
    response = client.post(url, {"title": "Ring moment", "start_s": "0", "end_s": "2.5", "drop": drop.pk})
    clip = Clip.objects.get()
    assert response.status_code == 302 and (clip.start_ms, clip.end_ms, clip.drop) == (0, 2500, drop)
    assert clip.created_by == host
    asset_jobs_run_due()
    clip.refresh_from_db()
    assert clip.state == Clip.State.READY and clip.method == Clip.Method.COPY
    page = client.get("/admin/sessions_app/clip/")
    assert page.status_code == 200 and b"Ring moment" in page.content


def test_failed_job_shows_its_reason_and_retry_now_requeues_it(admin_client, ready_recording, monkeypatch):
    from sessions_app.assets import services

    AssetJob.objects.update(max_attempts=1)
    services.recording_reprocess(recording_id=ready_recording.pk)
    monkeypatch.setattr(services, "recording_process", lambda ctx: (_ for _ in ()).throw(OSError("disk full")))
    AssetJob.objects.filter(state=AssetJob.State.QUEUED).update(max_attempts=1)
    asset_jobs_run_due()
    job = AssetJob.objects.get(state=AssetJob.State.FAILED)
    page = admin_client.get("/admin/sessions_app/assetjob/")
    assert b"disk full" in page.content
    assert b"disk full" in admin_client.get("/admin/sessions_app/recording/").content
    response = admin_client.post(
        "/admin/sessions_app/assetjob/", {"action": "retry_now", "_selected_action": [job.pk], "index": 0}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == AssetJob.State.QUEUED and job.attempts == 0


def test_reprocess_and_highlights_actions_queue_jobs(client, host, ready_recording):
    before = AssetJob.objects.count()
    for action in ("make_highlights", "reprocess"):  # highlights need a processed recording
        response = client.post(
            "/admin/sessions_app/recording/", {"action": action, "_selected_action": [ready_recording.pk], "index": 0}
        )
        assert response.status_code == 302
    assert AssetJob.objects.count() == before + 2


def test_deleting_a_recording_with_clips_is_refused_by_the_admin(admin_client, ready_recording):
    from sessions_app.assets.services import clip_create

    clip_create(recording_id=ready_recording.pk, start_ms=0, end_ms=1000, title="Keep")
    response = admin_client.post(f"/admin/sessions_app/recording/{ready_recording.pk}/delete/", {"post": "yes"})
    assert response.status_code in (200, 403)
    assert Recording.objects.filter(pk=ready_recording.pk).exists()


@pytest.mark.parametrize(
    ("role", "can_cut", "can_see_jobs", "can_see_costs"),
    [("host", True, True, False), ("owner", True, True, True), ("analyst", False, True, True),
     ("support", False, False, False), ("fulfilment", False, False, False)],
)
def test_what_each_role_may_do_with_assets(client, ready_recording, role, can_cut, can_see_jobs, can_see_costs):
    user = make_staff(f"r-{role}", role=role)
    client.force_login(user)
    cut = client.get(f"/admin/sessions_app/recording/{ready_recording.pk}/cut/")
    assert cut.status_code == (200 if can_cut else 403)
    assert client.get("/admin/sessions_app/assetjob/").status_code == (200 if can_see_jobs else 403)
    assert user.has_perm("sessions_app.view_assetcostday") is can_see_costs  # its admin is the COSTS part's
    assert user.has_perm("sessions_app.view_assetdelivery") is can_see_costs


def test_owner_cannot_delete_the_cost_ledger():
    owner = make_staff("own", role="owner")
    assert owner.has_perm("sessions_app.delete_recording")
    assert not owner.has_perm("sessions_app.delete_assetcostday")
    assert not owner.has_perm("sessions_app.delete_assetdelivery")
    support = make_staff("sup", role="support")
    assert support.has_perm("sessions_app.view_clip") and not support.has_perm("sessions_app.view_recording")


def test_a_host_deletes_a_clip_and_then_its_recording_though_both_have_jobs(client, host, asset_store, bunny_mp4):
    # given a processed recording with a clip (each has derivative job rows)
    from sessions_app.assets.models import AssetObject
    from sessions_app.assets.services import clip_create

    recording = recording_create_from_file(session_id=live_session().pk, path=bunny_mp4, original_name="r.mp4")
    asset_jobs_run_due()
    clip = clip_create(recording_id=recording.pk, start_ms=0, end_ms=2000, title="Intro")
    asset_jobs_run_due()
    assert AssetJob.objects.filter(clip=clip).exists() and AssetJob.objects.filter(recording=recording).exists()
    # when the host confirms the clip's deletion, then it goes (the jobs need no permission of their own)
    page = client.get(f"/admin/sessions_app/clip/{clip.pk}/delete/")
    assert page.status_code == 200 and b"no permission" not in page.content.lower()
    assert client.post(f"/admin/sessions_app/clip/{clip.pk}/delete/", {"post": "yes"}).status_code == 302
    # and then the recording's, which releases its stored bytes' references
    assert client.post(f"/admin/sessions_app/recording/{recording.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Recording.objects.exists() and not Clip.objects.exists()
    assert not AssetObject.objects.filter(ref_count__gt=0).exists()
