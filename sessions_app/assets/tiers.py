"""Storage tiers as a lifecycle policy per asset kind, and archive restores.

Policy (settings.ASSET_TIER_POLICY, per kind): fast until `mid_after_days`, mid until
`archive_after_days`, then archive; objects under `min_bytes` stay in the fast tier (S3 bills
IA/Glacier objects under 128 KiB as 128 KiB). Ages count from AssetObject.created_at (UTC).

Moves are app-driven, by the daily task `assets_tier_move_due` (django-q2 schedule, migration
0008_storage_schedules), and the database records the tier in the same step:
- S3: a CopyObject of the key onto itself with the new StorageClass (S3 lifecycle cannot move to
  STANDARD_IA before 30 days, so the 7-day move must be a copy; the archive move uses the same copy
  so the DB knows the class exactly). The bucket's lifecycle rules (asset_lifecycle command) are a
  backstop only; if they got there first, the task sees the class in head_object and records it.
- Filesystem: tiers are folders (fast/, mid/, archive/); a move is an atomic rename under the row
  lock. A crash between the rename and the commit leaves the file one folder ahead of the row;
  the next run (and every read) finds it there (cas.fs_locate) and the move completes.

Restores (docs/assets.md "Restore"): asset_restore_request → S3 RestoreObject (tier from
ASSET_RESTORE_TIER) or, on the filesystem, a copy into restored/ after ASSET_FS_RESTORE_SECONDS;
assets_restore_poll marks it ready (S3: head_object's Restore header says ongoing-request="false")
and expires it again when the temporary copy lapses.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import cas
from .cas import AssetError
from .models import AssetKind, AssetObject, Tier

logger = logging.getLogger(__name__)

TIER_ORDER = {Tier.FAST: 0, Tier.MID: 1, Tier.ARCHIVE: 2}
_DEFAULT_POLICY = {"mid_after_days": 7, "archive_after_days": 37, "min_bytes": 131072}


def asset_tier_policy(kind: str) -> dict:
    """The tier policy of an asset kind: {"mid_after_days": int|None, "archive_after_days": int|None,
    "min_bytes": int} (days since the object was stored; None = never; bytes)."""
    configured = getattr(settings, "ASSET_TIER_POLICY", {}) or {}
    return {**_DEFAULT_POLICY, **configured.get(kind, {})}


def asset_tier_due(obj: AssetObject, *, now: dt.datetime) -> str:
    """The tier the policy wants `obj` in at `now`. Never earlier than its current tier (objects
    only move down), and never below fast for objects under the policy's min_bytes."""
    policy = asset_tier_policy(obj.kind)
    age = now - obj.created_at
    due = Tier.FAST
    if obj.size_bytes >= policy["min_bytes"]:
        if policy["archive_after_days"] is not None and age >= dt.timedelta(days=policy["archive_after_days"]):
            due = Tier.ARCHIVE
        elif policy["mid_after_days"] is not None and age >= dt.timedelta(days=policy["mid_after_days"]):
            due = Tier.MID
    return due if TIER_ORDER[due] > TIER_ORDER[Tier(obj.tier)] else obj.tier


def _storage_class(tier: str) -> str:
    return settings.ASSET_S3_STORAGE_CLASSES[tier]


def _s3_move(obj: AssetObject, tier: str) -> str:
    """Copy the key onto itself with the tier's storage class (managed copy: multipart above 5 GB).
    Returns the storage class now on the object. Skips the copy when it is already there."""
    storage = cas.asset_storage()
    client = storage.connection.meta.client
    target = _storage_class(tier)
    head = client.head_object(Bucket=storage.bucket_name, Key=obj.key)
    if head.get("StorageClass", "STANDARD") == target:
        return target  # the lifecycle backstop (or a run that crashed before its commit) got there
    client.copy(
        {"Bucket": storage.bucket_name, "Key": obj.key},
        storage.bucket_name,
        obj.key,
        ExtraArgs={
            "StorageClass": target,
            "MetadataDirective": "REPLACE",
            "ContentType": obj.content_type,
            "CacheControl": cas.IMMUTABLE_CACHE_CONTROL,
            "TaggingDirective": "REPLACE",
            "Tagging": f"kind={obj.kind}",
        },
    )
    return target


def _fs_move(obj: AssetObject, tier: str) -> None:
    """Rename the file into the tier's folder (atomic on one filesystem). A file already there is
    left; a missing file raises AssetError("asset_missing")."""
    storage = cas.asset_storage()
    found = cas.fs_locate(obj)
    if found is None:
        raise AssetError("asset_missing", f"The bytes of {obj.sha256[:12]} are missing.")
    if found == tier:
        return
    target = Path(storage.path(f"{tier}/{obj.key}"))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(storage.path(f"{found}/{obj.key}"), target)


def asset_tier_move(*, asset_id: int, now: dt.datetime | None = None) -> str | None:
    """Move one object to the tier its policy wants now, under its row lock; the DB row (tier,
    tier_changed_at, storage_class) changes in the same step. Returns the new tier, or None when
    nothing moved (already there, gone, or unreferenced: those are collected, not archived)."""
    now = now or timezone.now()
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None or obj.ref_count == 0:
            return None
        due = asset_tier_due(obj, now=now)
        if due == obj.tier:
            return None
        if cas.storage_is_s3():
            obj.storage_class = _s3_move(obj, due)
        else:
            _fs_move(obj, due)
        obj.tier = due
        obj.tier_changed_at = now
        obj.save(update_fields=["tier", "tier_changed_at", "storage_class"])
        return due


def assets_tier_move_due(*, now: dt.datetime | None = None, limit: int = 1000) -> dict[str, int]:
    """The daily task: move every referenced object whose policy says so. Returns
    {"mid": n, "archive": n, "failed": n}. One object per transaction, so a failure (logged) stops
    nothing else and a crash loses at most one move, which the next run completes."""
    now = now or timezone.now()
    days = [
        d
        for kind in AssetKind.values
        for d in (asset_tier_policy(kind)["mid_after_days"], asset_tier_policy(kind)["archive_after_days"])
        if d is not None
    ]
    youngest = min(days) if days else None
    counts = {Tier.MID.value: 0, Tier.ARCHIVE.value: 0, "failed": 0}
    if youngest is None:
        return counts
    ids = list(
        AssetObject.objects.filter(ref_count__gt=0, created_at__lte=now - dt.timedelta(days=youngest))
        .exclude(tier=Tier.ARCHIVE)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for asset_id in ids:
        try:
            moved = asset_tier_move(asset_id=asset_id, now=now)
        except Exception:  # one bad object must not stop the others; logged for staff
            logger.exception("tier move of asset %s failed", asset_id)
            counts["failed"] += 1
            continue
        if moved:
            counts[moved] += 1
    return counts


# --- restores -----------------------------------------------------------------------------------


def restore_eta(obj: AssetObject) -> dt.datetime | None:
    """When a requested restore should be ready (UTC): requested_at + the provider's published time
    (S3: ASSET_RESTORE_ETA_HOURS[ASSET_RESTORE_TIER]) or + ASSET_FS_RESTORE_SECONDS."""
    if obj.restore != AssetObject.Restore.REQUESTED or obj.restore_requested_at is None:
        return None
    if cas.storage_is_s3():
        hours = settings.ASSET_RESTORE_ETA_HOURS.get(settings.ASSET_RESTORE_TIER, 12)
        return obj.restore_requested_at + dt.timedelta(hours=hours)
    return obj.restore_requested_at + dt.timedelta(seconds=settings.ASSET_FS_RESTORE_SECONDS)


def asset_availability(obj: AssetObject, *, now: dt.datetime | None = None) -> tuple[str, dt.datetime | None]:
    """("ready" | "restoring" | "archived", eta): whether a player can fetch the bytes now.

    "restoring" carries the estimated UTC instant the restore completes; the others carry None.
    """
    now = now or timezone.now()
    if obj.tier != Tier.ARCHIVE:
        return "ready", None
    if obj.restore == AssetObject.Restore.READY and (obj.restore_expires_at is None or obj.restore_expires_at > now):
        return "ready", None
    if obj.restore == AssetObject.Restore.REQUESTED:
        return "restoring", restore_eta(obj)
    return "archived", None


def asset_restore_request(*, asset_id: int, now: dt.datetime | None = None) -> AssetObject:
    """Ask for a temporary copy of an archived object. Idempotent: a pending or ready restore is
    returned as is. S3: RestoreObject with ASSET_RESTORE_TIER for ASSET_RESTORE_DAYS (a restore
    already in progress is fine). Raises AssetError("asset_not_archived" | "asset_not_found")."""
    now = now or timezone.now()
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None:
            raise AssetError("asset_not_found", "That stored object no longer exists.")
        if obj.tier != Tier.ARCHIVE:
            raise AssetError("asset_not_archived", "Only archived objects need a restore.")
        if obj.restore in (AssetObject.Restore.REQUESTED, AssetObject.Restore.READY):
            return obj
        if cas.storage_is_s3():
            _s3_restore(obj)
        obj.restore = AssetObject.Restore.REQUESTED
        obj.restore_requested_at = now
        obj.restore_ready_at = None
        obj.restore_expires_at = None
        obj.save(update_fields=["restore", "restore_requested_at", "restore_ready_at", "restore_expires_at"])
        return obj


def _s3_restore(obj: AssetObject) -> None:
    from botocore.exceptions import ClientError

    storage = cas.asset_storage()
    try:
        storage.connection.meta.client.restore_object(
            Bucket=storage.bucket_name,
            Key=obj.key,
            RestoreRequest={
                "Days": settings.ASSET_RESTORE_DAYS,
                "GlacierJobParameters": {"Tier": settings.ASSET_RESTORE_TIER},
            },
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
            raise


_RESTORE_HEADER = re.compile(r'ongoing-request="(?P<ongoing>true|false)"(?:,\s*expiry-date="(?P<expiry>[^"]+)")?')


def parse_restore_header(value: str | None) -> tuple[bool, dt.datetime | None] | None:
    """S3's x-amz-restore header → (done, expiry UTC) or None when absent.
    `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"` → (True, 2012-12-21 UTC)."""
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    match = _RESTORE_HEADER.search(value)
    if not match:
        return None
    expiry = parsedate_to_datetime(match["expiry"]).astimezone(dt.UTC) if match["expiry"] else None
    return match["ongoing"] == "false", expiry


def _fs_restore_copy(obj: AssetObject) -> None:
    storage = cas.asset_storage()
    source = cas.fs_locate(obj)
    if source is None:
        raise AssetError("asset_missing", f"The bytes of {obj.sha256[:12]} are missing.")
    target = Path(storage.path(f"{cas.FS_RESTORED_FOLDER}/{obj.key}"))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")
    os.close(fd)
    try:
        shutil.copyfile(storage.path(f"{source}/{obj.key}"), tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def asset_restore_poll(*, asset_id: int, now: dt.datetime | None = None) -> str:
    """Advance one object's restore: "ready" when the copy is there, "expired" when it lapsed,
    otherwise its unchanged state. Under the row lock."""
    now = now or timezone.now()
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None:
            return "gone"
        is_s3 = cas.storage_is_s3()
        if obj.restore == AssetObject.Restore.READY:
            if obj.restore_expires_at and obj.restore_expires_at <= now:
                if not is_s3:
                    cas.asset_storage().delete(f"{cas.FS_RESTORED_FOLDER}/{obj.key}")
                obj.restore = AssetObject.Restore.NONE
                obj.restore_requested_at = obj.restore_ready_at = obj.restore_expires_at = None
                obj.save(update_fields=["restore", "restore_requested_at", "restore_ready_at", "restore_expires_at"])
                return "expired"
            return obj.restore
        if obj.restore != AssetObject.Restore.REQUESTED:
            return obj.restore
        if is_s3:
            head = cas.s3_head(obj)
            state = parse_restore_header((head or {}).get("Restore"))
            if state is None:  # lost request (or the object left the archive class): ask again
                _s3_restore(obj)
                return obj.restore
            done, expiry = state
            if not done:
                return obj.restore
            obj.restore_expires_at = expiry or now + dt.timedelta(days=settings.ASSET_RESTORE_DAYS)
        else:
            if now < obj.restore_requested_at + dt.timedelta(seconds=settings.ASSET_FS_RESTORE_SECONDS):
                return obj.restore
            _fs_restore_copy(obj)
            obj.restore_expires_at = now + dt.timedelta(days=settings.ASSET_RESTORE_DAYS)
        obj.restore = AssetObject.Restore.READY
        obj.restore_ready_at = now
        obj.save(update_fields=["restore", "restore_ready_at", "restore_expires_at"])
        return "ready"


def assets_restore_poll(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The restore poll task (every few minutes): advance every requested or ready restore.
    Returns {"ready": n, "expired": n, "failed": n}."""
    now = now or timezone.now()
    counts = {"ready": 0, "expired": 0, "failed": 0}
    ids = list(
        AssetObject.objects.filter(restore__in=[AssetObject.Restore.REQUESTED, AssetObject.Restore.READY])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for asset_id in ids:
        try:
            result = asset_restore_poll(asset_id=asset_id, now=now)
        except Exception:
            logger.exception("restore poll of asset %s failed", asset_id)
            counts["failed"] += 1
            continue
        if result in counts:
            counts[result] += 1
    return counts


def asset_restore_on_demand(*, asset_id: int, now: dt.datetime | None = None) -> bool:
    """A viewer asked to watch an archived object: request its restore (once; idempotent).

    Returns True if the object is archived and a restore is now requested or under way; False if it
    is not archived or is gone. Called by the clip and replay pages and the media view, so an
    archived clip's page says "restoring" with an estimate and the restore really runs (the
    assets_restore_poll schedule announces it ready). Bots do not trigger restores (the callers
    check), so crawlers fetching previews cost nothing.
    """
    obj = AssetObject.objects.filter(pk=asset_id).only("tier", "restore", "restore_expires_at").first()
    if obj is None or obj.tier != Tier.ARCHIVE:
        return False
    state, _eta = asset_availability(obj, now=now)
    if state != "archived":
        return True
    try:
        asset_restore_request(asset_id=asset_id, now=now)
    except AssetError:
        return False
    return True
