"""PyAV derivatives on the shipped CC-BY clip and a longer video generated from it: probe, posters,
strips, cuts (copy vs re-encode), timestamps and durations within one frame, bad files refused."""

from __future__ import annotations

import io
import os

import av
import pytest
from PIL import Image

from sessions_app.assets.cas import AssetError
from sessions_app.assets.video import video_cut, video_poster, video_probe, video_strip

FRAME_MS = 40  # 25 fps


def first_pts_and_duration(path) -> dict[str, tuple[float, float]]:
    """Per stream type: (first presentation time in s, end of the last packet in s), by demuxing."""
    out = {}
    with av.open(str(path)) as container:
        for stream in (container.streams.video[0], *container.streams.audio[:1]):
            container.seek(0)
            packets = [p for p in container.demux(stream) if p.pts is not None]
            first = min(float(p.pts * stream.time_base) for p in packets)
            end = max(float((p.pts + p.duration) * stream.time_base) for p in packets)
            out[stream.type] = (first, end)
    return out


def decoded_frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# --- probe -----------------------------------------------------------------------------------------


def test_probe_describes_the_shipped_mp4(bunny_mp4):
    info = video_probe(bunny_mp4)
    assert info["container"] == "mp4" and info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert (info["width"], info["height"], info["fps"], info["audio_channels"]) == (1280, 720, 25.0, 6)
    assert abs(info["duration_ms"] - 5280) <= FRAME_MS


def test_probe_describes_the_webm(bunny_webm):
    info = video_probe(bunny_webm)
    assert (info["container"], info["video_codec"], info["audio_codec"]) == ("webm", "vp9", "opus")
    assert abs(info["duration_ms"] - 5320) <= FRAME_MS


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_a_truncated_mp4_is_refused_with_a_message(bunny_mp4, tmp_path, fraction):
    data = bunny_mp4.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(AssetError) as err:
        video_probe(cut)
    assert err.value.code == "video_truncated"
    assert "incomplete" in err.value.message and "Upload the whole file again" in err.value.message


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_a_truncated_webm_is_refused(bunny_webm, tmp_path, fraction):
    data = bunny_webm.read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(AssetError) as err:
        video_probe(cut)
    assert err.value.code == "video_truncated"


def test_a_faststart_mp4_cut_short_in_its_media_is_refused(long_mp4, tmp_path):
    """moov at the front (our own clips): the index is there, the frames are not."""
    whole = tmp_path / "whole.mp4"
    video_cut(long_mp4, whole, start_ms=0, end_ms=8000)
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart
    short = tmp_path / "short.mp4"
    short.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(AssetError) as err:
        video_probe(short)
    assert err.value.code == "video_truncated"


def test_garbage_and_non_videos_are_refused(tmp_path, bunny_mp4):
    garbage = tmp_path / "x.mp4"
    garbage.write_bytes(os.urandom(50_000))
    with pytest.raises(AssetError) as err:
        video_probe(garbage)
    assert err.value.code == "video_unreadable"
    assert "not a video we can read" in err.value.message

    jpeg = tmp_path / "poster.jpg"
    jpeg.write_bytes(video_poster(bunny_mp4))
    with pytest.raises(AssetError) as err:
        video_probe(jpeg)
    assert err.value.code == "video_unsupported"

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(AssetError):
        video_probe(empty)


def test_audio_only_is_unsupported(tmp_path, bunny_mp4):
    audio = tmp_path / "audio.mp4"
    with av.open(str(bunny_mp4)) as inp, av.open(str(audio), "w", format="mp4") as out:
        template = inp.streams.audio[0]
        ostream = out.add_stream_from_template(template)
        for packet in inp.demux(template):
            if packet.dts is not None:
                packet.stream = ostream
                out.mux(packet)
    with pytest.raises(AssetError) as err:
        video_probe(audio)
    assert err.value.code == "video_unsupported" and "no video track" in err.value.message


# --- thumbnails ------------------------------------------------------------------------------------


def test_poster_is_a_jpeg_frame_that_decodes(bunny_mp4):
    image = Image.open(io.BytesIO(video_poster(bunny_mp4)))
    image.load()
    assert image.format == "JPEG" and image.size == (1280, 720)
    at_start = video_poster(bunny_mp4, at_ms=0)
    at_four = video_poster(bunny_mp4, at_ms=4000)
    assert at_start != at_four  # a different frame


def test_strip_is_count_frames_side_by_side(bunny_mp4, bunny_webm):
    for path in (bunny_mp4, bunny_webm):
        image = Image.open(io.BytesIO(video_strip(path, count=8, width=120)))
        image.load()
        assert image.format == "JPEG" and image.size == (8 * 120, 68)
        # the frames differ: the strip is not one frame repeated
        left, right = image.crop((0, 0, 120, 68)).tobytes(), image.crop((7 * 120, 0, 8 * 120, 68)).tobytes()
        assert left != right


def test_strip_refuses_silly_sizes(bunny_mp4):
    with pytest.raises(AssetError):
        video_strip(bunny_mp4, count=0)


# --- cuts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end", "method"), [(2000, 6000, "copy"), (4000, 9100, "copy"), (3000, 9000, "encode"),
                                                      (1234, 3456, "encode")])
def test_cut_duration_and_timestamps_within_one_frame(long_mp4, tmp_path, start, end, method):
    out = tmp_path / "clip.mp4"
    progress = []
    assert video_cut(long_mp4, out, start_ms=start, end_ms=end, progress=progress.append) == method
    info = video_probe(out)
    assert (info["video_codec"], info["audio_codec"], info["audio_channels"]) == ("h264", "aac", 6)
    assert abs(info["duration_ms"] - (end - start)) <= FRAME_MS
    times = first_pts_and_duration(out)
    assert abs(times["video"][0]) < 1e-6  # first video frame at 0
    assert abs(times["audio"][0]) <= 0.025  # AAC: one 1024-sample frame of priming at most
    assert abs(times["video"][1] * 1000 - (end - start)) <= FRAME_MS
    assert abs(times["audio"][1] * 1000 - (end - start)) <= FRAME_MS
    assert abs(decoded_frames(out) - (end - start) / FRAME_MS) <= 1
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: plays before it has fully loaded


def test_copy_cut_frames_are_the_source_frames(long_mp4, tmp_path):
    """Stream copy keeps the source's packets byte for byte (no generation loss)."""
    out = tmp_path / "copy.mp4"
    assert video_cut(long_mp4, out, start_ms=2000, end_ms=4000) == "copy"
    with av.open(str(long_mp4)) as src:
        stream = src.streams.video[0]
        source = [bytes(p) for p in src.demux(stream) if p.pts is not None and 2.0 - 1e-6 <= p.pts * stream.time_base < 4.0]
    with av.open(str(out)) as cut:
        copied = [bytes(p) for p in cut.demux(video=0) if p.pts is not None]
    assert copied == source


def test_shipped_clip_from_its_only_keyframe_copies_and_mid_cut_encodes(bunny_mp4, tmp_path):
    assert video_cut(bunny_mp4, tmp_path / "a.mp4", start_ms=0, end_ms=2000) == "copy"
    assert video_cut(bunny_mp4, tmp_path / "b.mp4", start_ms=1000, end_ms=3000) == "encode"
    info = video_probe(tmp_path / "b.mp4")
    assert abs(info["duration_ms"] - 2000) <= FRAME_MS and info["audio_channels"] == 6


def test_end_past_the_recording_is_clamped(bunny_mp4, tmp_path):
    out = tmp_path / "tail.mp4"
    video_cut(bunny_mp4, out, start_ms=0, end_ms=60_000)
    assert abs(video_probe(out)["duration_ms"] - 5280) <= FRAME_MS


def test_webm_is_reencoded_to_h264_aac_mp4(bunny_webm, tmp_path):
    out = tmp_path / "w.mp4"
    assert video_cut(bunny_webm, out, start_ms=1000, end_ms=3000) == "encode"
    info = video_probe(out)
    assert (info["container"], info["video_codec"], info["audio_codec"]) == ("mp4", "h264", "aac")
    assert abs(info["duration_ms"] - 2000) <= FRAME_MS
    assert abs(first_pts_and_duration(out)["video"][0]) < 1e-6


@pytest.mark.parametrize(("start", "end"), [(-1, 1000), (2000, 2000), (3000, 1000), (6000, 9000)])
def test_cut_outside_the_recording_is_refused_and_leaves_no_file(bunny_mp4, tmp_path, start, end):
    out = tmp_path / "bad.mp4"
    with pytest.raises(AssetError) as err:
        video_cut(bunny_mp4, out, start_ms=start, end_ms=end)
    assert err.value.code == "clip_invalid"
    assert not out.exists()


def test_cut_of_a_corrupt_file_raises_asset_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    with pytest.raises(AssetError):
        video_cut(bad, tmp_path / "out.mp4", start_ms=0, end_ms=1000)
    assert not (tmp_path / "out.mp4").exists()
