"""Content-addressed storage: every asset object is keyed by the SHA-256 of its bytes.

Protocol (race-safe on PostgreSQL, docs/assets.md):
- put: hash the bytes while streaming them to a local temporary file (never whole in memory);
  then, in one transaction, create-or-lock the AssetObject row (SELECT … FOR UPDATE), add one
  reference, and write the bytes to storage only if they are missing. Bytes are written once.
- release: under the same row lock, take one reference away; at 0 the row is marked
  unreferenced and a garbage-collection message is put in the outbox (same transaction).
- collect: under the row lock, re-check that nothing references the object, delete the bytes,
  then the row. An upload of the same bytes that races a collect waits on the lock and either
  finds the row gone (it creates it and writes the bytes) or holds a reference first (collect
  then leaves it alone). Nothing is lost in any interleaving.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from .models import AssetObject

CHUNK = 1024 * 1024


class AssetError(Exception):
    """A refused asset operation; `code` is stable for the API and admin messages."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def asset_storage():
    """The django-storages backend for asset bytes (STORAGES["assets"]; filesystem or S3)."""
    return storages["assets"]


def storage_is_s3() -> bool:
    return asset_storage().__class__.__name__ == "S3Storage"


def asset_storage_name(obj: AssetObject, *, tier: str | None = None) -> str:
    """Where the bytes are: on S3 the key itself (the tier is the storage class); on the
    filesystem the tier is a folder: <tier>/assets/ab/cd/<sha256>."""
    if storage_is_s3():
        return obj.key
    return f"{tier or obj.tier}/{obj.key}"


_SIGNATURES = (
    # (offset, magic, content type, extension)
    (4, b"ftyp", "video/mp4", "mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm", "webm"),
    (0, b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)


def sniff_content_type(head: bytes, original_name: str = "") -> tuple[str, str]:
    """(content type, extension) from the first bytes, else from the original name's extension,
    else application/octet-stream. Never from a key (keys carry no extension)."""
    for offset, magic, ctype, ext in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    guessed, _ = mimetypes.guess_type(original_name or "")
    if guessed:
        return guessed, Path(original_name).suffix.lstrip(".").lower()[:10]
    return "application/octet-stream", ""


def hash_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def spool_chunks(chunks: Iterable[bytes]) -> tuple[Path, str, int]:
    """Write chunks to a temporary file under var/tmp, hashing as they pass.

    Returns (path, sha256 hex, size in bytes); the caller deletes the file.
    """
    from django.conf import settings

    tmp_dir = Path(getattr(settings, "ASSET_TMP_DIR", settings.VAR_DIR / "tmp"))
    tmp_dir.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="spool-")
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), digest.hexdigest(), size


def asset_put_file(*, path: Path, kind: str, original_name: str = "", sha256: str | None = None) -> AssetObject:
    """Store a local file's bytes content-addressed and take one reference to them.

    Returns the AssetObject (ref_count already incremented for the caller). If an object with
    the same SHA-256 exists, no bytes are written (dedup). The local file is left in place.
    """
    path = Path(path)
    sha = sha256 or hash_file(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(64)
    ctype, ext = sniff_content_type(head, original_name)
    with transaction.atomic():
        AssetObject.objects.get_or_create(
            sha256=sha, defaults={"size_bytes": size, "content_type": ctype, "extension": ext, "kind": kind}
        )
        obj = AssetObject.objects.select_for_update().get(sha256=sha)
        obj.ref_count += 1
        obj.unreferenced_at = None
        obj.save(update_fields=["ref_count", "unreferenced_at"])
        storage = asset_storage()
        name = asset_storage_name(obj)
        if not storage.exists(name):
            with open(path, "rb") as fh:
                _write(storage, name, fh, obj)
    return obj


def _write(storage, name: str, fh, obj: AssetObject) -> None:
    """Write bytes under `name` (exact name: hash keys are immutable, never renamed)."""
    if storage_is_s3():
        storage.bucket.upload_fileobj(
            fh,
            name,
            ExtraArgs={
                "ContentType": obj.content_type,
                "CacheControl": "public, max-age=31536000, immutable",
                "Tagging": f"kind={obj.kind}",
            },
        )
        return
    full = Path(storage.path(name))
    full.parent.mkdir(parents=True, exist_ok=True)
    tmp = full.with_name(full.name + f".part-{os.getpid()}")
    with open(tmp, "wb") as out:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, full)


def asset_put_bytes(*, data: bytes, kind: str, original_name: str = "") -> AssetObject:
    """asset_put_file for small in-memory bytes (thumbnails)."""
    path, sha, _size = spool_chunks([data])
    try:
        return asset_put_file(path=path, kind=kind, original_name=original_name, sha256=sha)
    finally:
        path.unlink(missing_ok=True)


def asset_acquire(*, asset_id: int) -> AssetObject:
    """Take one more reference to an existing object (under its row lock)."""
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().get(pk=asset_id)
        obj.ref_count += 1
        obj.unreferenced_at = None
        obj.save(update_fields=["ref_count", "unreferenced_at"])
    return obj


def asset_release(*, asset_id: int, now=None) -> int:
    """Give one reference back. At zero the object is queued for collection (outbox, same
    transaction). Returns the remaining count. Call inside the transaction that drops the FK."""
    from commerce.services.outbox import outbox_enqueue

    now = now or timezone.now()
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().get(pk=asset_id)
        if obj.ref_count <= 0:
            raise AssetError("asset_not_referenced", f"Asset {obj.sha256[:12]} has no reference to release.")
        obj.ref_count -= 1
        if obj.ref_count == 0:
            obj.unreferenced_at = now
            outbox_enqueue(kind="asset.collect", key=f"asset-collect:{obj.sha256}:{now.timestamp()}",
                           payload={"asset_id": obj.pk})
        obj.save(update_fields=["ref_count", "unreferenced_at"])
        return obj.ref_count


def asset_collect(*, asset_id: int) -> bool:
    """Delete an unreferenced object's bytes and row, re-checked under the row lock.

    Returns True if it deleted. Safe to repeat (a missing row or file is not an error).
    """
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None or obj.ref_count > 0:
            return False
        storage = asset_storage()
        for tier in ("fast", "mid", "archive") if not storage_is_s3() else (None,):
            storage.delete(asset_storage_name(obj, tier=tier))
        obj.delete()
    return True


def asset_open(obj: AssetObject) -> File:
    """Open the object's bytes for reading (binary)."""
    return asset_storage().open(asset_storage_name(obj), "rb")
