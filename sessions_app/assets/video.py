"""Video work with PyAV (its wheels carry FFmpeg's libraries; no `ffmpeg` binary is run).

- `video_probe(path)`: what a file is (container, codecs, size, frame rate, duration) and whether it
  is whole; refuses unreadable, unsupported and truncated files with a message a person understands.
- `video_poster(path, at_ms=)`: one JPEG frame. `video_strip(path, count=, width=)`: N frames side by
  side in one JPEG (Pillow).
- `video_cut(src, dst, start_ms=, end_ms=)`: a clip as mp4 (faststart). Stream copy when the cut
  can be made on whole GOPs of an H.264/AAC mp4 source, otherwise decode and re-encode to
  H.264/AAC (docs/video.md explains the rule).

Units: milliseconds of media time from the recording's first frame; sizes in pixels. Every
FFmpeg failure (`av.FFmpegError`, raised as Python exceptions by PyAV) becomes an AssetError.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from .cas import AssetError

# FFmpeg demuxer names we accept → the short container name stored on the recording.
CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "webm"}
VIDEO_CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
AUDIO_CODECS = {"aac", "opus", "vorbis", "mp3"}
# A file is truncated when its last decodable media ends more than this (plus two frames) before the
# duration its header announces.
TRUNCATED_SLACK_S = 0.1
POSTER_MAX_WIDTH = 1280
JPEG_QUALITY = 85
ENCODE_PRESET = "veryfast"
ENCODE_CRF = "21"

Progress = Callable[[float], None] | None


def _open(path) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise AssetError("video_unreadable", f"The video file {path.name} is missing.")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
        for stream in container.streams.video:
            stream.thread_type = "AUTO"  # decode on several cores (frame + slice threads)
        return container
    except av.FFmpegError as exc:
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[4:8] == b"ftyp":
            raise AssetError(
                "video_truncated",
                "This MP4 file is incomplete: its index (moov box) is missing, usually because the upload or "
                "the recording was cut short. Upload the whole file again.",
            ) from exc
        raise AssetError(
            "video_unreadable", "This file is not a video we can read (expected an MP4 or WebM recording)."
        ) from exc


def _fps(stream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else Fraction(25)


def _duration_s(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def video_probe(path) -> dict:
    """Describe a recording and check that it is whole.

    Returns {"duration_ms": int, "width": int, "height": int, "fps": float, "video_codec": str,
    "audio_codec": str ("" without audio), "audio_channels": int, "container": "mp4" | "webm",
    "keyframe_interval_ms": None}. Reads the first frame and the last seconds (not the whole file).

    Raises AssetError with code "video_unreadable" (not a video / garbage), "video_unsupported"
    (a container or codec we do not take, or no video track) or "video_truncated" (cut short).
    """
    container = _open(path)
    try:
        kind = CONTAINERS.get(container.format.name)
        if kind is None:
            raise AssetError(
                "video_unsupported",
                f"Recordings must be MP4 (H.264) or WebM (VP9); this file is {container.format.long_name}.",
            )
        if not container.streams.video:
            raise AssetError("video_unsupported", "This file has no video track (audio only?).")
        vstream = container.streams.video[0]
        vcodec = vstream.codec_context.name
        if vcodec not in VIDEO_CODECS:
            raise AssetError(
                "video_unsupported",
                f"The video codec {vcodec} is not supported; use H.264, HEVC, VP8, VP9 or AV1.",
            )
        astream = container.streams.audio[0] if container.streams.audio else None
        acodec = astream.codec_context.name if astream else ""
        if astream is not None and acodec not in AUDIO_CODECS:
            raise AssetError(
                "video_unsupported", f"The audio codec {acodec} is not supported; use AAC, Opus, Vorbis or MP3."
            )
        duration = _duration_s(container, vstream)
        if duration <= 0:
            raise AssetError("video_unreadable", "This video has no duration: it looks empty or damaged.")
        announced = max(duration, (container.duration or 0) / av.time_base)
        fps = _fps(vstream)
        first = _first_frame_time(container, vstream, 0.0)
        if first is None:
            raise AssetError("video_unreadable", "No frame of this video could be decoded: the file is damaged.")
        last_end = _last_frame_end(container, vstream, duration, fps)
        if last_end is None or last_end < announced - TRUNCATED_SLACK_S - 2 / float(fps):
            reached = f"{last_end:.1f}" if last_end is not None else "0"
            raise AssetError(
                "video_truncated",
                f"This video is incomplete: it announces {announced:.1f} s but its frames stop at {reached} s, "
                "usually because the upload or the recording was cut short. Upload the whole file again.",
            )
        return {
            "duration_ms": round(duration * 1000),
            "width": vstream.codec_context.width,
            "height": vstream.codec_context.height,
            "fps": float(fps),
            "video_codec": vcodec,
            "audio_codec": acodec,
            "audio_channels": astream.codec_context.channels if astream else 0,
            "container": kind,
        }
    except av.FFmpegError as exc:
        raise AssetError("video_unreadable", f"This video could not be read: {exc.strerror or exc}.") from exc
    finally:
        container.close()


def _first_frame_time(container, vstream, at_s: float) -> float | None:
    container.seek(0)
    for frame in container.decode(vstream):
        if frame.time is not None and frame.time >= at_s - 1e-6:
            return frame.time
    return None


def _last_frame_end(container, vstream, duration: float, fps: Fraction) -> float | None:
    """End time (s) of the last media in the file: video frames that decode and audio packets,
    looking at the last ~3 seconds only (seek, then demux to the end)."""
    target = max(0.0, duration - 3.0)
    container.seek(int(target / vstream.time_base), stream=vstream, backward=True)
    streams = [vstream, *container.streams.audio[:1]]
    last = None
    try:
        for packet in container.demux(streams):
            if packet.pts is None:
                continue
            if packet.stream.type == "video":
                for frame in packet.decode():
                    if frame.time is not None:
                        last = max(last or 0.0, frame.time + 1 / float(fps))
            elif packet.duration:
                last = max(last or 0.0, float((packet.pts + packet.duration) * packet.stream.time_base))
    except (av.error.InvalidDataError, av.error.EOFError):
        pass
    return last


# --- thumbnails -------------------------------------------------------------------------------------


def _frame_at(container, vstream, at_s: float):
    """The first decoded frame at or after `at_s` (seek to the keyframe before, decode forward)."""
    container.seek(int(max(0.0, at_s) / vstream.time_base), stream=vstream, backward=True)
    previous = None
    for frame in container.decode(vstream):
        if frame.time is not None and frame.time >= at_s - 1e-6:
            return frame
        previous = frame
    return previous  # past the last frame: the last one


def _frames_at(container, vstream, times: list[float], *, reseek_after_s: float = 4.0) -> list:
    """The first frame at or after each of `times` (ascending). Decodes forward from where it is when
    the next time is near (a few seconds), else seeks to the keyframe before it: a recording with
    rare keyframes is not decoded from its start once per frame."""
    found, decoder, current, last = [], None, None, None
    for at_s in times:
        if decoder is None or current is None or at_s < current or at_s - current > reseek_after_s:
            container.seek(int(max(0.0, at_s) / vstream.time_base), stream=vstream, backward=True)
            decoder = container.decode(vstream)
        frame = None
        for candidate in decoder:
            if candidate.time is None:
                continue
            current, last = candidate.time, candidate
            if candidate.time >= at_s - 1e-6:
                frame = candidate
                break
        found.append(frame or last)
    return found


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def video_poster(path, *, at_ms: int | None = None) -> bytes:
    """A poster JPEG: the frame at `at_ms` (default: 10 % into the video), at most 1280 px wide.

    Raises AssetError like video_probe when the file cannot be decoded.
    """
    container = _open(path)
    try:
        vstream = container.streams.video[0]
        duration = _duration_s(container, vstream)
        at_s = (at_ms / 1000) if at_ms is not None else duration * 0.1
        frame = _frame_at(container, vstream, min(at_s, max(0.0, duration - 0.001)))
        if frame is None:
            raise AssetError("video_unreadable", "No frame of this video could be decoded for a poster.")
        image = frame.to_image()
        if image.width > POSTER_MAX_WIDTH:
            image = image.resize((POSTER_MAX_WIDTH, round(image.height * POSTER_MAX_WIDTH / image.width)))
        return _jpeg(image)
    except (av.FFmpegError, IndexError) as exc:
        raise AssetError("video_unreadable", f"No poster could be made from this video: {exc}.") from exc
    finally:
        container.close()


def video_strip(path, *, count: int = 10, width: int = 160) -> bytes:
    """A thumbnail strip: `count` frames evenly spaced (at (i + 0.5) / count of the duration), each
    `width` px wide, side by side in one JPEG (count × width wide). Raises AssetError."""
    if not 1 <= count <= 100 or not 16 <= width <= 1920:
        raise AssetError("strip_invalid", "A strip has 1 to 100 frames of 16 to 1920 pixels each.")
    container = _open(path)
    try:
        vstream = container.streams.video[0]
        duration = _duration_s(container, vstream)
        cc = vstream.codec_context
        height = max(2, round(cc.height * width / cc.width))
        strip = Image.new("RGB", (width * count, height))
        frames = _frames_at(container, vstream, [duration * (i + 0.5) / count for i in range(count)])
        for i, frame in enumerate(frames):
            if frame is None:
                raise AssetError("video_unreadable", "A frame of this video could not be decoded for the strip.")
            strip.paste(frame.to_image().resize((width, height)), (i * width, 0))
        return _jpeg(strip)
    except av.FFmpegError as exc:
        raise AssetError("video_unreadable", f"No thumbnail strip could be made from this video: {exc}.") from exc
    finally:
        container.close()


# --- cuts -------------------------------------------------------------------------------------------


def _keyframe_at_or_before(container, vstream, at_s: float) -> float | None:
    container.seek(int(at_s / vstream.time_base), stream=vstream, backward=True)
    for packet in container.demux(vstream):
        if packet.pts is not None and packet.is_keyframe:
            return float(packet.pts * vstream.time_base)
        if packet.pts is not None:
            return None
    return None


def _copy_possible(container, vstream, astream, start_s: float, end_s: float, duration: float) -> bool:
    """Stream copy keeps frames bit-exact but can only start on a keyframe (an IDR frame): frames after
    it until the next keyframe depend on it. The end is safe when it falls on a keyframe, at the end
    of the recording, or anywhere when the stream has no B-frames (no frame refers to a later one)."""
    if CONTAINERS.get(container.format.name) != "mp4" or vstream.codec_context.name != "h264":
        return False
    if astream is not None and astream.codec_context.name != "aac":
        return False
    half = 0.5 / float(_fps(vstream))
    kf = _keyframe_at_or_before(container, vstream, start_s + half)
    if kf is None or abs(kf - start_s) > half:
        return False
    if end_s >= duration - half or not vstream.codec_context.has_b_frames:
        return True
    kf_end = _keyframe_at_or_before(container, vstream, end_s + half)
    return kf_end is not None and abs(kf_end - end_s) <= half


def _output(dst) -> av.container.OutputContainer:
    return av.open(str(dst), mode="w", format="mp4", options={"movflags": "+faststart"})


def _cut_copy(container, vstream, astream, dst, start_s, end_s, progress) -> None:
    half = 0.5 / float(_fps(vstream))
    out = _output(dst)
    try:
        ov = out.add_stream_from_template(vstream)
        oa = out.add_stream_from_template(astream) if astream is not None else None
        # seek a little earlier: audio packets for `start` may sit before the video keyframe in the file
        container.seek(int(max(0.0, start_s - 1.0) / vstream.time_base), stream=vstream, backward=True)
        streams = [vstream] + ([astream] if astream is not None else [])
        done = {s.index: False for s in streams}
        started_video = False
        span = end_s - start_s
        for packet in container.demux(streams):
            if packet.dts is None or packet.pts is None:
                continue
            stream = packet.stream
            tb = stream.time_base
            t = float(packet.pts * tb)
            if stream.type == "video":
                if t >= end_s - half:
                    done[stream.index] = True
                elif t >= start_s - half and (started_video or packet.is_keyframe):
                    started_video = True
                    offset = round(start_s / tb)
                    packet.pts -= offset
                    packet.dts -= offset
                    packet.stream = ov
                    out.mux(packet)
                    if progress:
                        progress(min(1.0, (t - start_s) / span))
            else:
                pdur = float(packet.duration * tb) if packet.duration else 0.0
                if t >= end_s:
                    done[stream.index] = True
                elif t + pdur / 2 >= start_s:
                    offset = round(start_s / tb)
                    packet.pts = max(0, packet.pts - offset)
                    packet.dts = max(0, packet.dts - offset)
                    packet.stream = oa
                    out.mux(packet)
            if all(done.values()):
                break
    finally:
        out.close()


def _cut_encode(container, vstream, astream, dst, start_s, end_s, progress) -> None:
    fps = _fps(vstream)
    span = end_s - start_s
    cc = vstream.codec_context
    width, height = cc.width - cc.width % 2, cc.height - cc.height % 2
    out = _output(dst)
    try:
        ov = out.add_stream("libx264", rate=fps)
        ov.width, ov.height, ov.pix_fmt = width, height, "yuv420p"
        ov.codec_context.time_base = 1 / fps
        ov.options = {"preset": ENCODE_PRESET, "crf": ENCODE_CRF}
        oa = None
        if astream is not None:
            acc = astream.codec_context
            oa = out.add_stream("aac", rate=acc.sample_rate or 48000)
            oa.codec_context.layout = acc.layout.name
            oa.codec_context.time_base = Fraction(1, acc.sample_rate or 48000)
        container.seek(int(max(0.0, start_s - 1.0) / vstream.time_base), stream=vstream, backward=True)
        streams = [vstream] + ([astream] if astream is not None else [])
        done = {s.index: False for s in streams}
        frame_index = 0
        samples_out = 0
        for packet in container.demux(streams):
            if done[packet.stream.index]:
                if all(done.values()):
                    break
                continue
            for frame in packet.decode():
                if frame.time is None:
                    continue
                if packet.stream.type == "video":
                    t = frame.time
                    if t >= end_s - 0.5 / float(fps):
                        done[vstream.index] = True
                        break
                    if t < start_s - 0.5 / float(fps):
                        continue
                    if frame.width != width or frame.height != height or frame.format.name != "yuv420p":
                        frame = frame.reformat(width=width, height=height, format="yuv420p")
                    frame.pts = frame_index
                    frame.time_base = ov.codec_context.time_base
                    frame_index += 1
                    for out_packet in ov.encode(frame):
                        out.mux(out_packet)
                    if progress:
                        progress(min(1.0, (t - start_s) / span))
                else:
                    if frame.time >= end_s:
                        done[astream.index] = True
                        break
                    frame = _trim_audio(frame, start_s, end_s)
                    if frame is None:
                        continue
                    frame.pts = samples_out
                    frame.time_base = oa.codec_context.time_base
                    samples_out += frame.samples
                    for out_packet in oa.encode(frame):
                        out.mux(out_packet)
            if all(done.values()):
                break
        for stream in (ov, oa):
            if stream is not None:
                for out_packet in stream.encode(None):
                    out.mux(out_packet)
        if frame_index == 0:
            raise AssetError("clip_empty", "No video frame falls inside this cut.")
    finally:
        out.close()


def _trim_audio(frame, start_s: float, end_s: float):
    """The part of an audio frame inside [start_s, end_s), sample-exact; None when none of it is."""
    rate = frame.sample_rate
    t0 = frame.time
    t1 = t0 + frame.samples / rate
    if t1 <= start_s or t0 >= end_s:
        return None
    first = max(0, math.ceil((start_s - t0) * rate - 1e-6))
    last = min(frame.samples, math.floor((end_s - t0) * rate + 1e-6))
    if first == 0 and last == frame.samples:
        return frame
    if last <= first:
        return None
    array = frame.to_ndarray()
    planar = frame.format.is_planar
    piece = array[:, first:last] if planar else array[:, first * len(frame.layout.channels) : last * len(frame.layout.channels)]
    trimmed = av.AudioFrame.from_ndarray(piece.copy(), format=frame.format.name, layout=frame.layout.name)
    trimmed.sample_rate = rate
    return trimmed


def video_cut(src, dst, *, start_ms: int, end_ms: int, progress: Progress = None) -> str:
    """Cut [start_ms, end_ms) of `src` into a new mp4 at `dst` (H.264/AAC, faststart); returns the method.

    "copy": packets copied unchanged (H.264/AAC mp4 source, start on a keyframe, end safe: see
    `_copy_possible`); "encode": decoded and re-encoded with libx264 (crf 21, veryfast) and AAC in the
    source's channel layout (5.1 stays 5.1). The output's first timestamp is 0 and its duration is
    end − start within one frame; an end past the recording is clamped to its end.
    `progress(fraction 0..1)` is called as frames are written.

    Raises AssetError: "clip_invalid" (start/end out of range), or video_probe's codes for a bad source.
    """
    if start_ms < 0 or end_ms <= start_ms:
        raise AssetError("clip_invalid", "A clip must start at 0 s or later and end after it starts.")
    container = _open(src)
    try:
        if not container.streams.video:
            raise AssetError("video_unsupported", "This file has no video track.")
        vstream = container.streams.video[0]
        astream = container.streams.audio[0] if container.streams.audio else None
        duration = _duration_s(container, vstream)
        start_s, end_s = start_ms / 1000, min(end_ms / 1000, duration)
        if start_s >= duration or end_s - start_s < 1 / float(_fps(vstream)):
            raise AssetError(
                "clip_invalid",
                f"The cut {start_ms / 1000:.2f}–{end_ms / 1000:.2f} s is outside the recording (0–{duration:.2f} s).",
            )
        if _copy_possible(container, vstream, astream, start_s, end_s, duration):
            _cut_copy(container, vstream, astream, dst, start_s, end_s, progress)
            method = "copy"
        else:
            _cut_encode(container, vstream, astream, dst, start_s, end_s, progress)
            method = "encode"
        if progress:
            progress(1.0)
        return method
    except av.FFmpegError as exc:
        Path(dst).unlink(missing_ok=True)
        raise AssetError("video_unreadable", f"This clip could not be cut: {exc}.") from exc
    except BaseException:
        Path(dst).unlink(missing_ok=True)
        raise
    finally:
        container.close()
