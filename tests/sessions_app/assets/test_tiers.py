"""Tier moves under time travel (filesystem: tiers are folders) and archive restores."""

from __future__ import annotations

import datetime as dt

import pytest

from sessions_app.assets import cas, tiers
from sessions_app.assets.cas import AssetError, asset_put_bytes, asset_release
from sessions_app.assets.models import AssetObject
from sessions_app.assets.tiers import (
    asset_availability,
    asset_restore_request,
    asset_tier_policy,
    assets_restore_poll,
    assets_tier_move_due,
)

from .storage_fixtures import fs_store  # noqa: F401

pytestmark = pytest.mark.django_db

BIG = b"\x00\x00\x00\x20ftypisom" + b"v" * 200_000  # > 128 KiB
SMALL = b"\xff\xd8\xff\xe0" + b"t" * 20_000  # < 128 KiB
T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def put(data: bytes, kind: str) -> AssetObject:
    obj = asset_put_bytes(data=data + kind.encode(), kind=kind)
    AssetObject.objects.filter(pk=obj.pk).update(created_at=T0)
    return AssetObject.objects.get(pk=obj.pk)


def where(root, obj) -> list[str]:
    return sorted(p.relative_to(root).parts[0] for p in root.rglob(obj.sha256))


@pytest.mark.parametrize("kind", ["recording", "clip"])
def test_recordings_and_clips_go_fast_then_mid_after_7_days_then_archive_after_30_more(fs_store, kind):  # noqa: F811
    obj = put(BIG, kind)

    assert assets_tier_move_due(now=T0 + dt.timedelta(days=6, hours=23)) == {"mid": 0, "archive": 0, "failed": 0}
    assert (AssetObject.objects.get(pk=obj.pk).tier, where(fs_store, obj)) == ("fast", ["fast"])

    assert assets_tier_move_due(now=T0 + dt.timedelta(days=7))["mid"] == 1
    obj.refresh_from_db()
    assert (obj.tier, obj.tier_changed_at, where(fs_store, obj)) == ("mid", T0 + dt.timedelta(days=7), ["mid"])

    assert assets_tier_move_due(now=T0 + dt.timedelta(days=36))["archive"] == 0
    assert assets_tier_move_due(now=T0 + dt.timedelta(days=37))["archive"] == 1
    obj.refresh_from_db()
    assert (obj.tier, where(fs_store, obj)) == ("archive", ["archive"])
    assert asset_availability(obj, now=T0 + dt.timedelta(days=37)) == ("archived", None)


def test_a_late_run_moves_straight_to_the_tier_that_is_due(fs_store):  # noqa: F811
    obj = put(BIG, "clip")
    assert assets_tier_move_due(now=T0 + dt.timedelta(days=100))["archive"] == 1
    assert where(fs_store, obj) == ["archive"]


def test_thumbnails_and_small_objects_stay_in_the_fast_tier(fs_store):  # noqa: F811
    thumb = put(BIG, "thumbnail")  # by policy, however big
    small_clip = put(SMALL, "clip")  # under the 128 KiB that IA/Glacier bill as a minimum
    assets_tier_move_due(now=T0 + dt.timedelta(days=400))
    for obj in (thumb, small_clip):
        obj.refresh_from_db()
        assert (obj.tier, where(fs_store, obj)) == ("fast", ["fast"])


def test_unreferenced_objects_are_left_for_the_collector(fs_store):  # noqa: F811
    obj = put(BIG, "clip")
    asset_release(asset_id=obj.pk)
    assets_tier_move_due(now=T0 + dt.timedelta(days=10))
    assert AssetObject.objects.get(pk=obj.pk).tier == "fast"


def test_the_policy_is_configurable_per_kind(fs_store, settings):  # noqa: F811
    settings.ASSET_TIER_POLICY = {
        **settings.ASSET_TIER_POLICY,
        "recording": {"mid_after_days": 1, "archive_after_days": 3, "min_bytes": 0},
    }
    assert asset_tier_policy("recording") == {"mid_after_days": 1, "archive_after_days": 3, "min_bytes": 0}
    rec, clip = put(SMALL, "recording"), put(BIG, "clip")
    assets_tier_move_due(now=T0 + dt.timedelta(days=3))
    assert [AssetObject.objects.get(pk=o.pk).tier for o in (rec, clip)] == ["archive", "fast"]


def test_a_crash_between_the_rename_and_the_commit_is_reconciled_by_the_next_run(fs_store, monkeypatch):  # noqa: F811
    obj = put(BIG, "clip")
    real = tiers._fs_move

    def rename_then_die(o, tier):
        real(o, tier)
        raise RuntimeError("killed")

    monkeypatch.setattr(tiers, "_fs_move", rename_then_die)
    assert assets_tier_move_due(now=T0 + dt.timedelta(days=8))["failed"] == 1
    monkeypatch.setattr(tiers, "_fs_move", real)
    obj.refresh_from_db()
    assert (obj.tier, where(fs_store, obj)) == ("fast", ["mid"])  # the row is one step behind the file
    assert cas.asset_open(obj).read(4) == BIG[:4]  # reads still find the bytes

    assert assets_tier_move_due(now=T0 + dt.timedelta(days=8))["mid"] == 1
    obj.refresh_from_db()
    assert (obj.tier, where(fs_store, obj)) == ("mid", ["mid"])


def test_an_archived_object_is_restored_after_the_simulated_delay_and_expires(fs_store, settings):  # noqa: F811
    settings.ASSET_FS_RESTORE_SECONDS = 3600
    settings.ASSET_RESTORE_DAYS = 2
    obj = put(BIG, "recording")
    archived_at = T0 + dt.timedelta(days=40)
    assets_tier_move_due(now=archived_at)

    with pytest.raises(AssetError) as err:
        asset_restore_request(asset_id=put(BIG, "clip").pk)
    assert err.value.code == "asset_not_archived"

    asset_restore_request(asset_id=obj.pk, now=archived_at)
    asset_restore_request(asset_id=obj.pk, now=archived_at + dt.timedelta(minutes=5))  # idempotent
    obj.refresh_from_db()
    assert (obj.restore, obj.restore_requested_at) == ("requested", archived_at)
    assert asset_availability(obj, now=archived_at) == ("restoring", archived_at + dt.timedelta(hours=1))

    assert assets_restore_poll(now=archived_at + dt.timedelta(minutes=59))["ready"] == 0
    assert assets_restore_poll(now=archived_at + dt.timedelta(hours=1))["ready"] == 1
    obj.refresh_from_db()
    assert obj.restore == "ready"
    assert obj.restore_expires_at == archived_at + dt.timedelta(hours=1, days=2)
    assert asset_availability(obj, now=archived_at + dt.timedelta(hours=2)) == ("ready", None)
    assert where(fs_store, obj) == ["archive", "restored"]
    assert cas.asset_open(obj).read() == BIG + b"recording"

    assert assets_restore_poll(now=archived_at + dt.timedelta(days=3))["expired"] == 1
    obj.refresh_from_db()
    assert obj.restore == "" and where(fs_store, obj) == ["archive"]
    assert asset_availability(obj, now=archived_at + dt.timedelta(days=3)) == ("archived", None)


def test_collecting_an_archived_restored_object_removes_every_copy(fs_store):  # noqa: F811
    obj = put(BIG, "clip")
    assets_tier_move_due(now=T0 + dt.timedelta(days=40))
    asset_restore_request(asset_id=obj.pk)
    assets_restore_poll()
    asset_release(asset_id=obj.pk)
    cas.asset_collect(asset_id=obj.pk)
    assert list(fs_store.rglob(obj.sha256)) == []


def test_the_schedules_exist():
    from django_q.models import Schedule

    funcs = set(Schedule.objects.filter(name__startswith="sessions_app.assets_").values_list("func", flat=True))
    assert funcs == {
        "sessions_app.assets.storage_tasks.assets_tier_move_due_task",
        "sessions_app.assets.storage_tasks.assets_restore_poll_task",
    }
