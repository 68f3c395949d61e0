"""asset_check (reference counts vs rows, bytes present, tier folders, orphans) and the stored-objects
admin actions (request restore, collect now)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from commerce.services.outbox import outbox_drain
from sessions_app.assets.cas import asset_put_bytes
from sessions_app.assets.models import AssetObject, Clip
from sessions_app.assets.tiers import assets_tier_move_due
from tests.factories import LiveSessionFactory, make_staff

from .storage_fixtures import fs_store  # noqa: F401

pytestmark = pytest.mark.django_db

MP4 = b"\x00\x00\x00\x20ftypisom" + b"c" * 140_000
JPEG = b"\xff\xd8\xff\xe0" + b"p" * 3_000


def check(*args) -> str:
    out = io.StringIO()
    call_command("asset_check", *args, stdout=out)
    return out.getvalue()


def clip_with(asset, poster=None) -> Clip:
    return Clip.objects.create(
        session=LiveSessionFactory(), title="c", start_ms=0, end_ms=10, state="ready", asset=asset, poster=poster
    )


def test_a_consistent_store_passes(fs_store):  # noqa: F811
    video, poster = asset_put_bytes(data=MP4, kind="clip"), asset_put_bytes(data=JPEG, kind="thumbnail")
    clip_with(video, poster)
    assert "checked 2 object(s); fixed 0" in check()


def test_a_wrong_count_is_reported_then_fixed_and_the_unreferenced_object_collected(fs_store):  # noqa: F811
    video = asset_put_bytes(data=MP4, kind="clip")
    clip_with(video)
    asset_put_bytes(data=MP4, kind="clip")  # a reference nobody holds (a service that forgot to release)
    lonely = asset_put_bytes(data=JPEG, kind="thumbnail")

    with pytest.raises(CommandError, match="--fix"):
        check()
    out = check("--fix")
    assert f"miscounted {video.sha256}: ref_count 2, references 1" in out
    assert AssetObject.objects.get(pk=video.pk).ref_count == 1
    assert AssetObject.objects.get(pk=lonely.pk).ref_count == 0
    outbox_drain()
    assert not AssetObject.objects.filter(pk=lonely.pk).exists()
    assert list(fs_store.rglob(lonely.sha256)) == []
    assert "fixed 0" in check()


def test_misplaced_files_are_moved_back_and_orphans_swept(fs_store):  # noqa: F811
    video = asset_put_bytes(data=MP4, kind="clip")
    clip_with(video)
    (fs_store / "archive" / video.key).parent.mkdir(parents=True)
    (fs_store / "fast" / video.key).rename(fs_store / "archive" / video.key)
    orphan = fs_store / "mid" / "assets" / "ab" / "cd" / ("abcd" + "0" * 60)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a crashed put")

    out = check("--fix")
    assert f"misplaced {video.sha256}: recorded fast, found in archive" in out
    assert f"orphan bytes {'abcd' + '0' * 60}" in out
    assert (fs_store / "fast" / video.key).exists() and not orphan.exists()
    assert "fixed 0" in check()


def test_missing_bytes_of_a_referenced_object_fail_the_check(fs_store):  # noqa: F811
    video = asset_put_bytes(data=MP4, kind="clip")
    clip_with(video)
    (fs_store / "fast" / video.key).unlink()
    with pytest.raises(CommandError):
        check("--fix")


def test_truncated_bytes_are_reported_as_the_wrong_size_not_as_missing(fs_store):  # noqa: F811
    # given a referenced object whose file was cut short on disk
    from sessions_app.assets.integrity import assets_check

    video = asset_put_bytes(data=MP4, kind="clip")
    clip_with(video)
    path = fs_store / "fast" / video.key
    path.write_bytes(path.read_bytes()[:10])
    # then the check says what is wrong with it (QA F8: it said "missing bytes")
    report = assets_check()
    assert report.missing == [video.sha256]
    assert report.problems[video.sha256] == f"wrong size: 10 of {len(MP4)} bytes stored (truncated or damaged)"


def test_the_admin_requests_restores_and_collects_unreferenced_objects(client, fs_store):  # noqa: F811
    video = asset_put_bytes(data=MP4, kind="clip")
    clip_with(video)
    spare = asset_put_bytes(data=JPEG, kind="thumbnail")
    AssetObject.objects.filter(pk=spare.pk).update(ref_count=0)
    AssetObject.objects.update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assets_tier_move_due()
    url = "/admin/sessions_app/assetobject/"

    client.force_login(make_staff("viewer", perms=("sessions_app.view_assetobject",)))
    assert client.get(url).status_code == 200
    client.post(url, {"action": "request_restore", "_selected_action": [video.pk]})
    assert AssetObject.objects.get(pk=video.pk).restore == ""  # no permission: nothing happens

    client.force_login(
        make_staff(
            "keeper",
            perms=("sessions_app.view_assetobject", "sessions_app.change_assetobject", "sessions_app.delete_assetobject"),
        )
    )
    client.post(url, {"action": "request_restore", "_selected_action": [video.pk]})
    assert AssetObject.objects.get(pk=video.pk).restore == "requested"
    client.post(url, {"action": "collect_unreferenced", "_selected_action": [video.pk, spare.pk]})
    assert list(AssetObject.objects.values_list("pk", flat=True)) == [video.pk]
