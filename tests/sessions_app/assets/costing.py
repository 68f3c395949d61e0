"""Builders for the cost and hot-set tests: asset rows without bytes (costs read sizes only)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

from sessions_app.assets.models import AssetObject, Clip, Recording

_n = itertools.count(1)
UTC = dt.UTC


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)


def make_object(*, size: int, tier: str = "fast", kind: str = "clip", created: dt.datetime, **fields) -> AssetObject:
    """An AssetObject row with a fresh SHA-256 (bytes are not needed to price it)."""
    sha = hashlib.sha256(f"obj-{next(_n)}".encode()).hexdigest()
    obj = AssetObject.objects.create(
        sha256=sha, size_bytes=size, content_type="video/mp4", extension="mp4", kind=kind, tier=tier, ref_count=1,
        **fields,
    )
    AssetObject.objects.filter(pk=obj.pk).update(created_at=created)  # auto_now_add: set the past explicitly
    obj.refresh_from_db()
    return obj


def make_recording(session, obj, *, created: dt.datetime) -> Recording:
    rec = Recording.objects.create(session=session, asset=obj, original_name="rec.mp4", state="ready")
    Recording.objects.filter(pk=rec.pk).update(created_at=created)
    return rec


def make_clip(session, obj, *, created: dt.datetime, drop=None, start_ms: int = 0) -> Clip:
    clip = Clip.objects.create(
        session=session, asset=obj, title="clip", start_ms=start_ms, end_ms=start_ms + 1000, state="ready", drop=drop
    )
    Clip.objects.filter(pk=clip.pk).update(created_at=created)
    return clip
