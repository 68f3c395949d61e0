"""Everything S3 against a real S3-protocol server on loopback (moto's server mode, started by the
fixture; never skipped): put/dedup/delete, object headers and tags, storage classes after tier
moves, the lifecycle configuration round trip, restores and presigned URLs."""

from __future__ import annotations

import datetime as dt
import io
import json
import urllib.request

import pytest
from django.core.management import call_command

from commerce.services.outbox import outbox_drain
from sessions_app.assets import cas
from sessions_app.assets.cas import asset_put_bytes, asset_release
from sessions_app.assets.delivery import asset_url
from sessions_app.assets.models import AssetObject
from sessions_app.assets.s3 import lifecycle_rules
from sessions_app.assets.tiers import (
    asset_availability,
    asset_restore_request,
    assets_restore_poll,
    assets_tier_move_due,
    parse_restore_header,
)

from .storage_fixtures import moto_endpoint, s3_store  # noqa: F401

pytestmark = pytest.mark.django_db

MP4 = b"\x00\x00\x00\x20ftypisom" + b"m" * 200_000
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 5_000
T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def head(client, bucket, obj):
    return client.head_object(Bucket=bucket, Key=obj.key)


def test_put_stores_once_under_the_hash_key_with_type_cache_control_and_kind_tag(s3_store):  # noqa: F811
    client, bucket = s3_store
    assert cas.storage_is_s3()
    first = asset_put_bytes(data=MP4, kind="clip", original_name="whatever.bin")
    second = asset_put_bytes(data=MP4, kind="clip")

    assert first.pk == second.pk and AssetObject.objects.get(pk=first.pk).ref_count == 2
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [first.key] and first.key.startswith(f"assets/{first.sha256[:2]}/{first.sha256[2:4]}/")
    h = head(client, bucket, first)
    assert (h["ContentType"], h["CacheControl"], h["ContentLength"]) == (
        "video/mp4",
        "public, max-age=31536000, immutable",
        len(MP4),
    )
    assert client.get_object_tagging(Bucket=bucket, Key=first.key)["TagSet"] == [{"Key": "kind", "Value": "clip"}]
    assert AssetObject.objects.get(pk=first.pk).storage_class == "STANDARD"


def test_the_last_release_deletes_the_object_through_the_outbox(s3_store):  # noqa: F811
    client, bucket = s3_store
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_release(asset_id=obj.pk)
    outbox_drain()
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    asset_release(asset_id=obj.pk)
    outbox_drain()
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert not AssetObject.objects.filter(pk=obj.pk).exists()


def test_a_put_after_a_crashed_s3_delete_writes_the_bytes_again(s3_store, monkeypatch):  # noqa: F811
    client, bucket = s3_store
    obj = asset_put_bytes(data=JPEG, kind="thumbnail")
    asset_release(asset_id=obj.pk)
    real = cas._delete_bytes

    def delete_then_die(o):
        real(o)
        raise RuntimeError("killed after DeleteObject, before COMMIT")

    monkeypatch.setattr(cas, "_delete_bytes", delete_then_die)
    with pytest.raises(RuntimeError):
        cas.asset_collect(asset_id=obj.pk)
    monkeypatch.setattr(cas, "_delete_bytes", real)
    assert AssetObject.objects.filter(pk=obj.pk, ref_count=0).exists()
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    asset_put_bytes(data=JPEG, kind="thumbnail")
    assert head(client, bucket, obj)["ContentLength"] == len(JPEG)


def test_tier_moves_change_the_storage_class_and_keep_the_headers(s3_store):  # noqa: F811
    client, bucket = s3_store
    clip = asset_put_bytes(data=MP4, kind="clip")
    thumb = asset_put_bytes(data=JPEG, kind="thumbnail")
    AssetObject.objects.update(created_at=T0)

    assets_tier_move_due(now=T0 + dt.timedelta(days=7))
    clip.refresh_from_db()
    h = head(client, bucket, clip)
    assert (clip.tier, clip.storage_class, h["StorageClass"]) == ("mid", "STANDARD_IA", "STANDARD_IA")
    assert (h["ContentType"], h["CacheControl"]) == ("video/mp4", "public, max-age=31536000, immutable")
    assert client.get_object_tagging(Bucket=bucket, Key=clip.key)["TagSet"] == [{"Key": "kind", "Value": "clip"}]

    assets_tier_move_due(now=T0 + dt.timedelta(days=37))
    clip.refresh_from_db()
    assert (clip.tier, clip.storage_class, head(client, bucket, clip)["StorageClass"]) == (
        "archive",
        "GLACIER",
        "GLACIER",
    )
    thumb.refresh_from_db()
    assert (thumb.tier, head(client, bucket, thumb).get("StorageClass", "STANDARD")) == ("fast", "STANDARD")


def test_a_class_already_changed_by_the_lifecycle_backstop_is_recorded_without_a_copy(s3_store):  # noqa: F811
    client, bucket = s3_store
    clip = asset_put_bytes(data=MP4, kind="clip")
    AssetObject.objects.update(created_at=T0)
    client.copy_object(
        Bucket=bucket, Key=clip.key, CopySource={"Bucket": bucket, "Key": clip.key}, StorageClass="STANDARD_IA"
    )
    before = head(client, bucket, clip)["LastModified"]
    assets_tier_move_due(now=T0 + dt.timedelta(days=8))
    clip.refresh_from_db()
    assert (clip.tier, clip.storage_class) == ("mid", "STANDARD_IA")
    assert head(client, bucket, clip)["LastModified"] == before


def test_the_lifecycle_command_writes_the_rules_and_reads_them_back(s3_store):  # noqa: F811
    client, bucket = s3_store
    out = io.StringIO()
    call_command("asset_lifecycle", stdout=out, stderr=io.StringIO())
    printed = json.loads(out.getvalue())
    stored = client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert {r["ID"] for r in stored} == {r["ID"] for r in lifecycle_rules()} == {r["ID"] for r in printed["Rules"]}
    by_id = {r["ID"]: r for r in stored}
    assert "assets-thumbnail-tiers-backstop" not in by_id  # thumbnails stay fast
    clip_rule = by_id["assets-clip-tiers-backstop"]
    assert clip_rule["Transitions"] == [{"Days": 44, "StorageClass": "GLACIER"}]
    assert clip_rule["Filter"]["And"]["Tags"] == [{"Key": "kind", "Value": "clip"}]
    assert clip_rule["Filter"]["And"]["Prefix"] == "assets/"
    # moto 5.2.5 keeps Prefix and Tags of an And filter but drops ObjectSizeGreaterThan on the way back;
    # what was sent carries it (real S3 stores it: PutBucketLifecycleConfiguration, LifecycleRuleAndOperator)
    sent = {r["ID"]: r for r in lifecycle_rules()}
    assert sent["assets-clip-tiers-backstop"]["Filter"]["And"]["ObjectSizeGreaterThan"] == 131071
    assert by_id["assets-abort-incomplete-multipart"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_lifecycle_dry_run_prints_without_s3(settings):
    out = io.StringIO()
    call_command("asset_lifecycle", "--dry-run", stdout=out)
    assert json.loads(out.getvalue()) == {"Rules": lifecycle_rules()}


def test_an_archived_object_is_restored_then_served_by_a_presigned_url(s3_store, settings):  # noqa: F811
    client, bucket = s3_store
    settings.ASSET_RESTORE_TIER = "Bulk"
    clip = asset_put_bytes(data=MP4, kind="clip")
    AssetObject.objects.update(created_at=T0)
    assets_tier_move_due(now=T0 + dt.timedelta(days=40))
    clip.refresh_from_db()
    assert asset_url(clip) is None
    assert asset_availability(clip) == ("archived", None)

    requested_at = dt.datetime.now(dt.UTC)
    asset_restore_request(asset_id=clip.pk, now=requested_at)
    clip.refresh_from_db()
    assert asset_availability(clip, now=requested_at) == ("restoring", requested_at + dt.timedelta(hours=12))
    assert "Restore" in head(client, bucket, clip)

    assert assets_restore_poll()["ready"] == 1
    clip.refresh_from_db()
    assert clip.restore == "ready" and clip.restore_expires_at is not None
    url = asset_url(clip, download_name="My clip")
    assert "response-content-disposition" in url.lower() and "X-Amz-Signature" in url
    with urllib.request.urlopen(url) as response:  # noqa: S310 (loopback moto)
        assert response.read() == MP4
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.headers["Content-Disposition"] == 'attachment; filename="My clip.mp4"'


def test_hot_objects_use_the_cdn_and_cold_ones_a_short_presigned_url(s3_store, settings):  # noqa: F811
    settings.ASSET_CDN_BASE_URL = "https://cdn.example.com/"
    obj = asset_put_bytes(data=MP4, kind="clip")
    cold = asset_url(obj)
    assert "X-Amz-Expires=300" in cold and "inline" in cold
    AssetObject.objects.filter(pk=obj.pk).update(hot=True)
    obj.refresh_from_db()
    assert asset_url(obj) == f"https://cdn.example.com/{obj.key}"


def test_the_restore_header_is_parsed():
    assert parse_restore_header('ongoing-request="true"') == (False, None)
    assert parse_restore_header('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == (
        True,
        dt.datetime(2012, 12, 21, tzinfo=dt.UTC),
    )
    assert parse_restore_header(None) is None
