"""Rows for the replay/clip page and API tests, made without the derivative jobs: an ended session,
a recording and a clip whose objects hold the shipped CC-BY clip and a real JPEG poster from it."""

from __future__ import annotations

import io
from pathlib import Path

import av
from django.conf import settings
from django.utils import timezone

from sessions_app.assets.cas import asset_put_bytes, asset_put_file
from sessions_app.assets.models import AssetKind, Clip, Recording
from sessions_app.models import LiveSession
from tests.factories import LiveSessionFactory, make_drop

VIDEO = Path(settings.BASE_DIR) / "sessions_app" / "assets" / "data" / "big_buck_bunny_5s_720p.mp4"


def poster_jpeg() -> bytes:
    """The first frame of the shipped clip as JPEG (PyAV decodes, Pillow encodes)."""
    with av.open(str(VIDEO)) as container:
        frame = next(container.decode(video=0))
        out = io.BytesIO()
        frame.to_image().save(out, format="JPEG", quality=70)
    return out.getvalue()


def ended_session_with_clip(*, public: bool = True, drop_closes_in: int = 3600, **clip_fields) -> Clip:
    """An ended session with one drop and one ready clip selling it (the drop closed with its session)."""
    session = LiveSessionFactory(status=LiveSession.Status.LIVE)
    drop = make_drop(session=session, quantity=5, closes_in=drop_closes_in)
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.ENDED, ended_at=timezone.now())
    session.refresh_from_db()
    video = asset_put_file(path=VIDEO, kind=AssetKind.RECORDING, original_name=VIDEO.name)
    poster = asset_put_bytes(data=poster_jpeg(), kind=AssetKind.THUMBNAIL, original_name="poster.jpg")
    recording = Recording.objects.create(
        session=session, asset=video, original_name=VIDEO.name, state=Recording.State.READY,
        duration_ms=5312, width=1280, height=720, video_codec="h264", audio_codec="aac", poster=poster,
    )
    clip_asset = asset_put_file(path=VIDEO, kind=AssetKind.CLIP, original_name="clip.mp4")
    fields = {
        "session": session, "recording": recording, "drop": drop, "title": "The bunny wakes up",
        "start_ms": 0, "end_ms": 5000, "state": Clip.State.READY, "asset": clip_asset, "poster": poster,
        "duration_ms": 5000, "is_public": public, "source": Clip.Source.HIGHLIGHT,
    }
    fields.update(clip_fields)
    return Clip.objects.create(**fields)
