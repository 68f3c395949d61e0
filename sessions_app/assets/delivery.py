"""Delivery: URLs for asset bytes, the origin view that serves them, and the delivery counters.

- Filesystem (default): `asset_url` gives `/media/a/<sha256>.<ext>`, served by `asset_media` with
  HTTP Range (206/416), ETag = the SHA-256, Content-Type from the object, Content-Disposition
  (inline with a file name, attachment with ?download=1), and Cache-Control by temperature: hot
  objects `public, max-age=31536000, immutable` (hash keys never change), cold ones
  `public, max-age=<ASSET_COLD_MAX_AGE>`. An archived object that is not restored answers
  409 {"code": "asset_archived", "state": "archived"|"restoring", "eta": …}.
- S3: hot objects with ASSET_CDN_BASE_URL set → the CDN URL of the key; otherwise a presigned GET
  (ASSET_URL_EXPIRY_SECONDS) with ResponseContentType and ResponseContentDisposition.

Who may fetch (one policy, `asset_viewer_may_fetch`): viewers reach only the bytes of public media:
a public, ready clip (its file or poster), or a ready recording of an ended session (its file,
poster or strip). Anything else (the source of a session still live, a hidden clip, an object no
owner row references) answers 404 like an unknown hash, so the URL leaks nothing. Staff with
sessions_app.view_recording may fetch everything (served `private, no-store`).
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import Http404, HttpResponse, HttpResponseNotModified, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods

from analytics.services import is_bot
from commerce.staff_access import has_staff_perms

from . import cas
from .models import AssetDelivery, AssetObject, Clip, Recording
from .tiers import asset_availability, asset_restore_on_demand

__all__ = [
    "asset_availability",
    "asset_delivery_record",
    "asset_media",
    "asset_store_direct",
    "asset_url",
    "asset_viewer_may_fetch",
]

STAFF_FETCH_PERMISSION = "sessions_app.view_recording"
_NAME_RE = re.compile(r"[^A-Za-z0-9._ -]+")


def cache_control(obj: AssetObject) -> str:
    """Cache-Control for viewers: hot → a year, immutable (the key is the hash of the bytes);
    cold → ASSET_COLD_MAX_AGE seconds, so the edge does not keep what few people watch."""
    if obj.hot:
        return cas.IMMUTABLE_CACHE_CONTROL
    return f"public, max-age={settings.ASSET_COLD_MAX_AGE}"


def default_filename(obj: AssetObject) -> str:
    return f"{obj.sha256[:12]}.{obj.extension}" if obj.extension else obj.sha256[:12]


def _clean_name(name: str | None, obj: AssetObject) -> str:
    """A download file name: letters, digits, '._ -' only, ≤ 100 chars, with the object's extension."""
    name = _NAME_RE.sub("", (name or "").strip())[:100].strip(" .")
    if not name:
        return default_filename(obj)
    if obj.extension and not name.lower().endswith(f".{obj.extension}"):
        name = f"{name}.{obj.extension}"
    return name


def asset_url(obj: AssetObject, *, download_name: str | None = None) -> str | None:
    """A URL a browser can fetch the object's bytes from, or None while it is archived and not
    restored (pages then show asset_availability's state and ETA, never a broken player).

    download_name: offer the bytes as an attachment under this file name.
    """
    state, _eta = asset_availability(obj)
    if state != "ready":
        return None
    if cas.storage_is_s3():
        cdn = settings.ASSET_CDN_BASE_URL
        if obj.hot and cdn and not download_name:
            return f"{cdn.rstrip('/')}/{obj.key}"
        filename = _clean_name(download_name, obj)
        storage = cas.asset_storage()
        return storage.url(
            obj.key,
            parameters={
                "ResponseContentType": obj.content_type,
                "ResponseContentDisposition": content_disposition_header(bool(download_name), filename),
            },
            expire=settings.ASSET_URL_EXPIRY_SECONDS,
        )
    name = f"{obj.sha256}.{obj.extension}" if obj.extension else obj.sha256
    url = reverse("asset_media", kwargs={"name": name})
    if obj.hot and settings.ASSET_CDN_BASE_URL and not download_name:
        return settings.ASSET_CDN_BASE_URL.rstrip("/") + url
    if download_name:
        url += "?" + urlencode({"download": "1", "name": _clean_name(download_name, obj)})
    return url


def asset_viewer_may_fetch(obj: AssetObject) -> bool:
    """True when the object is public media: part of a public ready clip, or of a ready recording
    of an ended session that staff uploaded (a partner's upload stays private until staff publish
    clips of it)."""
    from sessions_app.models import LiveSession

    if Clip.objects.filter(Q(asset=obj) | Q(poster=obj), is_public=True, state=Clip.State.READY).exists():
        return True
    return Recording.objects.filter(
        Q(asset=obj) | Q(poster=obj) | Q(strip=obj),
        state=Recording.State.READY,
        partner__isnull=True,  # a partner's upload is not the shop's replay (QA F4)
        session__status=LiveSession.Status.ENDED,
    ).exists()


def asset_delivery_record(
    *,
    asset_id: int,
    views: int = 0,
    requests: int = 0,
    bytes_origin: int = 0,
    bytes_edge: int = 0,
    day: dt.date | None = None,
) -> None:
    """Add to the object's AssetDelivery row for a UTC day (default today UTC): counts and bytes.

    Race-safe: get_or_create, then one `UPDATE … SET x = x + n` (F expressions); two first
    requests of a day racing for the insert meet the unique (asset, day) constraint and the loser
    retries as an update. An unknown asset_id is ignored (the object was collected meanwhile).
    """
    day = day or timezone.now().astimezone(dt.UTC).date()
    increments = {"views": views, "requests": requests, "bytes_origin": bytes_origin, "bytes_edge": bytes_edge}
    if any(v < 0 for v in increments.values()):
        raise ValueError("delivery counters only grow")
    for _ in range(3):
        try:
            with transaction.atomic():
                AssetDelivery.objects.get_or_create(asset_id=asset_id, day=day)
                changes = {k: F(k) + v for k, v in increments.items() if v}
                if changes:
                    AssetDelivery.objects.filter(asset_id=asset_id, day=day).update(**changes)
            return
        except IntegrityError:
            if not AssetObject.objects.filter(pk=asset_id).exists():
                return
            continue


# --- the origin view ------------------------------------------------------------------------------

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """One HTTP byte range → (first, last) inclusive; None to serve everything (no header, a
    syntax we ignore, or several ranges, which RFC 9110 lets a server answer with 200);
    "unsatisfiable" when it starts past the end (416)."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(size - n, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(int(last) if last else size - 1, size - 1)


class _RangeStream:
    """Iterates [start, start+length) of an open file in 64 KiB pieces and records the bytes sent
    once: when the last piece went out, or when the server closes the response early (a client
    that hung up; Django calls close() on the streaming content). Nothing is recorded from garbage
    collection, so a response nobody closed cannot write counters at a random later moment."""

    piece = 64 * 1024

    def __init__(self, obj: AssetObject, fh, start: int, length: int):
        self.asset_id, self.fh, self.left, self.sent, self.done = obj.pk, fh, length, 0, False
        fh.seek(start)

    def __iter__(self):
        while self.left > 0:
            chunk = self.fh.read(min(self.piece, self.left))
            if not chunk:
                break
            self.left -= len(chunk)
            self.sent += len(chunk)
            yield chunk
        self.close()

    def close(self) -> None:
        if self.done:
            return
        self.done = True
        self.fh.close()
        asset_delivery_record(asset_id=self.asset_id, requests=1, bytes_origin=self.sent)


def _archived(obj: AssetObject, state: str, eta) -> JsonResponse:
    response = JsonResponse(
        {
            "code": "asset_archived",
            "message": "This media is in the archive; a restore brings it back."
            if state == "archived"
            else "This media is being restored from the archive.",
            "fields": {},
            "state": state,
            "eta": eta.isoformat() if eta else None,
        },
        status=409,
    )
    response["Cache-Control"] = "no-store"
    if eta:
        response["Retry-After"] = str(max(int((eta - timezone.now()).total_seconds()), 1))
    return response


@require_http_methods(["GET", "HEAD"])
def asset_media(request, name: str):
    """GET/HEAD /media/a/<sha256>[.<ext>]: the object's bytes (see the module docstring).

    Query: download=1 → attachment; name=<file name> for the Content-Disposition.
    """
    sha, _, ext = name.partition(".")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise Http404
    obj = AssetObject.objects.filter(sha256=sha).first()
    if obj is None or ext != obj.extension or obj.ref_count == 0:
        raise Http404
    public = asset_viewer_may_fetch(obj)
    if not public and not has_staff_perms(request.user, [STAFF_FETCH_PERMISSION]):
        raise Http404
    state, eta = asset_availability(obj)
    # a player asked for archived media: start its restore so the answer carries an estimate
    viewer = public and not is_bot(request.headers.get("User-Agent", ""))
    if state == "archived" and viewer and asset_restore_on_demand(asset_id=obj.pk):
        obj.refresh_from_db()
        state, eta = asset_availability(obj)
    if state != "ready":
        return _archived(obj, state, eta)

    etag = f'"{obj.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache_control(obj) if public else "private, no-store",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    if {t.strip() for t in request.headers.get("If-None-Match", "").split(",")} & {etag, f"W/{etag}", "*"}:
        response = HttpResponseNotModified()
        for k, v in headers.items():
            response[k] = v
        return response

    size = obj.size_bytes
    wanted = parse_range(request.headers.get("Range"), size)
    if_range = request.headers.get("If-Range")
    if if_range and if_range.strip() != etag:
        wanted = None  # the client's copy is another object: send it whole
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        for k, v in headers.items():
            response[k] = v
        return response

    as_attachment = request.GET.get("download") == "1"
    headers["Content-Disposition"] = content_disposition_header(as_attachment, _clean_name(request.GET.get("name"), obj))
    start, last = wanted if isinstance(wanted, tuple) else (0, size - 1)
    length = max(last - start + 1, 0)
    status = 206 if isinstance(wanted, tuple) else 200

    if request.method == "HEAD":
        response = HttpResponse(status=status, content_type=obj.content_type)
    else:
        try:
            fh = cas.asset_open(obj)  # opened here: missing bytes are a 404, not a broken stream later
        except cas.AssetError:
            raise Http404 from None
        response = StreamingHttpResponse(_RangeStream(obj, fh, start, length), status=status, content_type=obj.content_type)
    response["Content-Length"] = str(length)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{last}/{size}"
    for k, v in headers.items():
        response[k] = v
    return response


def media_debug_serve(request, path: str):
    """DEBUG only: MEDIA_ROOT as plain files, except anything inside the asset store.

    The path is resolved first (`//`, `./`, `x/../`, decoded `%2f` all collapse), so no spelling of
    a path into ASSET_ROOT reaches the file server: asset bytes go through `asset_media` and its
    access policy only (QA: `/media//assets-store/…` served a hidden clip's bytes).
    """
    from pathlib import Path

    from django.views.static import serve

    full = (Path(settings.MEDIA_ROOT) / path.lstrip("/")).resolve()
    store = getattr(cas.asset_storage(), "location", None) or settings.ASSET_ROOT
    if full.is_relative_to(Path(store).resolve()):
        raise Http404
    return serve(request, path, document_root=settings.MEDIA_ROOT)


def asset_store_direct(request):
    """/media/assets-store/…: the store's own folders are never served as plain files (that would
    skip the access policy and the archive state); 404 always."""
    raise Http404
