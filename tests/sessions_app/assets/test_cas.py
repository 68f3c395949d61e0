"""The content-addressed store: keys, dedup, reference counts, content types, collection through
the outbox, and the crash windows (bytes written but not committed; bytes deleted but not committed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from commerce.models import OutboxMessage
from commerce.services.outbox import outbox_drain
from sessions_app.assets import cas
from sessions_app.assets.cas import AssetError, asset_put_bytes, asset_release, sniff_content_type
from sessions_app.assets.models import AssetObject

from .storage_fixtures import fs_store  # noqa: F401

# Plain test transactions: on_commit never fires, so the outbox is drained by hand (outbox_drain()).
pytestmark = pytest.mark.django_db

MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"x" * 200


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- content types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (MP4_HEAD, "", ("video/mp4", "mp4")),
        (MP4_HEAD, "clip.webm", ("video/mp4", "mp4")),  # the bytes win over a wrong name
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 40, "talk.webm", ("video/webm", "webm")),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 40, "talk.mkv", ("video/x-matroska", "mkv")),
        (JPEG, "", ("image/jpeg", "jpg")),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "", ("image/png", "png")),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", ("image/webp", "webp")),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00", "", ("video/quicktime", "mov")),
        (b"plain words", "notes.txt", ("text/plain", "txt")),  # unknown bytes: the original name decides
        (b"plain words", "", ("application/octet-stream", "")),
        (b"plain words", "evil.<script>", ("application/octet-stream", "")),
    ],
    ids=["mp4", "mp4-named-webm", "webm", "mkv", "jpeg", "png", "webp", "mov", "txt-by-name", "unknown", "bad-name"],
)
def test_content_type_comes_from_the_bytes_then_the_original_name(head, name, expected):
    assert sniff_content_type(head, name) == expected


# --- put, dedup, keys ------------------------------------------------------------------------------


def test_the_same_bytes_are_stored_once_under_their_hash_key(fs_store):  # noqa: F811
    first = asset_put_bytes(data=JPEG, kind="thumbnail", original_name="a.jpg")
    second = asset_put_bytes(data=JPEG, kind="thumbnail", original_name="b.jpeg")

    sha = hashlib.sha256(JPEG).hexdigest()
    assert first.pk == second.pk
    assert AssetObject.objects.get(pk=first.pk).ref_count == 2
    assert first.key == f"assets/{sha[:2]}/{sha[2:4]}/{sha}"
    assert stored_files(fs_store) == [fs_store / "fast" / first.key]
    assert (fs_store / "fast" / first.key).read_bytes() == JPEG
    assert (first.content_type, first.extension, first.size_bytes) == ("image/jpeg", "jpg", len(JPEG))


def test_a_missing_source_file_is_refused(fs_store, tmp_path):  # noqa: F811
    with pytest.raises(AssetError) as err:
        cas.asset_put_file(path=tmp_path / "nope.mp4", kind="recording")
    assert err.value.code == "asset_missing_file"
    assert AssetObject.objects.count() == 0


def test_release_to_zero_collects_through_the_outbox(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_put_bytes(data=JPEG, kind="thumbnail")

    assert asset_release(asset_id=obj.pk) == 1
    assert not OutboxMessage.objects.filter(kind="asset.collect").exists()
    assert asset_release(asset_id=obj.pk) == 0
    assert OutboxMessage.objects.filter(kind="asset.collect").count() == 1
    assert stored_files(fs_store)  # nothing is deleted before the message is sent

    outbox_drain()
    assert not AssetObject.objects.filter(pk=obj.pk).exists()
    assert stored_files(fs_store) == []


def test_a_reference_taken_before_the_collect_runs_keeps_the_bytes(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_release(asset_id=obj.pk)
    again = asset_put_bytes(data=JPEG, kind="thumbnail")  # same bytes come back before the sweep

    outbox_drain()
    assert again.pk == obj.pk
    assert AssetObject.objects.get(pk=obj.pk).ref_count == 1
    assert (fs_store / "fast" / obj.key).read_bytes() == JPEG


def test_a_double_release_is_refused_and_changes_nothing(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_release(asset_id=obj.pk)
    with pytest.raises(AssetError) as err:
        asset_release(asset_id=obj.pk)
    assert err.value.code == "asset_not_referenced"
    assert AssetObject.objects.get(pk=obj.pk).ref_count == 0


# --- crash windows ----------------------------------------------------------------------------------


class Crash(Exception):
    pass


def test_a_crash_after_writing_bytes_leaves_no_reference_and_the_orphan_is_swept(fs_store, monkeypatch):  # noqa: F811
    real = cas._ensure_bytes

    def write_then_die(obj, path):
        real(obj, path)
        raise Crash  # the process dies between the write and the commit

    monkeypatch.setattr(cas, "_ensure_bytes", write_then_die)
    with pytest.raises(Crash):
        asset_put_bytes(data=JPEG, kind="thumbnail")
    monkeypatch.setattr(cas, "_ensure_bytes", real)

    sha = hashlib.sha256(JPEG).hexdigest()
    assert not AssetObject.objects.filter(sha256=sha).exists()  # no reference to anything
    assert len(stored_files(fs_store)) == 1  # an orphan
    assert cas.asset_orphan_collect(sha256=sha) is True
    assert stored_files(fs_store) == []
    assert not AssetObject.objects.filter(sha256=sha).exists()  # the probe row is gone too


def test_the_orphan_sweep_leaves_bytes_that_a_row_describes(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    assert cas.asset_orphan_collect(sha256=obj.sha256) is False
    assert (fs_store / "fast" / obj.key).exists()


def test_a_crash_after_deleting_bytes_keeps_the_row_and_a_later_put_writes_them_again(fs_store, monkeypatch):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_release(asset_id=obj.pk)
    real = cas._delete_bytes

    def delete_then_die(o):
        real(o)
        raise Crash  # S3's delete is not transactional: the bytes are gone, the row delete rolls back

    monkeypatch.setattr(cas, "_delete_bytes", delete_then_die)
    with pytest.raises(Crash):
        cas.asset_collect(asset_id=obj.pk)
    monkeypatch.setattr(cas, "_delete_bytes", real)
    assert AssetObject.objects.get(pk=obj.pk).ref_count == 0
    assert stored_files(fs_store) == []

    again = asset_put_bytes(data=JPEG, kind="thumbnail")  # looks under the lock: missing, so it writes
    assert again.pk == obj.pk and again.ref_count == 1
    assert (fs_store / "fast" / obj.key).read_bytes() == JPEG
    outbox_drain()  # the pending collect re-checks under the lock and leaves it
    assert cas.asset_bytes_present(AssetObject.objects.get(pk=obj.pk))


def test_a_truncated_copy_is_rewritten_by_the_next_put(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    (fs_store / "fast" / obj.key).write_bytes(JPEG[:10])
    asset_put_bytes(data=JPEG, kind="thumbnail")
    assert (fs_store / "fast" / obj.key).read_bytes() == JPEG


def test_bytes_found_in_another_tier_folder_are_put_back_not_rewritten(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    (fs_store / "mid" / obj.key).parent.mkdir(parents=True)
    (fs_store / "fast" / obj.key).rename(fs_store / "mid" / obj.key)  # a crash mid-move
    assert cas.asset_open(obj).read() == JPEG  # reads find it
    asset_put_bytes(data=JPEG, kind="thumbnail")
    assert stored_files(fs_store) == [fs_store / "fast" / obj.key]
