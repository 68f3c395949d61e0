"""Highlights: one clip per drop moment (opened or pinned), placed by clock time on the recording,
backfilled for drops with no recorded moment, exactly one per moment; dedup of identical cuts."""

from __future__ import annotations

import datetime as dt

import pytest

from commerce.models import OutboxMessage
from sessions_app.assets.cas import AssetError
from sessions_app.assets.models import AssetObject, Clip, SessionMoment
from sessions_app.assets.services import (
    asset_jobs_run_due,
    clip_create,
    clip_delete,
    highlights_make,
    recording_create_from_file,
    recording_delete,
    recording_set_started_at,
)
from sessions_app.services import session_moment_record
from tests.sessions_app.assets.helpers import WENT_LIVE, drop_at, live_session

pytestmark = pytest.mark.django_db

S = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _short_window(settings):
    """5 s before, 4 s after (the default 25 s after only makes the tests slower)."""
    settings.ASSET_HIGHLIGHT_BEFORE_MS = 5_000
    settings.ASSET_HIGHLIGHT_AFTER_MS = 4_000


def run_all():
    total = 0
    while ran := asset_jobs_run_due(limit=50):
        total += ran
    return total


@pytest.fixture
def show(asset_store, long_mp4):
    """A session live from WENT_LIVE for 10 minutes, recorded from WENT_LIVE + 2 s (21.12 s of video)."""
    session = live_session()
    opened = drop_at(session, opens_at=WENT_LIVE + 12 * S, title="Ring")
    session_moment_record(session_id=session.pk, kind="drop_opened", at=WENT_LIVE + 12 * S, drop_id=opened.pk)
    session_moment_record(session_id=session.pk, kind="drop_pinned", at=WENT_LIVE + 20 * S, drop_id=opened.pk)
    quiet = drop_at(session, opens_at=WENT_LIVE + 7 * S, title="Necklace")  # no moment recorded
    early = drop_at(session, opens_at=WENT_LIVE - 3600 * S, title="Pre-sale")  # opened before going live
    late = drop_at(session, opens_at=WENT_LIVE + 3 * 3600 * S, title="Tomorrow")  # outside the live window
    recording = recording_create_from_file(
        session_id=session.pk, path=long_mp4, original_name="show.mp4", started_at=WENT_LIVE + 2 * S
    )
    return {"session": session, "opened": opened, "quiet": quiet, "early": early, "late": late, "recording": recording}


def test_processing_a_recording_cuts_one_highlight_per_drop_moment(show):
    run_all()
    clips = {(c.drop.title, c.moment.kind): c for c in Clip.objects.filter(source=Clip.Source.HIGHLIGHT)}
    # the Pre-sale drop's moment (backfilled at Go live) is before the recording started: no clip
    assert set(clips) == {("Ring", "drop_opened"), ("Ring", "drop_pinned"), ("Necklace", "drop_opened")}
    # offsets from the recording's start (WENT_LIVE + 2 s), window 5 s before / 4 s after, clamped
    duration = show["recording"].duration_ms
    assert (clips["Ring", "drop_opened"].start_ms, clips["Ring", "drop_opened"].end_ms) == (5_000, 14_000)
    assert (clips["Ring", "drop_pinned"].start_ms, clips["Ring", "drop_pinned"].end_ms) == (13_000, 21_120)
    assert duration == 21_120
    assert (clips["Necklace", "drop_opened"].start_ms, clips["Necklace", "drop_opened"].end_ms) == (0, 9_000)
    for clip in clips.values():
        assert clip.state == Clip.State.READY and clip.asset.kind == "clip" and clip.poster is not None
        assert abs(clip.duration_ms - (clip.end_ms - clip.start_ms)) <= 40
        assert clip.session_id == show["session"].pk and clip.drop.session_id == show["session"].pk
    # backfilled moments: the quiet drop at its opening, the early one at Go live; none for the late one
    backfilled = SessionMoment.objects.filter(note="backfilled for highlights")
    assert {(m.drop.title, m.at) for m in backfilled} == {
        ("Necklace", WENT_LIVE + 7 * S),
        ("Pre-sale", WENT_LIVE),
    }
    assert not SessionMoment.objects.filter(drop=show["late"]).exists()


def test_highlights_are_exactly_one_per_moment_however_often_they_run(show):
    run_all()
    count = Clip.objects.filter(source=Clip.Source.HIGHLIGHT).count()
    assert highlights_make(recording_id=show["recording"].pk) == []
    moment = SessionMoment.objects.filter(drop=show["opened"], kind="drop_opened").get()
    with pytest.raises(AssetError) as err:  # the unique constraint decides, even past the check
        clip_create(recording_id=show["recording"].pk, start_ms=0, end_ms=1000, title="x", source="highlight",
                    moment_id=moment.pk, drop_id=show["opened"].pk)
    assert err.value.code == "clip_duplicate_highlight"
    assert Clip.objects.filter(source=Clip.Source.HIGHLIGHT).count() == count


def test_staff_can_move_the_recordings_start(show):
    recording_set_started_at(recording_id=show["recording"].pk, started_at=WENT_LIVE + 10 * S)
    run_all()
    ring = Clip.objects.get(source="highlight", drop=show["opened"], moment__kind="drop_opened")
    assert (ring.start_ms, ring.end_ms) == (0, 6_000)  # 2 s in: −3 s .. 6 s, clamped at 0
    # the Necklace opened before this recording started: no highlight for it
    assert not Clip.objects.filter(source="highlight", drop=show["quiet"]).exists()


def test_a_recording_without_a_start_cannot_place_highlights(asset_store, bunny_mp4):
    session = live_session()
    session.went_live_at = None
    session.save(update_fields=["went_live_at"])
    recording = recording_create_from_file(session_id=session.pk, path=bunny_mp4, original_name="x.mp4")
    with pytest.raises(AssetError) as err:
        highlights_make(recording_id=recording.pk)
    assert err.value.code == "recording_unanchored"


def test_the_same_cut_twice_is_stored_once_and_freed_by_the_last_delete(show, django_capture_on_commit_callbacks):
    run_all()
    recording = show["recording"]
    a = clip_create(recording_id=recording.pk, start_ms=2000, end_ms=6000, title="A")
    b = clip_create(recording_id=recording.pk, start_ms=2000, end_ms=6000, title="B", drop_id=show["quiet"].pk)
    run_all()
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.method == b.method == Clip.Method.COPY
    assert a.asset_id == b.asset_id and a.asset.ref_count == 2
    clip_delete(clip_id=a.pk)
    obj = AssetObject.objects.get(pk=b.asset_id)
    assert obj.ref_count == 1
    clip_delete(clip_id=b.pk)
    obj.refresh_from_db()
    assert obj.ref_count == 0
    assert OutboxMessage.objects.filter(kind="asset.collect", payload__asset_id=obj.pk).exists()


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [(-5, 1000, "clip_invalid"), (3000, 2000, "clip_invalid"), (0, 99_000, "clip_invalid"), (0, 100, "clip_invalid")],
)
def test_clip_create_refuses_bad_ranges(show, start, end, code):
    with pytest.raises(AssetError) as err:
        clip_create(recording_id=show["recording"].pk, start_ms=start, end_ms=end, title="x")
    assert err.value.code == code
    assert not Clip.objects.exists()


def test_clip_create_refuses_a_drop_of_another_session(show):
    other = drop_at(live_session(), opens_at=WENT_LIVE)
    with pytest.raises(AssetError) as err:
        clip_create(recording_id=show["recording"].pk, start_ms=0, end_ms=2000, title="x", drop_id=other.pk)
    assert err.value.code == "clip_drop_other_session"


def test_a_recording_with_clips_is_not_deleted(show):
    run_all()
    with pytest.raises(AssetError) as err:
        recording_delete(recording_id=show["recording"].pk)
    assert err.value.code == "recording_has_clips"
    for clip in Clip.objects.all():
        clip_delete(clip_id=clip.pk)
    recording = show["recording"]
    recording.refresh_from_db()
    held = [recording.asset_id, recording.poster_id, recording.strip_id]
    recording_delete(recording_id=recording.pk)
    assert list(AssetObject.objects.filter(pk__in=held).values_list("ref_count", flat=True)) == [0, 0, 0]


def test_a_recut_keeps_the_ready_clip_playing_until_the_new_file_replaces_it(asset_store, bunny_mp4, monkeypatch):
    # given a ready clip
    from sessions_app.assets import services
    from sessions_app.assets.services import clip_recut

    recording = recording_create_from_file(session_id=live_session().pk, path=bunny_mp4, original_name="r.mp4")
    run_all()
    clip = clip_create(recording_id=recording.pk, start_ms=0, end_ms=2000, title="Intro")
    run_all()
    clip.refresh_from_db()
    first_asset = clip.asset_id
    assert clip.state == Clip.State.READY
    # when staff widen it and cut again, then until the job has run it is still ready with its old file
    Clip.objects.filter(pk=clip.pk).update(end_ms=3000)
    clip_recut(clip_id=clip.pk)
    clip.refresh_from_db()
    assert clip.state == Clip.State.READY and clip.asset_id == first_asset
    # and when the new cut fails, the old file stays on the page with the reason for staff (QA F6)
    monkeypatch.setattr(services, "video_cut", lambda *a, **k: (_ for _ in ()).throw(AssetError("video_unreadable", "bad")))
    clip_recut(clip_id=clip.pk)
    while asset_jobs_run_due(limit=50):
        pass
    clip.refresh_from_db()
    assert clip.state == Clip.State.READY and clip.asset_id == first_asset and "bad" in clip.error
    # and when it succeeds the new file replaces the old one in one step
    monkeypatch.undo()
    clip_recut(clip_id=clip.pk)
    run_all()
    clip.refresh_from_db()
    assert clip.state == Clip.State.READY and clip.asset_id != first_asset and clip.error == ""
    assert AssetObject.objects.get(pk=first_asset).ref_count == 0
