"""Video fixtures: the shipped CC-BY clip (Big Buck Bunny, Blender Foundation), its WebM twin, and a
longer recording generated from it in the test run (keyframe every 2 s, 5.1 AAC)."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest
from django.conf import settings

IN_REPO = Path(settings.BASE_DIR) / "sessions_app" / "assets" / "data"
SHARED = Path(settings.BASE_DIR).parent.parent / "shared" / "data" / "video"
SHARED_ALT = Path("/work/shared/data/video")


def _find(name: str) -> Path:
    for folder in (IN_REPO, SHARED, SHARED_ALT):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"test video {name} is missing (expected in {IN_REPO})")


@pytest.fixture(scope="session")
def bunny_mp4() -> Path:
    """H.264 1280x720 25 fps + AAC 5.1, 5.31 s, one keyframe (at 0), no B-frames."""
    return _find("big_buck_bunny_5s_720p.mp4")


@pytest.fixture(scope="session")
def bunny_webm() -> Path:
    """VP9 640x360 25 fps + Opus stereo, 5.32 s."""
    return _find("big_buck_bunny_5s_360p_vp9.webm")


def make_long_video(src: Path, dst: Path, *, loops: int = 4, gop_frames: int = 50, size=(640, 360)) -> Path:
    """An mp4 `loops` × the source long (H.264 with a keyframe every `gop_frames` frames, 5.1 AAC),
    encoded with PyAV from the source's decoded frames."""
    with av.open(str(src)) as inp:
        vstream, astream = inp.streams.video[0], inp.streams.audio[0]
        fps = Fraction(vstream.average_rate)
        images = [f.to_ndarray(format="yuv420p", width=size[0], height=size[1]) for f in inp.decode(vstream)]
        inp.seek(0)
        audio = [f.to_ndarray() for f in inp.decode(astream)]
        rate, layout, fmt = astream.codec_context.sample_rate, astream.codec_context.layout.name, "fltp"
    with av.open(str(dst), "w", format="mp4") as out:
        ov = out.add_stream("libx264", rate=fps)
        ov.width, ov.height, ov.pix_fmt = size[0], size[1], "yuv420p"
        ov.codec_context.time_base = 1 / fps
        ov.options = {"preset": "ultrafast", "g": str(gop_frames), "keyint_min": str(gop_frames), "sc_threshold": "0",
                      "bf": "0"}
        oa = out.add_stream("aac", rate=rate)
        oa.codec_context.layout = layout
        n = 0
        samples = 0
        for _ in range(loops):
            for image in images:
                frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
                frame.pts = n
                frame.time_base = ov.codec_context.time_base
                n += 1
                for packet in ov.encode(frame):
                    out.mux(packet)
            for array in audio:
                frame = av.AudioFrame.from_ndarray(array, format=fmt, layout=layout)
                frame.sample_rate = rate
                frame.pts = samples
                frame.time_base = Fraction(1, rate)
                samples += frame.samples
                for packet in oa.encode(frame):
                    out.mux(packet)
        for stream in (ov, oa):
            for packet in stream.encode(None):
                out.mux(packet)
    return dst


@pytest.fixture(scope="session")
def long_mp4(bunny_mp4, tmp_path_factory) -> Path:
    """~21 s, 640x360 25 fps, keyframes every 2 s (at 0, 2000, 4000 … ms), 5.1 AAC."""
    return make_long_video(bunny_mp4, tmp_path_factory.mktemp("video") / "long.mp4")


@pytest.fixture
def asset_store(settings, tmp_path):
    """Asset bytes and staging files under this test's tmp dir (filesystem storage)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "store")}},
    }
    settings.ASSET_TMP_DIR = tmp_path / "tmp"
    return tmp_path


@pytest.fixture
def copy_of(tmp_path):
    """copy_of(path) → a throwaway copy in tmp (services may consume their input)."""

    def make(path: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or Path(path).name)
        shutil.copyfile(path, dst)
        return dst

    return make
