"""The origin view for asset bytes (/media/a/<sha256>.<ext>): who may fetch, Range, ETag, headers by
temperature, archived objects, and the delivery counters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from sessions_app.assets.cas import asset_put_bytes
from sessions_app.assets.delivery import asset_delivery_record, asset_url
from sessions_app.assets.models import AssetDelivery, AssetObject, Clip, Recording
from sessions_app.assets.tiers import asset_restore_request, assets_tier_move_due
from sessions_app.models import LiveSession
from tests.factories import LiveSessionFactory, make_staff

from .storage_fixtures import fs_store  # noqa: F401

pytestmark = pytest.mark.django_db

DATA = b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 600  # 153,612 bytes of mp4-looking data


def body(response) -> bytes:
    # consuming the stream to its end runs the view's finally block, which records the bytes sent
    # (response.close() would also fire request_finished, which closes the test's DB connection)
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def clip(fs_store):  # noqa: F811
    session = LiveSessionFactory(status=LiveSession.Status.ENDED)
    obj = asset_put_bytes(data=DATA, kind="clip", original_name="x.mp4")
    return Clip.objects.create(
        session=session, title="Necklace", start_ms=0, end_ms=5000, state=Clip.State.READY, asset=obj
    )


def delivered(obj) -> tuple[int, int]:
    row = AssetDelivery.objects.filter(asset=obj).first()
    return (row.requests, row.bytes_origin) if row else (0, 0)


def test_a_public_clip_is_served_whole_with_its_headers(client, clip):
    obj = clip.asset
    url = asset_url(obj)
    assert url == f"/media/a/{obj.sha256}.mp4"

    response = client.get(url)
    assert response.status_code == 200
    assert body(response) == DATA
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(DATA))
    assert response["ETag"] == f'"{obj.sha256}"'
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Disposition"] == f'inline; filename="{obj.sha256[:12]}.mp4"'
    assert delivered(obj) == (1, len(DATA))


def test_hot_objects_may_be_kept_by_the_edge_for_a_year(client, clip):
    AssetObject.objects.filter(pk=clip.asset_id).update(hot=True)
    response = client.get(f"/media/a/{clip.asset.sha256}.mp4")
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [("bytes=10-19", 10, 19), ("bytes=-5", len(DATA) - 5, len(DATA) - 1), ("bytes=153600-", 153600, len(DATA) - 1),
     ("bytes=100-999999999", 100, len(DATA) - 1)],
)
def test_a_range_is_answered_206_with_exactly_those_bytes_and_counted(client, clip, range_header, first, last):
    response = client.get(asset_url(clip.asset), HTTP_RANGE=range_header)
    assert response.status_code == 206
    assert body(response) == DATA[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert delivered(clip.asset) == (1, last - first + 1)


def test_a_range_past_the_end_is_416(client, clip):
    response = client.get(asset_url(clip.asset), HTTP_RANGE=f"bytes={len(DATA)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("range_header", ["bytes=0-1,5-9", "items=0-5", "bytes=9-2", "bytes=x-"])
def test_ranges_we_do_not_serve_get_the_whole_object(client, clip, range_header):
    response = client.get(asset_url(clip.asset), HTTP_RANGE=range_header)
    assert response.status_code == 200 and body(response) == DATA


def test_if_range_with_another_etag_sends_everything(client, clip):
    response = client.get(asset_url(clip.asset), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"other"')
    assert response.status_code == 200


def test_a_known_etag_is_304(client, clip):
    response = client.get(asset_url(clip.asset), HTTP_IF_NONE_MATCH=f'"{clip.asset.sha256}"')
    assert response.status_code == 304
    assert delivered(clip.asset) == (0, 0)


def test_head_sends_headers_only(client, clip):
    response = client.head(asset_url(clip.asset))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA)) and response.content == b""


def test_download_is_an_attachment_with_a_clean_name(client, clip):
    url = asset_url(clip.asset, download_name='Neck"lace/<1>')
    assert url.endswith("?download=1&name=Necklace1.mp4")
    response = client.get(url)
    assert response["Content-Disposition"] == 'attachment; filename="Necklace1.mp4"'


@pytest.mark.parametrize("suffix", [".webm", "", ".MP4"])
def test_the_wrong_extension_is_404(client, clip, suffix):
    assert client.get(f"/media/a/{clip.asset.sha256}{suffix}").status_code == 404


def test_an_unknown_hash_is_404(client, fs_store):  # noqa: F811
    assert client.get(f"/media/a/{'0' * 64}.mp4").status_code == 404


def test_a_hidden_clip_is_404_for_viewers_and_served_privately_to_staff(client, clip):
    Clip.objects.filter(pk=clip.pk).update(is_public=False)
    url = asset_url(clip.asset)
    assert client.get(url).status_code == 404
    client.force_login(make_staff("nobody"))
    assert client.get(url).status_code == 404
    client.force_login(make_staff("editor", perms=("sessions_app.view_recording",)))
    response = client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"


def test_a_live_sessions_recording_is_not_served_until_the_session_ended(client, fs_store):  # noqa: F811
    session = LiveSessionFactory(status=LiveSession.Status.LIVE)
    obj = asset_put_bytes(data=DATA, kind="recording", original_name="rec.mp4")
    poster = asset_put_bytes(data=b"\xff\xd8\xff\xe0poster", kind="thumbnail")
    Recording.objects.create(session=session, original_name="rec.mp4", asset=obj, poster=poster, state="ready")
    assert client.get(asset_url(obj)).status_code == 404
    assert client.get(asset_url(poster)).status_code == 404
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.ENDED)
    assert client.get(asset_url(obj)).status_code == 200
    assert client.get(asset_url(poster))["Content-Type"] == "image/jpeg"


def test_an_archived_clip_answers_409_with_its_restore_state(client, clip, settings):
    settings.ASSET_FS_RESTORE_SECONDS = 600
    AssetObject.objects.filter(pk=clip.asset_id).update(created_at=timezone.now() - dt.timedelta(days=40))
    assets_tier_move_due()
    obj = AssetObject.objects.get(pk=clip.asset_id)
    assert obj.tier == "archive" and asset_url(obj) is None
    url = f"/media/a/{obj.sha256}.mp4"

    # a crawler's request does not start a restore (previews cost nothing)
    response = client.get(url, headers={"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    assert response.status_code == 409
    assert response.json() | {"message": ""} == {
        "code": "asset_archived", "message": "", "fields": {}, "state": "archived", "eta": None
    }
    assert AssetObject.objects.get(pk=obj.pk).restore == ""

    # a viewer's player asking for it starts the restore (QA F3: nothing ever asked for one)
    response = client.get(url, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0"})
    assert AssetObject.objects.get(pk=obj.pk).restore == "requested"
    asset_restore_request(asset_id=obj.pk)  # idempotent
    response = client.get(url)
    assert response.status_code == 409
    assert response.json()["state"] == "restoring" and response.json()["eta"]
    assert 1 <= int(response["Retry-After"]) <= 600


def test_delivery_counters_add_up_per_utc_day(clip):
    day = dt.date(2026, 11, 30)
    asset_delivery_record(asset_id=clip.asset_id, views=1, day=day)
    asset_delivery_record(asset_id=clip.asset_id, requests=2, bytes_origin=100, bytes_edge=50, day=day)
    row = AssetDelivery.objects.get(asset=clip.asset, day=day)
    assert (row.views, row.requests, row.bytes_origin, row.bytes_edge) == (1, 2, 100, 50)
    with pytest.raises(ValueError, match="only grow"):
        asset_delivery_record(asset_id=clip.asset_id, requests=-1, day=day)


def test_the_store_folders_are_never_served_directly(client, clip, settings):
    assert client.get(f"/media/assets-store/fast/{clip.asset.key}").status_code == 404


def test_a_restored_clip_plays_from_its_temporary_copy(client, clip):
    from sessions_app.assets.tiers import assets_restore_poll

    AssetObject.objects.filter(pk=clip.asset_id).update(created_at=timezone.now() - dt.timedelta(days=40))
    assets_tier_move_due()
    asset_restore_request(asset_id=clip.asset_id)
    assets_restore_poll()
    obj = AssetObject.objects.get(pk=clip.asset_id)
    assert asset_url(obj) == f"/media/a/{obj.sha256}.mp4"
    response = client.get(asset_url(obj), HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206 and body(response) == DATA[:100]


@pytest.mark.parametrize(
    "spelling",
    ["assets-store/fast/{key}", "/assets-store/fast/{key}", "./assets-store/fast/{key}",
     "x/../assets-store/fast/{key}", "a/x/../../assets-store/fast/{key}"],
)
def test_the_debug_media_server_refuses_every_spelling_of_a_path_into_the_store(clip, fs_store, settings, spelling, rf):  # noqa: F811
    # given DEBUG's plain media server (make run) and the asset store inside MEDIA_ROOT
    from django.http import Http404

    from sessions_app.assets.delivery import media_debug_serve

    settings.MEDIA_ROOT = str(fs_store.parent)
    path = spelling.format(key=clip.asset.key)
    # when a path that resolves into the store is asked for, then it is a 404 (QA: `/media//assets-store/…`)
    with pytest.raises(Http404):
        media_debug_serve(rf.get("/media/" + path), path)
    # while an ordinary media file beside the store is still served
    other = Path(settings.MEDIA_ROOT) / "products" / "p.txt"
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text("ok")
    response = media_debug_serve(rf.get("/media/products/p.txt"), "products/p.txt")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"ok"
