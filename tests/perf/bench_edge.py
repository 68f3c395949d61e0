"""10,000 viewers on one machine: nginx's micro-cache in front of gunicorn (issue #15, part 4).

`make bench BENCH=edge` builds the demo as `make run` does (seed_demo + seed_sampling_demo on a
fresh PostgreSQL database), checks the live session page is the demo's full, shared page
(tests/perf/bench_pages.demo_page_check), and then, all on loopback:

1. Side by side, gunicorn alone vs behind nginx (BENCH_CONCURRENCY connections, BENCH_ROUNDS
   interleaved rounds of BENCH_SECONDS): the bare page and the status JSON straight from gunicorn,
   the page's heartbeat (POST with a visitor cookie) straight from gunicorn, and the bare page and the
   status JSON through nginx (the bare page sends no Cache-Control, so it goes through; the
   status JSON is answered from the micro-cache). Each as a ratio to the bare page from gunicorn
   (issue target: status JSON ≥ 1.0 from gunicorn).
2. The viewers: nginx with config/deploy/nginx.conf (a fresh one whose cache holds one copy of
   each URL, as once anybody opened the page; BENCH_EDGE_COLD=1: empty) in front of gunicorn;
   wrk holds BENCH_VIEWERS keep-alive connections (10,000), each one viewer who opens the live
   session page once (arrivals spread over the first poll interval) and then polls the status
   JSON every BENCH_POLL_SECONDS (2 s), for BENCH_EDGE_SECONDS (40 s). Reported: req/s, p50/p90/
   p99/max latency, errors, HTTP statuses, nginx's X-Cache-Status mix, and the requests that
   reached gunicorn for each cached URL (its access log, which includes nginx's background
   refreshes), per second on average and in the busiest second. Targets: p99 < 200 ms, origin
   ≤ ~1 request/s per cached URL.
3. The same viewers with the page's heartbeat (BENCH_EDGE_HEARTBEAT=1, the default; 0 skips it): each
   viewer also posts `/s/<id>/watching` about every WATCH_BEAT_SECONDS (20 s), as js/session.js does
   while a session is live, on a session that just went live (its watch evidence from earlier runs
   deleted first). Those are never cached (POST), so at 10,000 viewers about 500 requests/s
   reach gunicorn and record watch evidence (in Redis; the task worker's per-minute flush to PostgreSQL
   runs once in the middle of the run and is reported); reported beside the run above, with no target
   of its own (the issue's viewers poll and open the page only). The per-network cap on new watchers is
   off for it: every viewer here comes from 127.0.0.1.

The origin's cache is Redis (BENCH_REDIS_URL, database 13 on loopback, emptied when a server starts),
as deployed.

wrk needs one file descriptor per connection: the bench raises the soft RLIMIT_NOFILE of the wrk
child to the hard limit, and nginx's `worker_rlimit_nofile` is capped at it (tests/deploy/nginxconf).
If the hard limit is too low for BENCH_VIEWERS, it runs the largest count that fits and says so.
The listen backlog is raised for the run (`backlog=` up to net.core.somaxconn) so 10,000 viewers
connecting in the same second are queued, not dropped.

Knobs: BENCH_EDGE_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/micromoments_bench_edge,
dropped and re-created), BENCH_VIEWERS, BENCH_POLL_SECONDS, BENCH_EDGE_SECONDS, BENCH_SECONDS (5),
BENCH_ROUNDS (3; 0 skips the side by side), BENCH_CONCURRENCY (64), BENCH_EDGE_WORKERS (5 sync gunicorn workers, the
documented shape), BENCH_WRK_THREADS (2), BENCH_WRK_NICE (-5; 0 = as is), BENCH_EDGE_COLD=1 (nginx's cache empty when the viewers
arrive, instead of holding one copy of each URL), BENCH_EDGE_REUSE=1 (reuse the last run's demo),
BENCH_EDGE_KEEP_EVIDENCE=1 (keep the last run's watch evidence: viewers with rows and no Redis buffer,
as after a Redis restart mid-session).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import tempfile
import threading
import urllib.request
from collections import Counter
from pathlib import Path

from tests.deploy.nginxconf import NGINX, nginx_running
from tests.perf.bench_pages import FACTS, NotTheDemoPage, demo_page_check
from tests.perf.http import gunicorn, load, manage, server_env

ROOT = Path(__file__).resolve().parents[2]
DB_URL = os.environ.get("BENCH_EDGE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/micromoments_bench_edge")
ORIGIN_PORT = int(os.environ.get("BENCH_PORT", "8322"))
EDGE_PORT = ORIGIN_PORT + 1
VIEWERS = int(os.environ.get("BENCH_VIEWERS", "10000"))
POLL_SECONDS = float(os.environ.get("BENCH_POLL_SECONDS", "2"))
EDGE_SECONDS = float(os.environ.get("BENCH_EDGE_SECONDS", "40"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
WORKERS = os.environ.get("BENCH_EDGE_WORKERS", "5")
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "2"))
COLD = os.environ.get("BENCH_EDGE_COLD") == "1"
WRK_NICE = int(os.environ.get("BENCH_WRK_NICE", "-5"))
HEARTBEAT = os.environ.get("BENCH_EDGE_HEARTBEAT", "1") == "1"
FD_SLACK = 64  # wrk's own files, epoll, stdio
P99_TARGET_MS = 200
ORIGIN_TARGET = 1.0  # requests per second per cached URL ("about one")
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


def _env(**extra: str) -> dict:
    return server_env(db_url=DB_URL, port=ORIGIN_PORT, drop=("TESTING", "DEBUG", "REDIS_URL"), redis=True, **extra)


def _fresh_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _seed() -> dict:
    """Build the demo as `make run` does; returns the live session, its drops and campaigns (bench_pages' facts).

    With BENCH_EDGE_REUSE=1 the database and facts of the previous run are reused (a quicker re-run
    while tuning; the demo's live session stays live for hours).
    """
    facts_file = Path(tempfile.gettempdir()) / f"mm-bench-edge-{DB_URL.rsplit('/', 1)[1]}.json"
    if os.environ.get("BENCH_EDGE_REUSE") == "1" and facts_file.exists():
        return json.loads(facts_file.read_text())
    _fresh_database()
    manage(_env(), "migrate", "--noinput")
    manage(_env(), "collectstatic", "--noinput")
    out = manage(_env(), "seed_demo")
    manage(_env(), "seed_sampling_demo")
    match = re.search(r"Live session: \S*/s/([0-9a-f-]{36})/", out)
    if not match:
        raise NotTheDemoPage(f"seed_demo printed no live session:\n{out}")
    facts = json.loads(manage(_env(), "shell", "-c", FACTS.format(public_id=match.group(1))).strip().splitlines()[-1])
    demo = {"session": match.group(1), **facts}
    facts_file.write_text(json.dumps(demo))
    return demo


def _somaxconn() -> int:
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 4096


def _wrk_child() -> None:
    """In the wrk child, before exec: one descriptor per connection (soft RLIMIT_NOFILE up to the hard
    limit), and wrk ahead of unrelated work on the machine (nice -5 when allowed, BENCH_WRK_NICE):
    it stands in for 10,000 other machines, so it should not be what waits for a CPU."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(OSError):
        os.nice(WRK_NICE)


def _viewers_that_fit() -> tuple[int, str]:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= VIEWERS + FD_SLACK:
        return VIEWERS, ""
    fit = (hard - FD_SLACK) // WRK_THREADS * WRK_THREADS
    return fit, (
        f"the hard RLIMIT_NOFILE is {hard} (not raisable without CAP_SYS_RESOURCE): wrk needs one "
        f"descriptor per connection, so {fit} viewers instead of {VIEWERS}"
    )


def _origin_log(log: Path, offset: int) -> tuple[Counter, dict[str, Counter]]:
    """Requests in gunicorn's access log after byte `offset`: per path, and per path per second."""
    total: Counter = Counter()
    per_second: dict[str, Counter] = {}
    with log.open() as f:
        f.seek(offset)
        for line in f:
            parts = line.split()  # "[02/Dec/2026:07:30:00 +0000] GET /s/…/status.json 200"
            if len(parts) < 5:
                continue
            second, path = parts[0], parts[3]
            total[path] += 1
            per_second.setdefault(path, Counter())[second] += 1
    return total, per_second


NGINX_LINE = re.compile(r'"[A-Z]+ (?P<path>\S+) HTTP/[\d.]+" (?P<code>\d{3}) .* cache=(?P<cache>\S*) rt=(?P<rt>[\d.]+)')


def _nginx_log(log: Path, paths: dict) -> dict:
    """nginx's access log (the config's `micromoments` format): statuses, X-Cache-Status mix, and
    nginx's own time per request (first byte of the request read to last byte of the response
    written) for each of `paths` ({name: path}), p50/p99/max in ms."""
    codes: Counter = Counter()
    cache: Counter = Counter()
    times: dict[str, list[float]] = {name: [] for name in paths}
    names = {path: name for name, path in paths.items()}
    for line in log.read_text().splitlines():
        m = NGINX_LINE.search(line)
        if m:
            codes[m["code"]] += 1
            cache[m["cache"]] += 1
            if m["path"] in names:
                times[names[m["path"]]].append(float(m["rt"]) * 1000)
    spread = {}
    for name, values in times.items():
        values.sort()
        if values:
            spread[name] = {
                "p50_ms": values[len(values) // 2],
                "p99_ms": values[min(len(values) - 1, int(0.99 * len(values)))],
                "max_ms": values[-1],
            }
    return {"codes": dict(codes), "cache": dict(cache), "times": spread}


def _wrk_viewers(base: str, paths: dict, viewers: int, beat_path: str = "") -> dict:
    beat_seconds = 20
    if beat_path:  # the page's own period (the bench process has no Django set up: ask manage.py)
        code = "from sessions_app.watch import WATCH_BEAT_SECONDS; print(WATCH_BEAT_SECONDS)"
        beat_seconds = float(manage(_env(), "shell", "-c", code).strip().splitlines()[-1])
    env = {
        **os.environ,
        "WRK_PAGE_PATH": paths["session page"],
        "WRK_STATUS_PATH": paths["status JSON"],
        "WRK_POLL_MS": str(int(POLL_SECONDS * 1000)),
        "WRK_PER_THREAD": str(viewers // WRK_THREADS),
        "WRK_BEAT_PATH": beat_path,
        "WRK_BEAT_EVERY": str(max(1, round(beat_seconds / POLL_SECONDS))),
    }
    out = subprocess.run(
        [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{viewers}",
            f"-d{EDGE_SECONDS:.0f}s",
            "--timeout",
            "5s",
            "-s",
            str(ROOT / "tests/perf/wrk_viewers.lua"),
            base + "/",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        preexec_fn=_wrk_child,  # noqa: PLW1509 (no threads in this process)
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _viewers(demo: dict, tmp: Path, listen: str, *, heartbeat: bool = False) -> dict:
    """Run the viewers against a fresh nginx + gunicorn (with an access log); returns every figure.
    `heartbeat`: the viewers also post the page's heartbeat (module doc, 3)."""
    viewers, note = _viewers_that_fit()
    paths = {"session page": f"/s/{demo['session']}/", "status JSON": f"/s/{demo['session']}/status.json"}
    beat_path = f"/s/{demo['session']}/watching" if heartbeat else ""
    run = "beat" if heartbeat else "poll"
    log = tmp / f"origin-access-{run}.log"
    log.touch()
    # a session that just went live: no watch evidence yet (not an earlier run's rows); with
    # BENCH_EDGE_KEEP_EVIDENCE=1 the earlier run's rows stay: the Redis-restart case (rows, no buffer)
    if heartbeat and os.environ.get("BENCH_EDGE_KEEP_EVIDENCE") != "1":
        code = f"from sessions_app.models import WatchEvidence as W; W.objects.filter(session__public_id='{demo['session']}').delete()"
        manage(_env(), "shell", "-c", code)
    logged = _env(
        GUNICORN_CMD_ARGS=f"--access-logfile {shlex.quote(str(log))} --access-logformat '%(t)s %(m)s %(U)s %(s)s'",
        WATCH_NEW_VISITORS_PER_NETWORK="0",  # every simulated viewer comes from 127.0.0.1
    )
    with (
        gunicorn(logged, ORIGIN_PORT, workers=WORKERS, worker_class="sync", ready_path="/bench/bare/"),
        nginx_running(tmp / f"nginx-{run}", port=EDGE_PORT, upstream=f"127.0.0.1:{ORIGIN_PORT}", listen=listen) as prefix,
    ):
        # The origin is warm (a deployed one is: imports, templates, connections, its own page cache).
        for path in paths.values():
            load(f"http://127.0.0.1:{ORIGIN_PORT}{path}", seconds=1, concurrency=int(WORKERS))
        # nginx holds one copy of each URL, as it does once anybody opened the page in the last
        # minute (a live session's page has been open before the drop is announced); from then on
        # expiries are refreshed in the background and nobody waits. BENCH_EDGE_COLD=1 starts empty:
        # the viewers arriving while the first request renders the page wait for it (proxy_cache_lock).
        if not COLD:
            for path in paths.values():
                urllib.request.urlopen(f"http://127.0.0.1:{EDGE_PORT}{path}", timeout=30).read()  # noqa: S310 (loopback)
        offset = log.stat().st_size
        load_before = os.getloadavg()[0]
        flush: dict = {}
        flusher = threading.Timer(EDGE_SECONDS / 2, _flush_watch_evidence, args=(flush,)) if heartbeat else None
        if flusher:  # the task worker's per-minute copy of the buffered beats, in the middle of the run
            flusher.start()
        result = _wrk_viewers(f"http://127.0.0.1:{EDGE_PORT}", paths, viewers, beat_path)
        if flusher:
            flusher.join()
    total, per_second = _origin_log(log, offset)
    seconds = result["duration_us"] / 1e6
    origin = {}
    for name, path in paths.items():
        busiest = max(per_second.get(path, Counter()).values(), default=0)
        origin[name] = {"requests": total[path], "per_second": total[path] / seconds, "busiest_second": busiest}
    beat_busiest = max(per_second.get(beat_path, Counter()).values(), default=0) if beat_path else 0
    heartbeat_origin = {"requests": total[beat_path], "per_second": total[beat_path] / seconds, "busiest_second": beat_busiest}
    others = sum(n for p, n in total.items() if p not in paths.values() and p != beat_path)
    return {
        "heartbeat": heartbeat_origin if beat_path else None,
        "flush": flush,
        "viewers": viewers,
        "note": note,
        "seconds": seconds,
        "wrk": result,
        "nginx": _nginx_log(prefix / "access.log", {**paths, **({"heartbeat": beat_path} if beat_path else {})}),
        "origin": origin,
        "other": others,
        "load": (load_before, os.getloadavg()[0]),
    }


def _flush_watch_evidence(into: dict) -> None:
    """Run sessions_app.watch.watch_evidence_flush as the task worker does (its own process, the origin's
    Redis and database); fills `into` with rows copied and seconds taken."""
    code = (
        "import json, time; from sessions_app.watch import watch_evidence_flush; t = time.monotonic(); "
        "n = watch_evidence_flush(); print(json.dumps({'rows': n, 'seconds': time.monotonic() - t}))"
    )
    into.update(json.loads(manage(_env(), "shell", "-c", code).strip().splitlines()[-1]))


def _side_by_side(origin: str, edge: str, demo: dict) -> list[dict]:
    status = f"/s/{demo['session']}/status.json"
    urls = {
        "bare page, gunicorn": origin + "/bench/bare/",
        "status JSON, gunicorn": origin + status,
        "heartbeat, gunicorn": origin + f"/s/{demo['session']}/watching",
        "bare page, nginx": edge + "/bench/bare/",
        "status JSON, nginx cache": edge + status,
    }
    # the page's heartbeat as a browser with a visitor cookie posts it (one viewer: after its first beat
    # each is inside the 10 s write window, which costs the same Redis script as a recorded one)
    beat = {"Cookie": "mm_vid=" + "b" * 32, "User-Agent": BROWSER_UA}
    ask = {name: ("POST", beat) if name.startswith("heartbeat") else ("GET", None) for name in urls}
    for name, url in urls.items():  # warm-up: imports, connections, the caches
        load(url, *ask[name], seconds=1, concurrency=4)
    return [
        {name: load(url, *ask[name], seconds=SECONDS, concurrency=CONCURRENCY) for name, url in urls.items()}
        for _ in range(ROUNDS)
    ]


def main() -> None:
    if not os.path.exists(NGINX) or not shutil.which("wrk"):
        raise SystemExit(f"the edge bench needs Debian's nginx ({NGINX}) and wrk (`make bench` installs both as root)")
    demo = _seed()
    backlog = min(max(VIEWERS, 511), _somaxconn())
    listen = f"127.0.0.1:{EDGE_PORT} backlog={backlog}"
    with tempfile.TemporaryDirectory(prefix="mm-edge-") as tmp:
        tmp = Path(tmp)
        with (
            gunicorn(_env(), ORIGIN_PORT, workers=WORKERS, worker_class="sync", ready_path="/bench/bare/") as origin,
            nginx_running(tmp / "nginx-1", port=EDGE_PORT, upstream=f"127.0.0.1:{ORIGIN_PORT}", listen=listen),
        ):
            edge = f"http://127.0.0.1:{EDGE_PORT}"
            demo_page_check(edge, demo)  # what the viewers will get through nginx is the demo's shared page
            rounds = _side_by_side(origin, edge, demo) if ROUNDS else []
        if rounds:
            _report_side_by_side(rounds)

        result = _viewers(demo, tmp, listen)
        _report_viewers(result, backlog)
        if HEARTBEAT:
            _report_viewers(_viewers(demo, tmp, listen, heartbeat=True), backlog)


def _report_side_by_side(rounds: list[dict]) -> None:
    print(
        f"\n[side by side] gunicorn -w {WORKERS} -k sync, alone and behind nginx (config/deploy/nginx.conf); "
        f"wrk, {CONCURRENCY} connections, {ROUNDS} interleaved rounds × {SECONDS:.0f} s"
    )
    print(f"{'target':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'× bare':>7}  statuses (all rounds)")
    for name in rounds[0]:
        statuses: Counter = Counter()
        for r in rounds:
            statuses.update({str(k): v for k, v in r[name]["statuses"].items()})
        ratio = statistics.median(r[name]["rps"] / r["bare page, gunicorn"]["rps"] for r in rounds)
        print(
            f"{name:<24} {statistics.median(r[name]['rps'] for r in rounds):>9.1f} "
            f"{statistics.median(r[name]['p50_ms'] for r in rounds):>8.2f} "
            f"{statistics.median(r[name]['p99_ms'] for r in rounds):>8.2f} {ratio:>7.2f}  {dict(statuses)}"
        )
    ratio = statistics.median(r["status JSON, gunicorn"]["rps"] / r["bare page, gunicorn"]["rps"] for r in rounds)
    print(
        f"status JSON from gunicorn: {ratio:.2f} of the bare page, target ≥ 1.00 " + ("OK" if ratio >= 1 else "BELOW")
    )


def _report_viewers(r: dict, backlog: int) -> None:
    w = r["wrk"]
    errors = {k: w[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")}
    beats = " and posts the page's heartbeat about every 20 s" if r["heartbeat"] else ""
    print(
        f"\n[viewers{' + heartbeat' if r['heartbeat'] else ''}] {r['viewers']} viewers (wrk -t{WRK_THREADS} -c{r['viewers']}, "
        f"keep-alive, nice {WRK_NICE}), each opens the "
        f"session page once then polls the status JSON every {POLL_SECONDS:g} s{beats}, {r['seconds']:.0f} s; "
        f"nginx cache {'empty' if COLD else 'holding one copy of each URL'} at the start, "
        f"nginx listen backlog {backlog}, gunicorn -w {WORKERS} -k sync; 1-minute load average "
        f"{r['load'][0]:.1f} before, {r['load'][1]:.1f} after ({os.cpu_count()} CPUs, shared with anything else running)"
    )
    if r["note"]:
        print(f"  NOTE: {r['note']}; per-connection rate equivalent: {r['viewers'] / POLL_SECONDS:.0f} polls/s")
    print(
        f"  {w['requests'] / r['seconds']:.0f} req/s ({w['requests']} requests: {w['pages']} page loads and "
        f"{w['polls']} polls, {w['beats']} heartbeats issued); latency p50 {w['p50_us'] / 1000:.1f} ms, p90 {w['p90_us'] / 1000:.1f} ms, "
        f"p99 {w['p99_us'] / 1000:.1f} ms, max {w['max_us'] / 1000:.0f} ms"
    )
    n = r["nginx"]
    print(f"  errors (wrk) {errors}; HTTP statuses (nginx log) {n['codes']}; X-Cache-Status {n['cache']}")
    for name, s in n["times"].items():
        print(
            f"  nginx's own time, {name:<12}: p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms"
            " (request read → response written; wrk adds the client side and waiting for a CPU)"
        )
    for name, o in r["origin"].items():
        verdict = "OK" if o["per_second"] <= ORIGIN_TARGET * 1.2 else "ABOVE TARGET"
        print(
            f"  origin, {name:<12}: {o['requests']} requests, {o['per_second']:.2f}/s "
            f"(busiest second {o['busiest_second']}), target ≤ ~{ORIGIN_TARGET:g}/s {verdict}"
        )
    if r["heartbeat"]:
        h = r["heartbeat"]
        print(
            f"  origin, heartbeat   : {h['requests']} requests, {h['per_second']:.1f}/s (busiest second "
            f"{h['busiest_second']}): never cached, no target of its own"
        )
        f = r["flush"]
        if f:
            print(
                f"  watch evidence flush: {f['rows']} rows copied from Redis to PostgreSQL in {f['seconds']:.2f} s "
                "(the task worker's per-minute run, started mid-run)"
            )
    print(f"  origin, anything else: {r['other']} requests")
    p99 = w["p99_us"] / 1000
    print(f"  p99 {p99:.1f} ms, target < {P99_TARGET_MS} ms " + ("OK" if p99 < P99_TARGET_MS else "ABOVE TARGET"))


if __name__ == "__main__":
    main()
