"""`make bench BENCH=assets`: clip cuts vs the ffmpeg CLI, dedup savings, the edge hot set behind nginx.

Runs on PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/mm_bench_assets;
created and migrated if missing), with a throw-away asset store (ASSET_ROOT in a temp directory).
Every figure is a ratio to a reference measured in the same run:

1. cut: `sessions_app.assets.video.video_cut` (PyAV, the VIDEO helper's) vs the `ffmpeg` command
   line doing the same cut of the same file, in copy mode (cut points on keyframes) and re-encode
   mode (H.264/AAC, faststart), median of BENCH_CUT_RUNS runs each; ffmpeg is the reference only
   (the Makefile installs it for the bench);
2. dedup: a session whose highlight clips repeat (the same cut stored by several clips): stored
   bytes ÷ logical bytes (from the references, sessions_app.assets.costs.dedup_savings);
3. edge: a Zipf mix of BENCH_EDGE_REQUESTS clip requests through Debian's nginx with proxy_cache
   (started and stopped here) in front of an origin following the hot/cold headers rule, with the
   hot set chosen by `hot_set_rank`: the edge hit ratio (all requests, and requests for hot
   objects) and origin bytes ÷ the bytes of the same requests without a cache.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CUT_RUNS = int(os.environ.get("BENCH_CUT_RUNS", "5"))
EDGE_REQUESTS = int(os.environ.get("BENCH_EDGE_REQUESTS", "3000"))
EDGE_OBJECTS = int(os.environ.get("BENCH_EDGE_OBJECTS", "100"))
EDGE_OBJECT_BYTES = int(os.environ.get("BENCH_EDGE_OBJECT_BYTES", str(256 * 1024)))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mm_bench_assets"
ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / "sessions_app" / "assets" / "data" / "big_buck_bunny_5s_720p.mp4"
SHARED_VIDEO = Path("/work/shared/data/video/big_buck_bunny_5s_720p.mp4")


def setup_django(store: Path) -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    os.environ["ASSET_ROOT"] = str(store)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TESTING", "1")
    os.environ["DEBUG"] = "0"
    import psycopg
    from dj_database_url import parse

    cfg = parse(url)
    admin = psycopg.connect(
        host=cfg["HOST"], port=cfg["PORT"] or 5432, user=cfg["USER"], password=cfg["PASSWORD"] or None,
        dbname="postgres", autocommit=True,
    )
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
        admin.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    admin.close()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE sessions_app_assetcostday, sessions_app_assetdelivery, sessions_app_assetjob, "
            "sessions_app_clip, sessions_app_recording, sessions_app_assetobject CASCADE"
        )


def _median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ffmpeg_cut(src: Path, dst: Path, start_ms: int, end_ms: int, *, copy: bool) -> None:
    codec = ["-c", "copy"] if copy else ["-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{start_ms / 1000}", "-to", f"{end_ms / 1000}", "-i", str(src),
         *codec, "-movflags", "+faststart", "-fflags", "+bitexact", str(dst)],
        check=True,
    )


def bench_cut(src: Path, work: Path) -> None:
    print("-- clip cut: PyAV video_cut vs the ffmpeg CLI (same file, same cut points)")
    try:
        from sessions_app.assets.video import video_cut
    except ImportError:
        video_cut = None
    if shutil.which("ffmpeg") is None:
        print("   ffmpeg not installed (make bench installs it when root): no reference, cut ratios skipped")
        return
    for label, start_ms, end_ms, copy in (("copy (on keyframe)", 0, 3000, True), ("re-encode", 1000, 4000, False)):
        ref = _median_seconds(lambda: ffmpeg_cut(src, work / "ref.mp4", start_ms, end_ms, copy=copy), CUT_RUNS)
        if video_cut is None:
            print(f"   {label:20s}: ffmpeg {ref * 1000:7.1f} ms; video_cut not available (VIDEO's module not merged)")
            continue
        method = []
        ours = _median_seconds(
            lambda: method.append(video_cut(src, work / "ours.mp4", start_ms=start_ms, end_ms=end_ms)), CUT_RUNS
        )
        print(f"   {label:20s}: video_cut {ours * 1000:7.1f} ms ({method[-1]}) vs ffmpeg {ref * 1000:7.1f} ms"
              f"  → ratio {ours / ref:.2f}")


def bench_dedup(src: Path, work: Path) -> None:
    from sessions_app.assets.cas import asset_put_file
    from sessions_app.assets.costs import dedup_savings
    from sessions_app.assets.models import Clip
    from tests.factories import LiveSessionFactory

    print("-- dedup: a session with repeated clips (3 distinct cuts, each made by 4 clips)")
    session = LiveSessionFactory()
    for i, (start, end) in enumerate(((0, 1000), (0, 2000), (0, 3000))):
        path = work / f"cut{i}.mp4"
        if shutil.which("ffmpeg"):
            ffmpeg_cut(src, path, start, end, copy=True)
        else:  # no ffmpeg: distinct byte ranges stand in for distinct cuts
            path.write_bytes(src.read_bytes()[: 100_000 * (i + 1)])
        for r in range(4):  # a highlight cut again, a staff cut of the same range, a re-upload …
            obj = asset_put_file(path=path, kind="clip", original_name=path.name)
            Clip.objects.create(session=session, asset=obj, title=f"cut {i}/{r}", start_ms=start + r,
                                end_ms=end, state="ready")
    d = dedup_savings()
    print(f"   logical {d['logical']:,} B, stored {d['stored']:,} B → stored/logical {d['stored'] / d['logical']:.2f}"
          f" (saved {d['saved']:,} B)")


def bench_edge(work: Path) -> None:
    from sessions_app.assets.cas import asset_open
    from sessions_app.assets.models import AssetObject
    from tests.sessions_app.assets.test_edge_proxy import (
        CachingProxy,
        StandInOrigin,
        build_clips,
        nginx_available,
        replay,
        zipf_sequence,
    )

    print(f"-- edge hot set: {EDGE_REQUESTS} Zipf(1.1) requests over {EDGE_OBJECTS} clips of "
          f"{EDGE_OBJECT_BYTES // 1024} KiB through nginx proxy_cache")
    if not nginx_available():
        print("   Debian's nginx not installed (`make nginx`): edge figures skipped")
        return
    truncate()
    views = [round(10000 / (k + 1) ** 1.1) for k in range(EDGE_OBJECTS)]
    objs = build_clips(EDGE_OBJECTS, size=EDGE_OBJECT_BYTES, views=views)
    urls = [f"/media/a/{o.sha256}.{o.extension}" for o in objs]
    seq = zipf_sequence(EDGE_OBJECTS, EDGE_REQUESTS, seed=7)
    requested = EDGE_REQUESTS * EDGE_OBJECT_BYTES

    def run(label: str, hot_ids: set[int], cold_max_age: int) -> None:
        snapshot = {}
        for o in objs:
            with asset_open(o) as fh:
                snapshot[f"{o.sha256}.{o.extension}"] = (o.pk in hot_ids, fh.read(), o.content_type)
        with StandInOrigin(snapshot, cold_max_age=cold_max_age) as origin, CachingProxy(
            work / f"nginx-{label.split()[0]}", f"127.0.0.1:{origin.port}"
        ) as proxy:
            started = time.perf_counter()
            results = replay(proxy.port, [urls[i] for i in seq])
            seconds = time.perf_counter() - started
        hits = sum(1 for _p, s, _l in results if s == "HIT")
        hot_paths = {urls[i] for i, o in enumerate(objs) if o.pk in hot_ids}
        hot_req = [s for p, s, _l in results if p in hot_paths]
        hot_ratio = (sum(1 for s in hot_req if s == "HIT") / len(hot_req)) if hot_req else 0
        print(f"   {label:34s}: edge hit ratio {hits / len(results):.3f} (hot-set requests {hot_ratio:.3f}, "
              f"{len(hot_req) / len(results):.2f} of all); origin bytes / no-cache bytes "
              f"{origin.bytes_out / requested:.3f}; {len(results) / seconds:,.0f} req/s")

    hot = set(AssetObject.objects.filter(hot=True).values_list("pk", flat=True))
    print(f"   hot set: {len(hot)} of {len(objs)} clips (hot_set_rank); no cache: origin bytes / no-cache bytes 1.000")
    run("hot set long, cold max-age=0", hot, 0)
    run("hot set long, cold max-age=1 s", hot, 1)
    run("everything long (upper bound)", {o.pk for o in objs}, 0)


def main() -> None:
    store = Path(tempfile.mkdtemp(prefix="bench-assets-"))
    try:
        setup_django(store)
        from django.db import connection

        if connection.vendor != "postgresql":
            print("bench_assets needs PostgreSQL (BENCH_DATABASE_URL)", file=sys.stderr)
            return
        src = VIDEO if VIDEO.exists() else SHARED_VIDEO
        if not src.exists():
            print(f"no test video at {VIDEO}: cut and dedup figures skipped", file=sys.stderr)
        truncate()
        work = store / "work"
        work.mkdir()
        if src.exists():
            bench_cut(src, work)
            bench_dedup(src, work)
        bench_edge(work)
    finally:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
