"""HTTP load for the benchmarks: gunicorn on loopback, and a load generator in its own process.

`gunicorn(env, port, …)` serves config.wsgi until the block ends. `load(url, …)` drives a URL with
wrk (Debian's `wrk`, a C load generator that leaves the CPU to the server) or, without it, with
tests/perf/loadgen.py (BENCH_LOADGEN=wrk|python), and returns {"rps", "p50_ms", "p99_ms", "statuses"}.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = os.environ.get("BENCH_LOADGEN") or ("wrk" if shutil.which("wrk") else "python")


BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def server_env(
    *, db_url: str, port: int, drop: tuple[str, ...] = ("TESTING", "DEBUG"), redis: bool = False, **extra: str
) -> dict:
    """The environment a bench serves the project with: production settings on loopback, the bench views on.

    `redis`: the cache (shared page copies, status JSON, heartbeats, rate limits) on BENCH_REDIS_URL
    (database 13 on loopback by default, emptied by `gunicorn` when a server starts), as deployed
    (docs/deployment.md); else whatever REDIS_URL the caller has, unless `drop` removes it."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if redis:
        env["REDIS_URL"] = BENCH_REDIS_URL
    env.update(
        DATABASE_URL=db_url,
        DEBUG="0",
        SECRET_KEY="bench-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        BENCH_VIEWS="1",
        SITE_URL=f"http://127.0.0.1:{port}",
        LOG_LEVEL="WARNING",
        DB_CONN_MAX_AGE="600",
        **extra,
    )
    return env


def manage(env: dict, *args: str) -> str:
    """Run `manage.py <args>` with `env`; returns its stdout (raises CalledProcessError on failure)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


@contextmanager
def gunicorn(
    env: dict, port: int, *, workers: str = "1", threads: str = "16", ready_path: str = "/", worker_class: str = "gthread"
):
    """Serve the project with gunicorn on 127.0.0.1:`port` (`worker_class` gthread with `threads` each,
    or sync); yields the base URL. A bench Redis database (BENCH_REDIS_URL) in `env` starts empty, as after
    a restart: nothing cached from an earlier run or another target."""
    base = f"http://127.0.0.1:{port}"
    if env.get("REDIS_URL") == BENCH_REDIS_URL:
        import redis

        redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            workers,
            "-k",
            worker_class,
            *(["--threads", threads] if worker_class == "gthread" else []),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + ready_path, timeout=1)  # noqa: S310 (loopback)
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()  # graceful: workers finish requests and write their queued events
        server.wait(timeout=30)


def load(
    url: str,
    method: str = "GET",
    headers: dict | None = None,
    body: str | None = None,
    *,
    seconds: float,
    concurrency: int,
) -> dict:
    """Drive `url` for `seconds` over `concurrency` keep-alive connections from a separate process.

    `body` may contain "{n}", replaced by a number unique per request. Returns
    {"requests", "statuses", "rps", "p50_ms", "p99_ms"}.
    """
    if LOADGEN == "wrk":
        return _load_wrk(url, method, headers or {}, body, seconds, concurrency)
    config = {
        "url": url,
        "method": method,
        "headers": headers or {},
        "body": body,
        "concurrency": concurrency,
        "seconds": seconds,
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.perf.loadgen", json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


_runs = iter(range(10**6))


def _load_wrk(url: str, method: str, headers: dict, body: str | None, seconds: float, concurrency: int) -> dict:
    env = {
        **os.environ,
        "WRK_METHOD": method,
        "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        "WRK_BODY": body or "",
        "WRK_RUN": f"{os.getpid()}r{next(_runs)}",
    }
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds:.0f}s", "-s", str(ROOT / "tests/perf/wrk.lua"), url],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    ok = r["requests"] - r["non_2xx"] - r["socket_errors"]
    statuses = {"2xx": ok, **({"other": r["non_2xx"]} if r["non_2xx"] else {})}
    if r["socket_errors"]:
        statuses["socket errors"] = r["socket_errors"]
    return {
        "requests": r["requests"],
        "statuses": statuses,
        "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
        "p50_ms": round(r["p50_us"] / 1000, 2),
        "p99_ms": round(r["p99_us"] / 1000, 2),
    }
