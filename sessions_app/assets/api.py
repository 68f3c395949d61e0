"""Partner API: session assets (recordings, clips, thumbnails) and resumable recording uploads.

Who may do what (docs/access.md, "Session assets"):
- `assets:read`: list a session's recordings, clips and thumbnails. Sessions are shop catalogue.
  Public clips are catalogue too (the clip page shows them to anyone); an unpublished clip is seen
  only by the partner whose key created it and by `shop` keys. Recordings are catalogue while the
  replay page shows them (ASSET_REPLAY_SHOWS_RECORDING), else only the uploading partner's and
  `shop` keys see them.
- `assets:write`: cut a clip from a session's recording (Idempotency-Key), and upload a recording
  resumably. An upload belongs to the partner whose key opened it: another partner's upload id
  answers 404 `not_found`, exactly like a missing one (commerce.access.get_owned).

Resumable upload (the shape of tus 1.0 core, without its discovery headers):
1. `POST /sessions/{id}/uploads` {original_name, total_bytes, sha256?} → 201 {id, url, offset: 0, …}
2. `PATCH {url}` with header `Upload-Offset: <bytes received so far>` and the next chunk as the body
   (`Content-Type: application/offset+octet-stream`; the body is streamed to the staging file in
   1 MiB reads, never held whole, so a chunk may be larger than DATA_UPLOAD_MAX_MEMORY_SIZE)
   → 200 {offset, …} and `Upload-Offset`. A chunk that does not start at the current offset
   → 409 `upload_offset_mismatch` with the current offset in `fields.offset` and `Upload-Offset`: resume there.
3. `GET {url}` → the current offset (after a dropped connection).
4. `POST {url}/complete` {sha256} → 201 the recording (processing: probe, poster, strip, highlights);
   a checksum that does not match the bytes → 422 `upload_checksum_mismatch`; the upload fails and nothing is kept.
The writes go through sessions_app.assets.services (upload_open/upload_append/upload_complete,
clip_create), which raise AssetError(code, message): answered as {code, message, fields}.
"""


import datetime as dt
from uuid import UUID

from django.conf import settings
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.pagination import paginate

from commerce.access import catalogue, get_owned
from commerce.idempotency import error_body, run_idempotent
from config.api import PartnerKey
from config.pagination import PageNumberPagination

from ..models import LiveSession
from .cas import CHUNK, AssetError
from .models import Clip, Recording, RecordingUpload
from .selectors import absolute, asset_link, asset_state

router = Router(tags=["assets"])

# AssetError codes → HTTP status; anything else is 422 (bad input the caller can fix).
ASSET_ERROR_STATUS = {
    "not_found": 404,
    "upload_missing": 404,
    "session_missing": 404,
    "recording_missing": 404,
    "upload_offset_mismatch": 409,
    "upload_closed": 409,
    "upload_incomplete": 409,
    "too_large": 413,
}


def asset_error_status(code: str) -> int:
    """The HTTP status an AssetError code answers with (ASSET_ERROR_STATUS, else 422).

    config.api maps an AssetError escaping any handler with this, as {code, message, fields}.
    """
    return ASSET_ERROR_STATUS.get(code, 422)



def _services():
    """The asset services module (sessions_app.assets.services), imported late so the API loads without it;
    absent → 503 `service_unavailable` (never a 500)."""
    try:
        from . import services
    except ImportError as exc:
        raise HttpError(503, "Recording and clip processing is not installed on this server.") from exc
    return services


def _session(session_id: UUID) -> LiveSession:
    return get_object_or_404(catalogue(LiveSession.objects.all()), public_id=session_id)


def _recordings_visible(request, session: LiveSession):
    qs = catalogue(Recording.objects.filter(session=session)).select_related("asset", "poster", "strip")
    if getattr(settings, "ASSET_REPLAY_SHOWS_RECORDING", True) or request.caller.for_shop:
        return qs
    return qs.filter(partner=request.caller.partner)


def _clips_visible(request, session: LiveSession):
    qs = catalogue(Clip.objects.filter(session=session)).select_related("asset", "poster", "recording", "drop")
    if request.caller.for_shop:
        return qs
    return qs.filter(Q(is_public=True) | Q(partner=request.caller.partner))


# --- schemas ---------------------------------------------------------------------------------------


class AssetRef(Schema):
    sha256: str
    content_type: str
    size_bytes: int = Field(description="Bytes.")
    tier: str = Field(description="fast | mid | archive")
    state: str = Field(description="ready | restoring | archived (a restore is needed before `url` works)")
    url: str | None = Field(description="Absolute URL of the bytes, or null while archived.")


def _asset(obj) -> dict | None:
    if obj is None:
        return None
    state, _eta = asset_state(obj)
    return {
        "sha256": obj.sha256,
        "content_type": obj.content_type,
        "size_bytes": obj.size_bytes,
        "tier": obj.tier,
        "state": state,
        "url": absolute(asset_link(obj)) if state == "ready" else None,
    }


class RecordingOut(Schema):
    id: UUID
    state: str = Field(description="uploading | processing | ready | failed")
    error: str
    original_name: str
    duration_ms: int | None = Field(description="Milliseconds.")
    width: int | None
    height: int | None
    video_codec: str
    audio_codec: str
    started_at: dt.datetime | None = Field(description="UTC instant of the first frame.")
    created_at: dt.datetime
    asset: AssetRef | None
    poster: AssetRef | None
    strip: AssetRef | None


def _recording(rec: Recording) -> dict:
    return {
        "id": rec.public_id,
        "state": rec.state,
        "error": rec.error,
        "original_name": rec.original_name,
        "duration_ms": rec.duration_ms,
        "width": rec.width,
        "height": rec.height,
        "video_codec": rec.video_codec,
        "audio_codec": rec.audio_codec,
        "started_at": rec.started_at,
        "created_at": rec.created_at,
        "asset": _asset(rec.asset),
        "poster": _asset(rec.poster),
        "strip": _asset(rec.strip),
    }


class ClipOut(Schema):
    id: UUID
    title: str
    state: str = Field(description="pending | ready | failed")
    source: str = Field(description="staff | highlight | upload | api")
    method: str = Field(description="copy | encode | '' (not cut yet)")
    start_ms: int = Field(description="Milliseconds from the recording's first frame.")
    end_ms: int
    duration_ms: int | None
    recording_id: UUID | None
    drop_id: int | None
    is_public: bool
    page_url: str = Field(description="The clip page (absolute).")
    asset: AssetRef | None
    poster: AssetRef | None


def _clip(clip: Clip) -> dict:
    return {
        "id": clip.public_id,
        "title": clip.title,
        "state": clip.state,
        "source": clip.source,
        "method": clip.method,
        "start_ms": clip.start_ms,
        "end_ms": clip.end_ms,
        "duration_ms": clip.duration_ms,
        "recording_id": clip.recording.public_id if clip.recording_id else None,
        "drop_id": clip.drop_id,
        "is_public": clip.is_public,
        "page_url": absolute(reverse("sessions_app:clip", kwargs={"public_id": clip.public_id})),
        "asset": _asset(clip.asset),
        "poster": _asset(clip.poster),
    }


class ThumbnailOut(Schema):
    kind: str = Field(description="recording_poster | recording_strip | clip_poster")
    of: UUID = Field(description="The recording's or clip's id.")
    asset: AssetRef


class UploadOut(Schema):
    id: UUID
    url: str = Field(description="Where to PATCH chunks, GET the offset and POST /complete (absolute).")
    state: str = Field(description="open | complete | failed | abandoned")
    offset: int = Field(description="Bytes received and stored so far: the next chunk starts here.")
    total_bytes: int
    error: str
    recording_id: UUID | None


def _upload(up: RecordingUpload) -> dict:
    return {
        "id": up.public_id,
        "url": absolute(reverse("api:asset_upload", kwargs={"upload_id": up.public_id})),
        "state": up.state,
        "offset": up.received_bytes,
        "total_bytes": up.total_bytes,
        "error": up.error,
        "recording_id": up.recording.public_id if up.recording_id else None,
    }


class ClipIn(Schema):
    recording_id: UUID
    start_ms: int = Field(ge=0, le=2**31 - 1, description="Milliseconds from the recording's first frame.")
    end_ms: int = Field(ge=1, le=2**31 - 1, description="Exclusive; after start_ms.")
    title: str = Field(min_length=1, max_length=200)
    drop_id: int | None = Field(None, ge=1, le=2**63 - 1, description="A drop of the same session the clip sells.")


class UploadIn(Schema):
    original_name: str = Field(min_length=1, max_length=255, description="e.g. session.mp4 (mp4 or webm)")
    total_bytes: int = Field(ge=1, le=2**63 - 1, description="The whole file's size in bytes.")
    sha256: str = Field("", pattern=r"^([0-9a-fA-F]{64})?$", description="Optional: checked again at complete.")


class CompleteIn(Schema):
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 (hex) of the whole file.")


def _json(status: int, body: dict, *, offset: int | None = None) -> HttpResponse:
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    response = HttpResponse(json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type="application/json")
    if offset is not None:
        response["Upload-Offset"] = str(offset)
    response["Cache-Control"] = "no-store"
    return response


def _plain(body: dict) -> dict:
    """`body` as plain JSON values (UUIDs and datetimes as strings): what run_idempotent stores and replays."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    return json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def _asset_error_answer(exc: AssetError) -> tuple[int, dict]:
    return asset_error_status(exc.code), error_body(exc.code, exc.message, getattr(exc, "fields", None))


# --- reads -----------------------------------------------------------------------------------------


@router.get("/sessions/{session_id}/recordings", response=list[RecordingOut], auth=PartnerKey("assets:read"))
@paginate(PageNumberPagination, page_size=50)
def list_recordings(request, session_id: UUID):
    """A session's recordings, newest first, with their poster and thumbnail strip.

    Paginated: `?page=N&page_size=M` (max 100) → {"items": [...], "count": total}. 404 for an unknown session.
    """
    session = _session(session_id)
    return [_recording(r) for r in _recordings_visible(request, session).order_by("-created_at", "-pk")]


@router.get("/sessions/{session_id}/clips", response=list[ClipOut], auth=PartnerKey("assets:read"))
@paginate(PageNumberPagination, page_size=50)
def list_clips(request, session_id: UUID):
    """A session's clips in timeline order: public ones, plus the caller's own unpublished ones. Paginated."""
    session = _session(session_id)
    return [_clip(c) for c in _clips_visible(request, session).order_by("start_ms", "pk")]


@router.get("/sessions/{session_id}/thumbnails", response=list[ThumbnailOut], auth=PartnerKey("assets:read"))
@paginate(PageNumberPagination, page_size=50)
def list_thumbnails(request, session_id: UUID):
    """Every thumbnail of the session's visible recordings (poster, strip) and clips (poster). Paginated."""
    session = _session(session_id)
    items = []
    for rec in _recordings_visible(request, session).order_by("-created_at", "-pk"):
        for kind, obj in (("recording_poster", rec.poster), ("recording_strip", rec.strip)):
            if obj is not None:
                items.append({"kind": kind, "of": rec.public_id, "asset": _asset(obj)})
    for clip in _clips_visible(request, session).order_by("start_ms", "pk"):
        if clip.poster is not None:
            items.append({"kind": "clip_poster", "of": clip.public_id, "asset": _asset(clip.poster)})
    return items


# --- writes ----------------------------------------------------------------------------------------


@router.post(
    "/sessions/{session_id}/clips", response={201: ClipOut, 200: ClipOut}, auth=PartnerKey("assets:write")
)
def create_clip(request, session_id: UUID, payload: ClipIn):
    """Cut a clip [start_ms, end_ms) from one of the session's recordings; the cut is queued (state pending).

    Idempotency-Key: a replay answers the first answer. 404 unknown session or recording (or not visible
    to the key); 422 `invalid` / an AssetError code for times outside the recording or a drop of another
    session; 409 `idempotency_in_progress`.
    """
    session = _session(session_id)

    def handler() -> tuple[int, dict]:
        recording = _recordings_visible(request, session).filter(public_id=payload.recording_id).first()
        if recording is None:
            return 404, error_body("not_found", "Not found.", {"recording_id": ["no such recording in this session"]})
        if payload.drop_id is not None and not session.drops.filter(pk=payload.drop_id).exists():
            return 422, error_body("invalid", "The drop is not one of this session's.", {"drop_id": ["not in session"]})
        if payload.end_ms <= payload.start_ms:
            return 422, error_body("invalid", "A clip must end after it starts.", {"end_ms": ["must be after start_ms"]})
        try:
            clip = _services().clip_create(
                recording_id=recording.pk,
                start_ms=payload.start_ms,
                end_ms=payload.end_ms,
                title=payload.title,
                drop_id=payload.drop_id,
                source=Clip.Source.API,
                partner=request.caller.partner,
            )
        except AssetError as exc:
            return _asset_error_answer(exc)
        clip = Clip.objects.select_related("asset", "poster", "recording").get(pk=clip.pk)
        return 201, _plain(_clip(clip))

    status, body = run_idempotent(request, payload=payload.dict(), handler=handler)
    return _json(status, body)


@router.post("/sessions/{session_id}/uploads", response={201: UploadOut}, auth=PartnerKey("assets:write"))
def open_upload(request, session_id: UUID, payload: UploadIn):
    """Open a resumable upload of a recording for the session → 201 with its `url` and offset 0.

    Idempotency-Key: a replay answers the same upload. 404 unknown session; 422 for a bad name or size
    (AssetError codes from the service, e.g. `unsupported_type`, `too_large`).
    """
    session = _session(session_id)

    def handler() -> tuple[int, dict]:
        try:
            upload = _services().upload_open(
                session_id=session.pk,
                original_name=payload.original_name,
                total_bytes=payload.total_bytes,
                expected_sha256=payload.sha256.lower(),
                partner=request.caller.partner,
            )
        except AssetError as exc:
            return _asset_error_answer(exc)
        return 201, _plain(_upload(upload))

    status, body = run_idempotent(request, payload=payload.dict(), handler=handler)
    return _json(status, body, offset=body.get("offset") if status == 201 else None)


def _owned_upload(request, upload_id: UUID) -> RecordingUpload:
    return get_owned(RecordingUpload.objects.select_related("recording"), request.caller, public_id=upload_id)


@router.get("/uploads/{upload_id}", response=UploadOut, auth=PartnerKey("assets:write"), url_name="asset_upload")
def get_upload(request, upload_id: UUID):
    """The upload's state and current offset (also in `Upload-Offset`): where to resume. 404 if not the key's."""
    upload = _owned_upload(request, upload_id)
    return _json(200, _upload(upload), offset=upload.received_bytes)


def _request_chunks(request):
    """The request body in CHUNK-sized reads (never the whole body at once)."""
    while True:
        data = request.read(CHUNK)
        if not data:
            return
        yield data


@router.patch("/uploads/{upload_id}", response=UploadOut, auth=PartnerKey("assets:write"))
def append_upload(
    request, upload_id: UUID, offset: int | None = Query(None, ge=0, le=2**63 - 1, description="Instead of Upload-Offset.")
):
    """Append the body at `Upload-Offset` (header; or `?offset=`) → 200 with the new offset.

    The body is streamed to the staging file (sessions_app.assets.services.upload_append). 409
    `upload_offset_mismatch` (current offset in `fields.offset` and `Upload-Offset`) when the chunk does not
    start at the current offset; 409 `upload_closed` after complete; 422 `invalid` without an offset,
    or for bytes past `total_bytes`; 411 `length_required` for a body without Content-Length
    (Transfer-Encoding: chunked). An empty body is a no-op answering the offset.
    """
    upload = _owned_upload(request, upload_id)
    raw = request.headers.get("Upload-Offset", "")
    if raw:
        if not raw.isdecimal() or len(raw) > 19:
            return _json(422, error_body("invalid", "Upload-Offset must be a byte count.", {"Upload-Offset": ["not a number"]}))
        offset = int(raw)
    if offset is None or offset < 0:
        return _json(422, error_body("invalid", "Send the chunk's start in Upload-Offset.", {"Upload-Offset": ["required"]}))
    if upload.state != RecordingUpload.State.OPEN:
        return _json(409, error_body("upload_closed", f"This upload is {upload.state}."), offset=upload.received_bytes)
    if offset != upload.received_bytes:
        return _json(
            409,
            error_body("upload_offset_mismatch", f"The upload has {upload.received_bytes} bytes; resume from there.",
                       {"offset": upload.received_bytes}),
            offset=upload.received_bytes,
        )
    raw_length = request.META.get("CONTENT_LENGTH") or ""
    if not raw_length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # WSGI gives no end to a body without Content-Length: refuse rather than drop it (QA F7)
        return _json(
            411,
            error_body("length_required", "Send each chunk with a Content-Length header.", {"Content-Length": ["required"]}),
            offset=upload.received_bytes,
        )
    try:
        length = int(raw_length or 0)
    except ValueError:
        length = 0
    if length == 0:
        return _json(200, _upload(upload), offset=upload.received_bytes)
    if offset + length > upload.total_bytes:
        return _json(
            422,
            error_body("invalid", "The chunk goes past the announced total_bytes.", {"body": ["too many bytes"]}),
            offset=upload.received_bytes,
        )
    try:
        upload = _services().upload_append(upload_id=upload.pk, offset=offset, chunks=_request_chunks(request))
    except AssetError as exc:
        upload.refresh_from_db()
        status, body = _asset_error_answer(exc)
        if exc.code == "upload_offset_mismatch":
            body["fields"] = {"offset": getattr(exc, "offset", None) or upload.received_bytes}
        return _json(status, body, offset=upload.received_bytes)
    return _json(200, _upload(upload), offset=upload.received_bytes)


@router.post("/uploads/{upload_id}/complete", response={201: RecordingOut}, auth=PartnerKey("assets:write"))
def complete_upload(request, upload_id: UUID, payload: CompleteIn):
    """Finish the upload: the SHA-256 of the whole file is checked → 201 the recording (processing).

    422 `upload_checksum_mismatch` (the upload fails, nothing is kept), 409 `upload_incomplete` while bytes are missing.
    Idempotency-Key: a replay answers the same recording.
    """
    upload = _owned_upload(request, upload_id)

    def handler() -> tuple[int, dict]:
        try:
            recording = _services().upload_complete(upload_id=upload.pk, sha256=payload.sha256.lower())
        except AssetError as exc:
            return _asset_error_answer(exc)
        recording = Recording.objects.select_related("asset", "poster", "strip").get(pk=recording.pk)
        return 201, _plain(_recording(recording))

    status, body = run_idempotent(request, payload=payload.dict(), handler=handler)
    return _json(status, body)
