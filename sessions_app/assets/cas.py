"""Content-addressed storage: every asset object is keyed by the SHA-256 of its bytes.

Keys: `assets/ab/cd/<sha256>` (AssetObject.key). On S3 that is the object key and the tier is the
storage class; on the filesystem the tier is a folder in front of it: `<tier>/assets/ab/cd/<sha256>`.

The database row is the truth for references; the storage is the truth for bytes, and it is only
trusted after a look under the row lock. Protocol (race-safe on PostgreSQL, proven in
tests/sessions_app/assets/test_cas_races.py; docs/assets.md "Race protocol"):

- put: hash while spooling to a local file (never whole in memory). Then, in one transaction, lock
  the row (SELECT … FOR UPDATE) or insert it (an uncommitted insert holds the unique index, so a
  concurrent put or orphan sweep waits on it), add one reference, look at the storage and write the
  bytes only if they are missing or have the wrong size. N concurrent puts: one write, ref_count N.
- release: under the row lock, take one reference away; at 0 an `asset.collect` message goes into
  the outbox in the same transaction.
- collect: under the row lock, re-check ref_count == 0, delete the row, delete the bytes, commit.
  The bytes go while the lock is held, so a put of the same bytes waits and then finds no row (it
  inserts one and writes). S3 deletes are not transactional: if the process dies after the delete
  but before the commit, the row survives with ref_count 0 and no bytes; the outbox retries the
  collect, and any put in between sees the bytes missing (it looks, under the lock) and writes them.
- crash between writing bytes and commit: the row's insert/increment rolls back, so no reference
  points at missing bytes; the bytes are an orphan (no row) that `asset_orphan_collect` removes
  under the same insert-lock, so it can never remove bytes that an in-flight put is using.

Content-Type comes from the bytes (magic numbers) or the original file name, never from a key.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import AssetObject, Tier

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
FS_TIER_FOLDERS = (Tier.FAST, Tier.MID, Tier.ARCHIVE)
FS_RESTORED_FOLDER = "restored"
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
_PUT_ATTEMPTS = 5

#: Every (model label, FK field) that holds one reference to an AssetObject. A row holding the same
#: object in two fields holds two references. asset_check compares ref_count with this.
ASSET_REFERENCES: list[tuple[str, str]] = [
    ("sessions_app.Recording", "asset"),
    ("sessions_app.Recording", "poster"),
    ("sessions_app.Recording", "strip"),
    ("sessions_app.Clip", "asset"),
    ("sessions_app.Clip", "poster"),
]


class AssetError(Exception):
    """A refused asset operation; `code` is stable for the API and admin messages."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def asset_storage():
    """The django-storages backend for asset bytes (STORAGES["assets"]; filesystem or S3)."""
    return storages["assets"]


def storage_is_s3(storage=None) -> bool:
    """True when the asset storage is django-storages' S3Storage (tiers are storage classes)."""
    storage = storage or asset_storage()
    return hasattr(storage, "bucket") and hasattr(storage, "connection")


def asset_storage_name(obj: AssetObject, *, tier: str | None = None) -> str:
    """Where the bytes are: on S3 the key itself (the tier is the storage class); on the
    filesystem the tier is a folder: <tier>/assets/ab/cd/<sha256>."""
    if storage_is_s3():
        return obj.key
    return f"{tier or obj.tier}/{obj.key}"


# --- content type ---------------------------------------------------------------------------------

_SIGNATURES = (
    # (offset, magic, content type, extension)
    (4, b"ftypqt  ", "video/quicktime", "mov"),
    (4, b"ftypM4A ", "audio/mp4", "m4a"),
    (4, b"ftyp", "video/mp4", "mp4"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm", "webm"),  # EBML (WebM/Matroska; a .mkv name says so below)
    (0, b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (0, b"GIF87a", "image/gif", "gif"),
    (0, b"GIF89a", "image/gif", "gif"),
)
_EXT_RE = re.compile(r"^[a-z0-9]{1,10}$")


def sniff_content_type(head: bytes, original_name: str = "") -> tuple[str, str]:
    """(content type, extension) from the first bytes (≥ 16 are enough), else from the original
    name's extension (mimetypes), else ("application/octet-stream", ""). Never from a key.

    The extension is lower-case letters/digits only (≤ 10), safe for a URL and a file name.
    """
    suffix = Path(original_name or "").suffix.lstrip(".").lower()
    for offset, magic, ctype, ext in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if ext == "webm" and suffix == "mkv":
                return "video/x-matroska", "mkv"
            return ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    guessed, _ = mimetypes.guess_type(f"x.{suffix}") if suffix else (None, None)
    if guessed and _EXT_RE.match(suffix):
        return guessed, suffix
    return "application/octet-stream", ""


# --- local files ----------------------------------------------------------------------------------


def hash_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def spool_chunks(chunks: Iterable[bytes]) -> tuple[Path, str, int]:
    """Write chunks to a temporary file under ASSET_TMP_DIR, hashing as they pass.

    Returns (path, sha256 hex, size in bytes); the caller deletes the file.
    """
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


# --- bytes in storage -----------------------------------------------------------------------------


def fs_locate(obj: AssetObject) -> str | None:
    """Filesystem only: the tier folder that holds the object's bytes, its recorded tier first
    (a crash between a rename and the commit can leave them one folder off), else None."""
    storage = asset_storage()
    for tier in (obj.tier, *[t for t in FS_TIER_FOLDERS if t != obj.tier]):
        if storage.exists(f"{tier}/{obj.key}"):
            return tier
    return None


def asset_bytes_present(obj: AssetObject) -> bool:
    """True when the object's full bytes are in storage (any tier folder; size checked)."""
    storage = asset_storage()
    if storage_is_s3():
        head = s3_head(obj)
        return head is not None and head["ContentLength"] == obj.size_bytes
    tier = fs_locate(obj)
    return tier is not None and storage.size(f"{tier}/{obj.key}") == obj.size_bytes


def s3_head(obj: AssetObject) -> dict | None:
    """S3 only: head_object of the key, or None when it does not exist."""
    from botocore.exceptions import ClientError

    storage = asset_storage()
    try:
        return storage.connection.meta.client.head_object(Bucket=storage.bucket_name, Key=obj.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _write(obj: AssetObject, path: Path) -> None:
    """Write the local file's bytes under the object's name (exact name: hash keys are immutable).

    S3: one managed upload (multipart above 8 MiB) with ContentType, CacheControl and the tag
    kind=<kind> the lifecycle rules filter on. Filesystem: a temporary file in the same folder,
    fsync, atomic rename, so a reader never sees a partial object.
    """
    storage = asset_storage()
    if storage_is_s3():
        with open(path, "rb") as fh:
            storage.bucket.upload_fileobj(
                fh,
                obj.key,
                ExtraArgs={
                    "ContentType": obj.content_type,
                    "CacheControl": IMMUTABLE_CACHE_CONTROL,
                    "Tagging": f"kind={obj.kind}",
                    "StorageClass": obj.storage_class or "STANDARD",
                },
            )
        return
    full = Path(storage.path(asset_storage_name(obj)))
    full.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=full.parent, prefix=f".{obj.sha256[:16]}.part-")
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, full)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _delete_bytes(obj: AssetObject) -> None:
    """Delete every copy of the object's bytes (all tier folders and a restored copy)."""
    storage = asset_storage()
    if storage_is_s3():
        storage.delete(obj.key)
        return
    for folder in (*FS_TIER_FOLDERS, FS_RESTORED_FOLDER):
        storage.delete(f"{folder}/{obj.key}")


def _ensure_bytes(obj: AssetObject, path: Path) -> bool:
    """Under the row lock: write the bytes if they are missing or short. Returns True if written.

    On the filesystem a copy found in another tier folder (a crash mid-move) is renamed back to
    the recorded tier instead of being written again.
    """
    storage = asset_storage()
    if storage_is_s3():
        head = s3_head(obj)
        if head is not None and head["ContentLength"] == obj.size_bytes:
            return False
    else:
        found = fs_locate(obj)
        if found is not None and storage.size(f"{found}/{obj.key}") == obj.size_bytes:
            if found != obj.tier:
                target = Path(storage.path(asset_storage_name(obj)))
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(storage.path(f"{found}/{obj.key}"), target)
            return False
    _write(obj, path)
    return True


# --- references -----------------------------------------------------------------------------------


def _lock_or_insert(*, sha: str, defaults: dict) -> AssetObject:
    """Inside a transaction: the row for `sha`, locked (FOR UPDATE) or freshly inserted by us.

    A concurrent insert of the same sha makes ours fail on the unique index after it commits; we
    then lock theirs. A row deleted by a concurrent collect is not found after its commit; we then
    insert. Loops a few times at most (each loop means another transaction committed).
    """
    for _ in range(_PUT_ATTEMPTS):
        obj = AssetObject.objects.select_for_update().filter(sha256=sha).first()
        if obj is not None:
            return obj
        try:
            with transaction.atomic():  # a savepoint: a lost insert race leaves the outer block usable
                return AssetObject.objects.create(sha256=sha, ref_count=0, **defaults)
        except IntegrityError:
            continue
    raise AssetError("asset_busy", "The object is changing too often right now; try again.")


def asset_put_file(*, path: Path, kind: str, original_name: str = "", sha256: str | None = None) -> AssetObject:
    """Store a local file's bytes content-addressed and take one reference to them.

    `kind` is an AssetKind value (decides the tier policy); `sha256` may be passed when the caller
    hashed while spooling (it is trusted: pass only a hash you computed). Returns the AssetObject
    with ref_count already incremented for the caller. Same bytes → same object, no second write
    (dedup). The local file is left in place. Raises AssetError("asset_missing_file") when the path
    is not a file. Runs in its own transaction, or in the caller's (then the reference commits
    or rolls back with the caller's change).
    """
    path = Path(path)
    if not path.is_file():
        raise AssetError("asset_missing_file", f"No file to store at {path.name}.")
    sha = sha256 or hash_file(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(64)
    ctype, ext = sniff_content_type(head, original_name)
    defaults = {"size_bytes": size, "content_type": ctype, "extension": ext, "kind": kind, "storage_class": ""}
    with transaction.atomic():
        obj = _lock_or_insert(sha=sha, defaults=defaults)
        if obj.size_bytes != size:
            raise AssetError("asset_hash_mismatch", "The bytes do not match the stored object of the same hash.")
        written = _ensure_bytes(obj, path)
        obj.ref_count += 1
        obj.unreferenced_at = None
        fields = ["ref_count", "unreferenced_at"]
        if written and storage_is_s3() and not obj.storage_class:
            obj.storage_class = "STANDARD"
            fields.append("storage_class")
        obj.save(update_fields=fields)
    return obj


def asset_put_bytes(*, data: bytes, kind: str, original_name: str = "") -> AssetObject:
    """asset_put_file for small in-memory bytes (thumbnails). Same result and errors."""
    path, sha, _size = spool_chunks([data])
    try:
        return asset_put_file(path=path, kind=kind, original_name=original_name, sha256=sha)
    finally:
        path.unlink(missing_ok=True)


def asset_acquire(*, asset_id: int) -> AssetObject:
    """Take one more reference to an existing object (under its row lock).

    Raises AssetError("asset_not_found") when the object is gone (collected).
    """
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None:
            raise AssetError("asset_not_found", "That stored object no longer exists.")
        obj.ref_count += 1
        obj.unreferenced_at = None
        obj.save(update_fields=["ref_count", "unreferenced_at"])
    return obj


def asset_release(*, asset_id: int, now=None) -> int:
    """Give one reference back. At zero the object is queued for collection (outbox, same
    transaction). Returns the remaining count. Call inside the transaction that drops the FK.

    Raises AssetError("asset_not_referenced") when nothing holds it (a double release).
    """
    from commerce.services.outbox import outbox_enqueue

    now = now or timezone.now()
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None or obj.ref_count <= 0:
            raise AssetError("asset_not_referenced", f"Asset {asset_id} has no reference to release.")
        obj.ref_count -= 1
        if obj.ref_count == 0:
            obj.unreferenced_at = now
            outbox_enqueue(
                kind="asset.collect",
                key=f"asset-collect:{obj.sha256}:{now.timestamp()}",
                payload={"asset_id": obj.pk},
            )
        obj.save(update_fields=["ref_count", "unreferenced_at"])
        return obj.ref_count


def asset_collect(*, asset_id: int) -> bool:
    """Delete an unreferenced object's bytes and row, re-checked under the row lock.

    Returns True if it deleted. Safe to repeat (a missing row or file is not an error). The row
    is deleted first and the bytes second, both before the commit: a failure deleting the bytes
    rolls the row back (the outbox retries); a crash after the bytes went leaves a row with no
    bytes and no references, which a later put repairs (it looks) and a later collect removes.
    """
    with transaction.atomic():
        obj = AssetObject.objects.select_for_update().filter(pk=asset_id).first()
        if obj is None or obj.ref_count > 0:
            return False
        obj_copy = AssetObject(pk=obj.pk, sha256=obj.sha256, tier=obj.tier)
        obj.delete()
        _delete_bytes(obj_copy)
    return True


def asset_orphan_collect(*, sha256: str) -> bool:
    """Delete bytes stored under `sha256` that no row describes (a put that crashed before commit).

    Takes the same lock a put takes by inserting a placeholder row: if a put is in flight (its
    row inserted or locked, uncommitted) this waits for it and then finds the row and leaves the
    bytes alone. Returns True if it deleted bytes.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise AssetError("asset_bad_hash", "Not a SHA-256 hex digest.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                probe = AssetObject.objects.create(
                    sha256=sha256, size_bytes=0, content_type="application/octet-stream", kind="clip"
                )
        except IntegrityError:
            return False
        _delete_bytes(probe)
        probe.delete()
    return True


def asset_open(obj: AssetObject) -> File:
    """Open the object's bytes for reading (binary). Filesystem: from the folder that holds them
    (a restored copy for an archived object that was restored). Raises AssetError("asset_missing")."""
    storage = asset_storage()
    if storage_is_s3():
        return storage.open(obj.key, "rb")
    if obj.tier == Tier.ARCHIVE and obj.restore == AssetObject.Restore.READY:
        name = f"{FS_RESTORED_FOLDER}/{obj.key}"
        if storage.exists(name):
            return storage.open(name, "rb")
    tier = fs_locate(obj)
    if tier is None:
        raise AssetError("asset_missing", f"The bytes of {obj.sha256[:12]} are missing.")
    return storage.open(f"{tier}/{obj.key}", "rb")
