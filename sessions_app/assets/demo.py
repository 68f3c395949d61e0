"""Demo media: a longer recording made from the shipped CC-BY clip (sessions_app/assets/data/NOTICE).

`demo_video_loop` concatenates the clip with itself by stream copy (PyAV remux, no decoding or
encoding), shifting each pass's timestamps by the pass's start, so a 40-second mp4 takes well
under a second to make. Used by `manage.py seed_demo` and by tests that need a longer video.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from django.conf import settings

SHIPPED_CLIP = Path(settings.BASE_DIR) / "sessions_app" / "assets" / "data" / "big_buck_bunny_5s_720p.mp4"


def demo_video_loop(src: Path, dst: Path, *, times: int) -> Path:
    """Write `src` played `times` times in a row to `dst` (mp4, faststart), by stream copy.

    Every stream's packets of pass k are shifted by k × the source's length (the longest stream's
    end, in each stream's own time base), so the result is continuous and `times` × as long.
    Returns `dst`. Raises av.error.FFmpegError for an unreadable source.
    """
    if times < 1:
        raise ValueError("times must be at least 1")
    with av.open(str(src)) as probe:
        length = Fraction(0)
        for stream in probe.streams:
            if stream.duration is not None and stream.time_base is not None:
                length = max(length, stream.duration * stream.time_base)
        if length == 0 and probe.duration:
            length = Fraction(probe.duration, av.time_base)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(dst), "w", format="mp4", options={"movflags": "faststart"}) as out:
        outs = {}
        with av.open(str(src)) as first:
            for stream in first.streams:
                if stream.type in ("video", "audio"):
                    outs[stream.index] = out.add_stream_from_template(stream)
        for k in range(times):
            with av.open(str(src)) as inp:
                for packet in inp.demux(*[s for s in inp.streams if s.index in outs]):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    shift = int(k * length / packet.time_base)
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = packet.dts + shift
                    packet.stream = outs[packet.stream.index]
                    out.mux(packet)
    return dst
