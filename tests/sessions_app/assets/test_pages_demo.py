"""The demo (`manage.py seed_demo`, run by `make run`): an ended session of the demo series with a
recording made from the shipped clip, its thumbnails and a highlight clip per drop; re-seeding is a no-op."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import av
import pytest
from django.core.management import call_command

from sessions_app.assets.demo import SHIPPED_CLIP, demo_video_loop
from sessions_app.assets.models import Clip, Recording, SessionMoment
from sessions_app.management.commands.seed_demo import REPLAY_DROPS, REPLAY_TITLE_SUFFIX
from sessions_app.models import LiveSession


def test_the_demo_loop_is_a_longer_continuous_copy_of_the_shipped_clip(tmp_path):
    out = demo_video_loop(SHIPPED_CLIP, tmp_path / "loop.mp4", times=3)
    with av.open(str(SHIPPED_CLIP)) as src, av.open(str(out)) as dst:
        one = sum(1 for _ in src.decode(video=0))
        frames = [f.time for f in dst.decode(video=0)]
        codecs = sorted(s.codec_context.name for s in dst.streams)
    assert len(frames) == 3 * one
    assert frames == sorted(frames)
    # continuous: no gap longer than two frames where one pass meets the next (passes are shifted
    # by the longest stream's length, the audio's, which outlasts the video by under a frame)
    assert max(b - a for a, b in zip(frames, frames[1:], strict=False)) < 2 / 25
    assert frames[-1] == pytest.approx(3 * one / 25, abs=2 / 25)
    assert codecs == ["aac", "h264"]  # stream copy: the codecs are the source's


@pytest.mark.django_db
def test_seed_demo_adds_an_ended_session_with_drops_inside_the_recording_and_reseeding_changes_nothing(
    catalog, capsys
):
    call_command("seed_demo")
    call_command("seed_demo")
    replay = LiveSession.objects.get(title__endswith=REPLAY_TITLE_SUFFIX)
    assert replay.status == LiveSession.Status.ENDED and replay.series.slug == "weekly-jewellery-drop"
    opened = SessionMoment.objects.filter(session=replay, kind=SessionMoment.Kind.DROP_OPENED).order_by("at")
    assert [m.at - replay.went_live_at for m in opened] == [dt.timedelta(seconds=s) for _c, _q, s in REPLAY_DROPS]
    assert all(m.drop.session_id == replay.pk for m in opened)
    assert "/replay/" in capsys.readouterr().out
    try:
        from sessions_app.assets import services  # noqa: F401
    except ImportError:
        pytest.skip("sessions_app.assets.services is not in this tree yet: no recording to check")
    call_command("seed_demo", "--process-assets")
    recording = Recording.objects.get(session=replay)
    assert recording.state == Recording.State.READY and 40_000 <= recording.duration_ms <= 45_000
    assert recording.poster_id and recording.strip_id
    highlights = Clip.objects.filter(session=replay, source=Clip.Source.HIGHLIGHT, state=Clip.State.READY)
    assert sorted(c.drop_id for c in highlights) == sorted(m.drop_id for m in opened)
    assert not Path(recording.original_name).is_absolute()
