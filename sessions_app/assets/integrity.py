"""The store's self-check (manage.py asset_check): reference counts against the rows that hold
references (cas.ASSET_REFERENCES), bytes present for every referenced object, bytes in the tier
folder the row records, and orphan bytes no row describes. `fix=True` repairs what can be repaired,
each under the object's row lock: recount (a count reaching 0 queues the collect), move a file back
to its recorded folder, sweep orphans (cas.asset_orphan_collect). Missing bytes of a referenced
object cannot be repaired here: they are reported.

Recounts are exact when the services that add or drop a reference do it in the same transaction
as the FK change (cas docstring), because the count is taken under the same row lock.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from . import cas
from .models import AssetObject

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class CheckReport:
    checked: int = 0
    miscounted: list[tuple[str, int, int]] = field(default_factory=list)  # (sha, ref_count, actual)
    missing: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)  # sha → "no bytes" | "wrong size: got N of M bytes"
    misplaced: list[tuple[str, str, str]] = field(default_factory=list)  # (sha, recorded tier, found in)
    orphans: list[str] = field(default_factory=list)
    fixed: int = 0

    @property
    def ok(self) -> bool:
        return not (self.miscounted or self.missing or self.misplaced or self.orphans)


def _references(asset_id: int) -> int:
    total = 0
    for label, field_name in cas.ASSET_REFERENCES:
        total += apps.get_model(label)._default_manager.filter(**{f"{field_name}_id": asset_id}).count()
    return total


def _all_references() -> Counter:
    counts: Counter = Counter()
    for label, field_name in cas.ASSET_REFERENCES:
        ids = apps.get_model(label)._default_manager.exclude(**{f"{field_name}_id": None})
        counts.update(ids.values_list(f"{field_name}_id", flat=True))
    return counts


def _stored_hashes() -> set[str]:
    storage = cas.asset_storage()
    found = set()
    if cas.storage_is_s3():
        client = storage.connection.meta.client
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket_name, Prefix="assets/"):
            found.update(o["Key"].rsplit("/", 1)[-1] for o in page.get("Contents", []))
    else:
        from pathlib import Path

        root = Path(storage.location)
        for folder in cas.FS_TIER_FOLDERS:
            found.update(p.name for p in (root / folder / "assets").glob("*/*/*") if p.is_file())
    return {s for s in found if _SHA_RE.match(s)}


def _recount(asset_id: int) -> bool:
    from commerce.services.outbox import outbox_enqueue

    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None:
            return False
        actual = _references(asset_id)
        if actual == obj.ref_count:
            return False
        obj.ref_count = actual
        if actual == 0:
            now = timezone.now()
            obj.unreferenced_at = now
            outbox_enqueue(kind="asset.collect", key=f"asset-collect:{obj.sha256}:{now.timestamp()}",
                           payload={"asset_id": obj.pk})
        obj.save(update_fields=["ref_count", "unreferenced_at"])
        return True


def _put_back(asset_id: int) -> bool:
    import os

    storage = cas.asset_storage()
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        found = cas.fs_locate(obj) if obj else None
        if found is None or found == obj.tier:
            return False
        os.makedirs(os.path.dirname(storage.path(cas.asset_storage_name(obj))), exist_ok=True)
        os.replace(storage.path(f"{found}/{obj.key}"), storage.path(cas.asset_storage_name(obj)))
        return True


def assets_check(*, fix: bool = False) -> CheckReport:
    """Check (and with fix=True repair) every object; returns the CheckReport."""
    report = CheckReport()
    references = _all_references()
    is_s3 = cas.storage_is_s3()
    known = set()
    for obj in AssetObject.objects.order_by("pk").iterator():
        report.checked += 1
        known.add(obj.sha256)
        actual = references.get(obj.pk, 0)
        if actual != obj.ref_count:
            report.miscounted.append((obj.sha256, obj.ref_count, actual))
            if fix and _recount(obj.pk):
                report.fixed += 1
        if obj.ref_count > 0 or actual > 0:
            if not cas.asset_bytes_present(obj):
                report.missing.append(obj.sha256)
                report.problems[obj.sha256] = _bytes_problem(obj, is_s3=is_s3)
            elif not is_s3:
                found = cas.fs_locate(obj)
                if found != obj.tier:
                    report.misplaced.append((obj.sha256, obj.tier, found))
                    if fix and _put_back(obj.pk):
                        report.fixed += 1
    for sha in sorted(_stored_hashes() - known):
        report.orphans.append(sha)
        if fix and cas.asset_orphan_collect(sha256=sha):
            report.fixed += 1
    return report


def _bytes_problem(obj: AssetObject, *, is_s3: bool) -> str:
    """Why the bytes are not right: none stored at all, or a stored size that differs (truncated)."""
    if is_s3:
        head = cas.s3_head(obj)
        size = None if head is None else head["ContentLength"]
    else:
        tier = cas.fs_locate(obj)
        size = None if tier is None else cas.asset_storage().size(f"{tier}/{obj.key}")
    if size is None:
        return "no bytes stored"
    return f"wrong size: {size} of {obj.size_bytes} bytes stored (truncated or damaged)"
