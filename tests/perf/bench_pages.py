"""The pages people get: the demo's own pages under load, next to bare references, sync and gthread.

`make bench BENCH=pages` builds the demo exactly as `make run` does (seed_demo + seed_sampling_demo on
a fresh PostgreSQL database), serves it with gunicorn on loopback and loads, from a separate process
(wrk, or tests/perf/loadgen.py):

  bare page       GET /bench/bare/            a small page, no database     (the reference)
  one-query page  GET /bench/query/           the same after one PostgreSQL query
  session page    GET /s/<demo live session>/ with its micro-form, drops, waitlist, watch reward
  home page       GET /
  checkout page   GET /drops/<id>/checkout/   the first drop of the live session that sells
  status JSON     GET /s/<id>/status.json     what every open session page polls

each for sync workers and for gthread, in BENCH_ROUNDS interleaved rounds (a noisy neighbour slows a
page and its reference alike), and reports req/s, p50 and p99 with each page's ratio to the bare page
and to the one-query page (medians over rounds). Targets (issue #15): session page ≥ 0.8 of the bare
page, status JSON ≥ 1.0.

It refuses to run against a page that is not what the demo serves: the session page must be the
seeded live session's, carry every one of its drops and every sampling campaign's micro-form the
demo shows on it (read back from the database), and be the same bytes for two different visitors
(a page cached per visitor would measure something nobody gets). No cookies are sent by the load:
every request is a first visit, the case a spike is made of. The cache (shared page copies, the
status JSON) is Redis, as deployed: BENCH_REDIS_URL, database 13 on loopback, emptied when a server
starts.

Knobs: BENCH_PAGES_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/micromoments_bench_pages,
dropped and re-created), BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONCURRENCY (64),
BENCH_SYNC_WORKERS (5), BENCH_GTHREAD_WORKERS (2) × BENCH_THREADS (16), BENCH_LOADGEN (wrk | python).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import urllib.request
from pathlib import Path

from tests.perf.http import LOADGEN, gunicorn, load, manage, server_env

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("BENCH_PORT", "8312"))
DB_URL = os.environ.get(
    "BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/micromoments_bench_pages"
)
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
SERVERS = {
    "sync": {"worker_class": "sync", "workers": os.environ.get("BENCH_SYNC_WORKERS", "5")},
    "gthread": {
        "worker_class": "gthread",
        "workers": os.environ.get("BENCH_GTHREAD_WORKERS", "2"),
        "threads": os.environ.get("BENCH_THREADS", "16"),
    },
}
TARGETS = {"session page": 0.8, "status JSON": 1.0}


class NotTheDemoPage(SystemExit):
    """The page under load is not the one the demo serves: measuring it would mislead."""


def _env() -> dict:
    return server_env(db_url=DB_URL, port=PORT, drop=("TESTING", "DEBUG", "REDIS_URL"), redis=True)


def _manage(*args: str) -> str:
    return manage(_env(), *args)


def _fresh_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


FACTS = """
import json
from django.db import connection
from django.utils import timezone
from commerce.selectors import drop_status, drops_for_session
from sampling.selectors import campaigns_for_session
from sessions_app.models import LiveSession
session = LiveSession.objects.get(public_id="{public_id}")
now = timezone.now()
drops = list(drops_for_session(session_id=session.pk, now=now))
selling = [d.pk for d in drops if drop_status(drop=d, now=now)["state"] == "live"]
with connection.cursor() as c:
    c.execute("CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, available int NOT NULL)")
    c.execute("INSERT INTO bench_counter VALUES (1, 1000000) ON CONFLICT (id) DO NOTHING")
print(json.dumps({{"drops": [d.pk for d in drops], "selling": selling,
    "campaigns": [c.slug for c in campaigns_for_session(session=session, now=now)]}}))
"""


def _seed() -> dict:
    """Build the demo as `make run` does; returns the live session, its drops and campaigns."""
    _fresh_database()
    _manage("migrate", "--noinput")
    _manage("collectstatic", "--noinput")
    out = _manage("seed_demo")
    _manage("seed_sampling_demo")
    match = re.search(r"Live session: \S*/s/([0-9a-f-]{36})/", out)
    if not match:
        raise NotTheDemoPage(f"seed_demo printed no live session:\n{out}")
    facts = json.loads(_manage("shell", "-c", FACTS.format(public_id=match.group(1))).strip().splitlines()[-1])
    if not facts["selling"]:
        raise NotTheDemoPage("the demo's live session has no drop selling now: nothing to check out")
    return {"session": match.group(1), **facts}


def _get(url: str, cookie: str = "") -> bytes:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return response.read()


def demo_page_check(base: str, demo: dict) -> str:
    """Refuse (NotTheDemoPage) unless the session page under load is the demo's full, shared page.

    Checks: every drop of the seeded live session is on it, every campaign's micro-form the demo shows,
    and two visitors (different visitor and CSRF cookies) get byte-identical HTML. Returns the URL.
    """
    url = f"{base}/s/{demo['session']}/"
    first = _get(url, "mm_vid=" + "1" * 32 + "; csrftoken=" + "a" * 32)
    html = first.decode()
    missing = [f"drop {pk}" for pk in demo["drops"] if f'data-drop="{pk}"' not in html]
    missing += [f"micro-form {slug}" for slug in demo["campaigns"] if f'action="/samples/{slug}/"' not in html]
    if not demo["campaigns"]:
        missing.append("a sampling micro-form (the demo seeds one)")
    if missing:
        raise NotTheDemoPage(f"{url} is not the page the demo serves: missing {', '.join(missing)}")
    if _get(url, "mm_vid=" + "2" * 32) != first:
        raise NotTheDemoPage(f"{url} differs between two visitors: a per-visitor page would be measured")
    return url


def _row(name: str, runs: list[dict]) -> str:
    statuses: dict[str, int] = {}
    for run in runs:
        for code, n in run["statuses"].items():
            statuses[str(code)] = statuses.get(str(code), 0) + n
    return (
        f"{name:<15} {statistics.median(r['rps'] for r in runs):>9.1f} "
        f"{statistics.median(r['p50_ms'] for r in runs):>8.2f} {statistics.median(r['p99_ms'] for r in runs):>8.2f}"
        f"  {statuses}"
    )


def main() -> None:
    demo = _seed()
    results: dict[str, list[dict]] = {}
    for label, server in SERVERS.items():
        with gunicorn(_env(), PORT, ready_path="/bench/bare/", **server) as base:
            session_url = demo_page_check(base, demo)
            pages = {
                "bare page": base + "/bench/bare/",
                "one-query page": base + "/bench/query/",
                "session page": session_url,
                "home page": base + "/",
                "checkout page": f"{base}/drops/{demo['selling'][0]}/checkout/",
                "status JSON": f"{base}/s/{demo['session']}/status.json",
            }
            for url in pages.values():  # warm-up: caches, connections, imports
                load(url, seconds=1, concurrency=4)
            results[label] = [
                {name: load(url, seconds=SECONDS, concurrency=CONCURRENCY) for name, url in pages.items()}
                for _ in range(ROUNDS)
            ]
        _report(label, server, results[label])


def _report(label: str, server: dict, rounds: list[dict]) -> None:
    shape = f"-w {server['workers']} -k {server['worker_class']}" + (
        f" --threads {server['threads']}" if server["worker_class"] == "gthread" else ""
    )
    print(
        f"\n[{label}] gunicorn {shape}; load: {LOADGEN}, {CONCURRENCY} connections, "
        f"{ROUNDS} interleaved rounds × {SECONDS:.0f} s per page"
    )
    print(f"{'page':<15} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  (medians over rounds)  statuses (all rounds)")
    for name in rounds[0]:
        print(_row(name, [r[name] for r in rounds]))
    for name in rounds[0]:
        if name in ("bare page", "one-query page"):
            continue
        bare = statistics.median(r[name]["rps"] / r["bare page"]["rps"] for r in rounds)
        query = statistics.median(r[name]["rps"] / r["one-query page"]["rps"] for r in rounds)
        target = TARGETS.get(name)
        verdict = "" if target is None else (f"target ≥ {target:.2f} " + ("OK" if bare >= target else "BELOW TARGET"))
        print(f"ratio {name:<15} {bare:5.2f} of the bare page, {query:5.2f} of the one-query page  {verdict}")


if __name__ == "__main__":
    main()
