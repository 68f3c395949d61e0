"""Drop spike on PostgreSQL under gunicorn on loopback, load from a separate process.

Figures (each as a ratio to a reference served by the same gunicorn in the same run):
  session page  GET /s/<id>/                 vs bare page GET /bench/bare/      target ≥ 0.60
  live status   GET /s/<id>/status.json      vs bare page                       target ≥ 0.90
  place holds   POST /api/v1/holds           vs bare UPDATE POST /bench/update/ target ≥ 0.50
and zero oversell at the end (units held or sold + available == quantity).

The load comes from wrk (Debian's `wrk`, a C load generator that leaves the CPU to the server;
`make bench` installs it where it can) or, without it, from tests/perf/loadgen.py, each in its own
process. The five scenarios run in BENCH_ROUNDS interleaved rounds (bare, page, status, UPDATE,
holds, then again), so a noisy neighbour slows a scenario and its reference alike; each ratio is
the median of its per-round ratios, and the req/s shown are medians too.

Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/micromoments_bench),
created if missing. Knobs: BENCH_SECONDS per scenario and round (5), BENCH_ROUNDS (3),
BENCH_CONCURRENCY (32), BENCH_WORKERS (1), BENCH_THREADS (16), BENCH_LOADGEN (wrk | python),
BENCH_HOLD_RATE_LIMIT_API_KEY (0 = the bench key's hold rate limit off; docs/abuse-limits.md).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from tests.perf.http import LOADGEN, gunicorn, load, manage, server_env

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("BENCH_PORT", "8311"))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/micromoments_bench")
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
# One gthread worker by default: a keep-alive connection stays with the worker that accepted it,
# and wrk opens all its connections at once, so with two workers one of them often took nearly all
# of them and the same scenario's rate swung threefold from run to run (seen here).
WORKERS = os.environ.get("BENCH_WORKERS", "1")
THREADS = os.environ.get("BENCH_THREADS", "16")


def _load(url: str, method: str = "GET", headers: dict | None = None, body: str | None = None) -> dict:
    return load(url, method, headers, body, seconds=SECONDS, concurrency=CONCURRENCY)


def _env() -> dict:
    # One bench key places every hold; a real partner at this rate gets its per-key limit raised.
    # BENCH_HOLD_RATE_LIMIT_API_KEY=1000000000 measures the counter's cost (use REDIS_URL for Redis).
    return server_env(
        db_url=DB_URL, port=PORT, HOLD_RATE_LIMIT_API_KEY=os.environ.get("BENCH_HOLD_RATE_LIMIT_API_KEY", "0")
    )


def _manage(*args: str) -> str:
    return manage(_env(), *args)


def _create_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


SETUP = """
import datetime as dt
from django.db import connection
from django.utils import timezone
from commerce.models import Partner, Sku, Drop, Hold
from commerce.services.api_keys import api_key_create
from commerce.services.drops import drop_create
from sessions_app.models import LiveSession, SessionFormat
from commerce.services.catalog_import import catalog_import_file
catalog_import_file("commerce/data/shopify_jewelery.csv")
now = timezone.now()
session = LiveSession.objects.create(format=SessionFormat.objects.get(slug="drop-demo"), title="Bench spike",
    starts_at=now, duration_seconds=900, status="live", stream_url="https://example.com/live.m3u8")
drop = drop_create(session=session, sku=Sku.objects.get(code="leather-anchor-gold"), quantity=1_000_000,
    opens_at=now - dt.timedelta(minutes=1), closes_at=now + dt.timedelta(hours=2), per_customer_limit=1)
key = api_key_create(partner=Partner.objects.get_or_create(name="bench")[0], name="bench", scopes=["holds:write"])[1]
with connection.cursor() as c:
    c.execute("CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, available int NOT NULL CHECK (available >= 0))")
    c.execute("INSERT INTO bench_counter VALUES (1, 1000000000) ON CONFLICT (id) DO UPDATE SET available = 1000000000")
print(json.dumps({"session": str(session.public_id), "drop": drop.pk, "key": key}))
"""

CHECK = """
from django.db.models import Sum
from commerce.models import Drop, Hold
d = Drop.objects.get(pk={drop})
held = Hold.objects.filter(drop=d, status__in=["active", "converted"]).aggregate(n=Sum("quantity"))["n"] or 0
print(json.dumps({{"quantity": d.quantity, "available": d.available, "held_or_sold": held}}))
"""


def main() -> None:
    _create_database()
    _manage("migrate", "--noinput")
    _manage("collectstatic", "--noinput")
    ids = json.loads(_manage("shell", "-c", "import json\n" + SETUP).strip().splitlines()[-1])
    base = f"http://127.0.0.1:{PORT}"
    with gunicorn(_env(), PORT, workers=WORKERS, threads=THREADS, ready_path="/bench/bare/"):
        _load(base + "/bench/bare/")  # warm-up
        api = {"X-API-Key": ids["key"], "Content-Type": "application/json"}
        hold_body = json.dumps({"drop_id": ids["drop"], "email": "buyer{n}@example.com", "quantity": 1})
        scenarios = {
            "bare page": lambda: _load(base + "/bench/bare/"),
            "session page": lambda: _load(base + f"/s/{ids['session']}/"),
            "live status": lambda: _load(base + f"/s/{ids['session']}/status.json"),
            "bare UPDATE": lambda: _load(base + "/bench/update/", "POST", {"Content-Type": "application/json"}, "{}"),
            "place holds": lambda: _load(base + "/api/v1/holds", "POST", api, hold_body),
        }
        rounds = [{name: run() for name, run in scenarios.items()} for _ in range(ROUNDS)]
    check = json.loads(
        _manage("shell", "-c", "import json\n" + CHECK.format(drop=ids["drop"])).strip().splitlines()[-1]
    )
    targets = {
        "session page": ("bare page", 0.60),
        "live status": ("bare page", 0.90),
        "place holds": ("bare UPDATE", 0.50),
    }
    print(
        f"gunicorn -w {WORKERS} -k gthread --threads {THREADS}; load: {LOADGEN}, {CONCURRENCY} connections, "
        f"{ROUNDS} interleaved rounds × {SECONDS:.0f} s per scenario"
    )
    print(f"{'scenario':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  (medians over rounds)  statuses (all rounds)")
    for name in scenarios:
        runs = [r[name] for r in rounds]
        statuses: dict[str, int] = {}
        for run in runs:
            for code, n in run["statuses"].items():
                statuses[str(code)] = statuses.get(str(code), 0) + n
        print(
            f"{name:<14} {statistics.median(r['rps'] for r in runs):>9.1f} "
            f"{statistics.median(r['p50_ms'] for r in runs):>8.2f} {statistics.median(r['p99_ms'] for r in runs):>8.2f}"
            f"  {statuses}"
        )
    for name, (reference, target) in targets.items():
        per_round = [r[name]["rps"] / r[reference]["rps"] for r in rounds]
        ratio = statistics.median(per_round)
        print(
            f"ratio {name:<14} {ratio:6.2f}  (rounds: {', '.join(f'{x:.2f}' for x in per_round)}; "
            f"vs {reference}, target ≥ {target:.2f}) {'OK' if ratio >= target else 'BELOW TARGET'}"
        )
    oversold = check["held_or_sold"] + check["available"] != check["quantity"]
    print(
        f"stock: quantity {check['quantity']}, held or sold {check['held_or_sold']}, available {check['available']}"
        f" → {'OVERSOLD' if oversold else 'zero oversell'}"
    )


if __name__ == "__main__":
    main()
