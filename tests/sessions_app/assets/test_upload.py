"""Recordings in: from a file (admin form) and through the resumable chunked upload service."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from django.db import connection

from sessions_app.assets.cas import AssetError
from sessions_app.assets.models import AssetJob, AssetObject, Recording, RecordingUpload
from sessions_app.assets.services import recording_create_from_file, upload_append, upload_complete, upload_open
from sessions_app.assets.uploads import UploadOffsetMismatch, uploads_abandoned_clean
from tests.sessions_app.assets.helpers import WENT_LIVE, chunks_of, later, live_session, sha256_of

pytestmark = pytest.mark.django_db


def nothing_stored():
    return not Recording.objects.exists() and not AssetObject.objects.exists() and not AssetJob.objects.exists()


def staging_files(asset_store) -> list[Path]:
    folder = Path(asset_store) / "tmp" / "uploads"
    return sorted(folder.glob("*")) if folder.exists() else []


# --- from a file ------------------------------------------------------------------------------------


def test_a_recording_from_a_file_is_stored_probed_and_queued(asset_store, bunny_mp4, django_capture_on_commit_callbacks):
    session = live_session()
    with django_capture_on_commit_callbacks() as callbacks:
        recording = recording_create_from_file(session_id=session.pk, path=bunny_mp4, original_name="show.mp4")
    assert recording.state == Recording.State.PROCESSING
    assert abs(recording.duration_ms - 5280) <= 40 and (recording.width, recording.height) == (1280, 720)
    assert (recording.video_codec, recording.audio_codec) == ("h264", "aac")
    assert recording.started_at == WENT_LIVE  # defaults to Go live
    assert recording.asset.sha256 == sha256_of(bunny_mp4) and recording.asset.ref_count == 1
    assert recording.asset.content_type == "video/mp4"
    job = AssetJob.objects.get()
    assert (job.kind, job.state, job.recording_id) == (AssetJob.Kind.PROCESS_RECORDING, AssetJob.State.QUEUED, recording.pk)
    assert len(callbacks) == 1  # the worker kick, after commit
    assert bunny_mp4.exists()  # the caller's file is left alone


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_name"])
def test_a_bad_file_is_refused_and_nothing_is_stored(asset_store, bunny_mp4, tmp_path, damage):
    session = live_session()
    path, name = tmp_path / "rec.mp4", "rec.mp4"
    if damage == "garbage":
        path.write_bytes(os.urandom(20_000))
    elif damage == "truncated":
        path.write_bytes(bunny_mp4.read_bytes()[:500_000])
    else:
        path.write_bytes(bunny_mp4.read_bytes())
        name = "rec.exe"
    with pytest.raises(AssetError) as err:
        recording_create_from_file(session_id=session.pk, path=path, original_name=name)
    assert err.value.code in {"video_unreadable", "video_truncated", "recording_type"}
    assert err.value.message
    assert nothing_stored()
    store = Path(asset_store) / "store"
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file()]


def test_a_recording_over_the_size_limit_is_refused(asset_store, bunny_mp4, settings):
    settings.ASSET_MAX_RECORDING_BYTES = 1000
    with pytest.raises(AssetError) as err:
        recording_create_from_file(session_id=live_session().pk, path=bunny_mp4, original_name="show.mp4")
    assert err.value.code == "recording_too_large" and "at most" in err.value.message
    assert nothing_stored()


# --- chunked, resumable ------------------------------------------------------------------------------


def test_chunked_upload_resumes_after_a_wrong_offset_and_completes(
    asset_store, bunny_mp4, django_capture_on_commit_callbacks
):
    data = bunny_mp4.read_bytes()
    session = live_session()
    upload = upload_open(session_id=session.pk, original_name="show.mp4", total_bytes=len(data))
    parts = chunks_of(data, 300_000)
    upload = upload_append(upload_id=upload.pk, offset=0, chunks=[parts[0]])
    # a client that lost the answer re-sends the first chunk: refused, told where to resume
    with pytest.raises(UploadOffsetMismatch) as err:
        upload_append(upload_id=upload.pk, offset=0, chunks=[parts[0]])
    assert err.value.offset == 300_000 and err.value.code == "upload_offset_mismatch"
    # complete before all bytes arrived: refused, still open
    with pytest.raises(AssetError) as err:
        upload_complete(upload_id=upload.pk, sha256=sha256_of(bunny_mp4))
    assert err.value.code == "upload_incomplete"
    upload = upload_append(upload_id=str(upload.public_id), offset=300_000, chunks=iter(parts[1:]))
    assert upload.received_bytes == len(data)
    with django_capture_on_commit_callbacks(execute=True):
        recording = upload_complete(upload_id=upload.pk, sha256=sha256_of(bunny_mp4))
    upload.refresh_from_db()
    assert upload.state == RecordingUpload.State.COMPLETE and upload.recording == recording
    assert recording.asset.sha256 == sha256_of(bunny_mp4) and recording.asset.size_bytes == len(data)
    assert not Path(upload.staging_path).exists()  # removed once the recording committed


def test_checksum_mismatch_fails_the_upload_stores_nothing_and_removes_staging(asset_store, bunny_mp4):
    data = bunny_mp4.read_bytes()
    upload = upload_open(session_id=live_session().pk, original_name="show.mp4", total_bytes=len(data))
    flipped = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
    upload_append(upload_id=upload.pk, offset=0, chunks=chunks_of(flipped, 65536))
    with pytest.raises(AssetError) as err:
        upload_complete(upload_id=upload.pk, sha256=sha256_of(bunny_mp4))
    assert err.value.code == "upload_checksum_mismatch" and "Nothing was stored" in err.value.message
    upload.refresh_from_db()
    assert upload.state == RecordingUpload.State.FAILED and "SHA-256" in upload.error
    assert not Path(upload.staging_path).exists()
    assert nothing_stored()
    with pytest.raises(AssetError) as err:
        upload_append(upload_id=upload.pk, offset=len(data), chunks=[b"x"])
    assert err.value.code == "upload_closed"


def test_checksum_given_at_open_is_checked_at_complete(asset_store, bunny_mp4):
    data = bunny_mp4.read_bytes()
    upload = upload_open(
        session_id=live_session().pk, original_name="show.mp4", total_bytes=len(data), expected_sha256="0" * 64
    )
    upload_append(upload_id=upload.pk, offset=0, chunks=[data])
    with pytest.raises(AssetError) as err:
        upload_complete(upload_id=upload.pk)
    assert err.value.code == "upload_checksum_mismatch"


def test_a_truncated_video_upload_is_refused_after_the_checksum(asset_store, bunny_mp4, tmp_path):
    data = bunny_mp4.read_bytes()[:700_000]
    part = tmp_path / "part.mp4"
    part.write_bytes(data)
    upload = upload_open(session_id=live_session().pk, original_name="show.mp4", total_bytes=len(data))
    upload_append(upload_id=upload.pk, offset=0, chunks=[data])
    with pytest.raises(AssetError) as err:
        upload_complete(upload_id=upload.pk, sha256=sha256_of(part))
    assert err.value.code == "video_truncated"
    upload.refresh_from_db()
    assert upload.state == RecordingUpload.State.FAILED and "incomplete" in upload.error
    assert not Path(upload.staging_path).exists() and nothing_stored()


def test_bytes_past_the_announced_size_are_refused_and_not_kept(asset_store):
    upload = upload_open(session_id=live_session().pk, original_name="show.webm", total_bytes=10)
    upload_append(upload_id=upload.pk, offset=0, chunks=[b"12345"])
    with pytest.raises(AssetError) as err:
        upload_append(upload_id=upload.pk, offset=5, chunks=[b"678", b"90abc"])
    assert err.value.code == "upload_too_long"
    upload.refresh_from_db()
    assert upload.received_bytes == 5 and Path(upload.staging_path).read_bytes() == b"12345"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"original_name": "show.avi", "total_bytes": 10}, "recording_type"),
        ({"original_name": "show.mp4", "total_bytes": 0}, "recording_empty"),
        ({"original_name": "show.mp4", "total_bytes": 9 * 1024**3}, "recording_too_large"),
        ({"original_name": "show.mp4", "total_bytes": 10, "expected_sha256": "xyz"}, "upload_sha256"),
    ],
)
def test_upload_open_refuses_bad_announcements(asset_store, kwargs, code):
    with pytest.raises(AssetError) as err:
        upload_open(session_id=live_session().pk, **kwargs)
    assert err.value.code == code
    assert not RecordingUpload.objects.exists() and staging_files(asset_store) == []


def test_unknown_upload_is_a_clear_error(asset_store):
    with pytest.raises(AssetError) as err:
        upload_append(upload_id=999999, offset=0, chunks=[b"x"])
    assert err.value.code == "upload_missing"


def test_abandoned_uploads_are_cleaned_after_n_hours(asset_store, settings, django_capture_on_commit_callbacks):
    settings.ASSET_UPLOAD_ABANDON_HOURS = 6
    session = live_session()
    old = upload_open(session_id=session.pk, original_name="a.mp4", total_bytes=10)
    upload_append(upload_id=old.pk, offset=0, chunks=[b"abc"])
    fresh = upload_open(session_id=session.pk, original_name="b.mp4", total_bytes=10)
    assert uploads_abandoned_clean(now=later(3600)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        RecordingUpload.objects.filter(pk=fresh.pk).update(updated_at=later(5 * 3600))
        assert uploads_abandoned_clean(now=later(6 * 3600 + 60)) == 1
    old.refresh_from_db()
    assert old.state == RecordingUpload.State.ABANDONED and not Path(old.staging_path).exists()
    assert RecordingUpload.objects.get(pk=fresh.pk).state == RecordingUpload.State.OPEN
    assert Path(fresh.staging_path).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_to_one_upload_are_serialised(asset_store):
    """Eight clients send the same next chunk at once: exactly one lands, the others are told the new offset."""
    data = os.urandom(8 * 50_000)
    upload = upload_open(session_id=live_session().pk, original_name="show.mp4", total_bytes=len(data))
    upload_append(upload_id=upload.pk, offset=0, chunks=[data[:50_000]])
    gate = threading.Barrier(8)
    results = []

    def client(i):
        try:
            gate.wait()
            upload_append(upload_id=upload.pk, offset=50_000, chunks=[data[50_000:100_000]])
            results.append("ok")
        except UploadOffsetMismatch as exc:
            results.append(exc.offset)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == sorted(["ok"] + [100_000] * 7, key=str)
    upload.refresh_from_db()
    assert upload.received_bytes == 100_000
    assert Path(upload.staging_path).read_bytes() == data[:100_000]
