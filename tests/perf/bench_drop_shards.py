"""Hot drops above the one-row limit: holds/s with stock_shards N = 1 and N = 8 in the same run.

Run: `make bench BENCH=drop_shards` (or `BENCH_DATABASE_URL=postgres://… python -m tests.perf.run drop_shards`).

Two measurements, each in BENCH_ROUNDS interleaved rounds (a noisy neighbour slows a scenario and
its reference alike; every figure is the median over rounds):

1. Through the project (gunicorn on loopback, load from wrk or tests/perf/loadgen.py):
     bare UPDATE    POST /bench/update/    one conditional UPDATE on one row (the reference)
     holds N = 1    POST /api/v1/holds     on a drop with stock_shards = 1
     holds N = 8    POST /api/v1/holds     on a drop with stock_shards = 8
   ratios: each hold scenario vs bare UPDATE, and N = 8 vs N = 1.
2. PostgreSQL alone (pgbench, BENCH_PG_CLIENTS connections, no Python in the way):
     decrement 1 row / 8 rows   the bare conditional decrement on one counter row, or a random one of 8
     hold N = 1 / N = 8         the project's hold round trip (customer upsert + EXECUTE of commerce.locks'
                                hold statement, prepared once per connection as the project does), on
                                the drop's row or on a random shard row
   ratio: N = 8 vs N = 1 for each pair. Target (issue 15): holds N = 8 ≥ 1.5 × N = 1.

On a 2-core machine the HTTP figures are bound by Python (the GIL and the cores), not by the row
lock, so N = 8 can only show there with enough database work per request; the pgbench figures show
what the sharding itself buys. Zero oversell is checked on both drops at the end (held or sold +
available over all shards == quantity).

Knobs: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/micromoments_bench), BENCH_SECONDS
per scenario and round (5), BENCH_ROUNDS (3), BENCH_CONCURRENCY (32 HTTP connections), BENCH_WORKERS (1)
and BENCH_THREADS (16) of gunicorn (gthread), BENCH_PG_CLIENTS (32), BENCH_SHARDS (8).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from tests.perf.http import LOADGEN, gunicorn, load, manage, server_env

PORT = int(os.environ.get("BENCH_PORT", "8313"))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/micromoments_bench")
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
WORKERS = os.environ.get("BENCH_WORKERS", "1")
THREADS = os.environ.get("BENCH_THREADS", "16")
PG_CLIENTS = int(os.environ.get("BENCH_PG_CLIENTS", "32"))
SHARDS = int(os.environ.get("BENCH_SHARDS", "8"))
TARGET = 1.5


def _env() -> dict:
    return server_env(db_url=DB_URL, port=PORT, HOLD_RATE_LIMIT_API_KEY="0")


def _manage(*args: str) -> str:
    return manage(_env(), *args)


def _shell(code: str) -> dict:
    return json.loads(_manage("shell", "-c", "import json\n" + code).strip().splitlines()[-1])


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
from commerce.models import Partner, Sku
from commerce.services.api_keys import api_key_create
from commerce.services.catalog_import import catalog_import_file
from commerce.services.drops import drop_create
from sessions_app.models import LiveSession, SessionFormat
if not Sku.objects.filter(code="leather-anchor-gold").exists():
    catalog_import_file("commerce/data/shopify_jewelery.csv")
now = timezone.now()
session = LiveSession.objects.create(format=SessionFormat.objects.get(slug="drop-demo"), title="Bench shards",
    starts_at=now, duration_seconds=3600, status="live", stream_url="https://example.com/live.m3u8")
sku = Sku.objects.get(code="leather-anchor-gold")
ids = {}
for name, shards in (("one", 1), ("many", %(shards)d)):
    drop = drop_create(session=session, sku=sku, quantity=50_000_000, stock_shards=shards,
        opens_at=now - dt.timedelta(minutes=1), closes_at=now + dt.timedelta(hours=2), per_customer_limit=1)
    ids[name] = drop.pk
ids["key"] = api_key_create(partner=Partner.objects.get_or_create(name="bench")[0], name="bench shards",
    scopes=["holds:write"])[1]
with connection.cursor() as c:
    c.execute("CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, available int NOT NULL CHECK (available >= 0))")
    c.execute("INSERT INTO bench_counter SELECT g, 1000000000 FROM generate_series(1, 8) g "
              "ON CONFLICT (id) DO UPDATE SET available = 1000000000")
print(json.dumps(ids))
"""

CHECK = """
from django.db.models import Sum
from commerce.models import Drop, Hold
out = {{}}
for pk in ({one}, {many}):
    d = Drop.objects.with_total_available().get(pk=pk)
    held = Hold.objects.filter(drop=d, status__in=["active", "converted"]).aggregate(n=Sum("quantity"))["n"] or 0
    out[pk] = {{"quantity": d.quantity, "available": d.total_available, "held_or_sold": held}}
print(json.dumps(out))
"""


def _pg_scripts(ids: dict) -> dict[str, str]:
    """pgbench scripts: the bare decrements and the project's hold round trip as commerce.locks sends it.

    The hold statement is PREPAREd once per connection (pgbench keeps a per-client `prepared` flag,
    started at 0 by `-D prepared=0`), then every transaction is one query string: the customer upsert
    `\\;` EXECUTE of the prepared hold statement, as `locks._run_one_round_trip` does. (Planning the
    whole statement on every hold, as an unprepared script would, costs CPU the project never spends
    and hides what the shards buy once the CPU is the limit.)"""
    locks = _shell(
        "from commerce import locks\nprint(json.dumps({'hold': locks._HOLD_SQL, 'shard': locks._HOLD_SHARD_SQL, "
        "'customer': locks._CUSTOMER_LOCK_SQL, 'types': locks._HOLD_TYPES, 'shard_types': locks._HOLD_SHARD_TYPES}))"
    )
    email = "'pgb-' || :client_id || '-' || :r || '@example.com'"

    def hold(sql: str, types: str, drop: int, shard: str | None) -> str:
        values = [
            email,  # $1 email key
            str(drop),
            "now()",
            "1",  # quantity
            "md5(random()::text || clock_timestamp()::text)",  # token
            "100",
            "'USD'",
            "0::smallint",
            "NULL::bigint",  # pickup slot
            "now() + interval '10 minutes'",
            "''",  # no client cap
            "0",
            "NULL::bigint",  # partner
            *([shard] if shard else []),
        ]
        upsert = locks["customer"].replace("%(email)s", email).replace("%(email_key)s", email)
        upsert = upsert.replace("%(name)s", "''").replace("%(now)s", "now()")
        prepare = f"PREPARE mm_hold ({types}) AS " + " ".join(sql.split()) + ";"
        one_line = " ".join(f"{upsert.strip()} \\; EXECUTE mm_hold ({', '.join(values)});".split())
        return (
            "\\set r random(1, 2000000000)\n"
            f"\\set shard random(0, {SHARDS - 1})\n"
            f"\\if :prepared = 0\n{prepare}\n\\set prepared 1\n\\endif\n"
            f"{one_line}\n"
        )

    return {
        "decrement 1 row": "UPDATE bench_counter SET available = available - 1 WHERE id = 1 AND available >= 1;\n",
        f"decrement {SHARDS} rows": f"\\set k random(1, {SHARDS})\n"
        "UPDATE bench_counter SET available = available - 1 WHERE id = :k AND available >= 1;\n",
        "hold N = 1": hold(locks["hold"], locks["types"], ids["one"], None),
        f"hold N = {SHARDS}": hold(locks["shard"], locks["shard_types"], ids["many"], ":shard"),
    }


def _pgbench(script: str, workdir: Path) -> dict:
    """One pgbench run of `script`; {"rps", "p50_ms", "p99_ms", "statuses"} from its per-transaction log."""
    for old in workdir.glob("pgb*"):
        old.unlink()
    path = workdir / "script.sql"
    path.write_text(script)
    out = subprocess.run(
        ["pgbench", "-n", "-M", "simple", "-D", "prepared=0", "-c", str(PG_CLIENTS), "-j", "2", "-T", f"{SECONDS:.0f}", "-f", str(path),
         "-l", "--log-prefix", str(workdir / "pgb"), DB_URL],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    latencies = sorted(int(line.split()[2]) for log in workdir.glob("pgb*") for line in log.read_text().splitlines())
    failed = int(m.group(1)) if (m := re.search(r"number of failed transactions: (\d+)", out)) else 0
    return {
        "rps": tps,
        "p50_ms": latencies[len(latencies) // 2] / 1000 if latencies else 0.0,
        "p99_ms": latencies[int(len(latencies) * 0.99)] / 1000 if latencies else 0.0,
        "statuses": {"ok": len(latencies) - failed, **({"failed": failed} if failed else {})},
    }


def _table(title: str, names: list[str], rounds: list[dict]) -> None:
    print(title)
    print(f"  {'scenario':<20} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}  (medians over rounds)  outcomes (all rounds)")
    for name in names:
        runs = [r[name] for r in rounds]
        statuses: dict[str, int] = {}
        for run in runs:
            for code, n in run["statuses"].items():
                statuses[str(code)] = statuses.get(str(code), 0) + n
        print(
            f"  {name:<20} {statistics.median(r['rps'] for r in runs):>9.1f} "
            f"{statistics.median(r['p50_ms'] for r in runs):>8.2f} {statistics.median(r['p99_ms'] for r in runs):>8.2f}"
            f"  {statuses}"
        )


def _ratio(label: str, rounds: list[dict], name: str, reference: str, target: float | None = None) -> float:
    per_round = [r[name]["rps"] / r[reference]["rps"] for r in rounds]
    ratio = statistics.median(per_round)
    verdict = "" if target is None else (" OK" if ratio >= target else " BELOW TARGET")
    goal = "" if target is None else f", target ≥ {target:.2f}"
    print(f"  ratio {label:<34} {ratio:6.2f}  (rounds: {', '.join(f'{x:.2f}' for x in per_round)}{goal}){verdict}")
    return ratio


def main() -> None:
    if shutil.which("pgbench") is None:
        print("pgbench not installed (Debian: postgresql-client): the PostgreSQL-alone figures are skipped")
    _create_database()
    _manage("migrate", "--noinput")
    _manage("collectstatic", "--noinput")
    ids = _shell(SETUP % {"shards": SHARDS})
    base = f"http://127.0.0.1:{PORT}"
    api = {"X-API-Key": ids["key"], "Content-Type": "application/json"}
    many = f"holds N = {SHARDS}"

    def holds(drop: int):
        body = json.dumps({"drop_id": drop, "email": "buyer{n}@example.com", "quantity": 1})
        return lambda: load(base + "/api/v1/holds", "POST", api, body, seconds=SECONDS, concurrency=CONCURRENCY)

    http = {
        "bare UPDATE": lambda: load(
            base + "/bench/update/", "POST", {"Content-Type": "application/json"}, "{}", seconds=SECONDS,
            concurrency=CONCURRENCY,
        ),
        "holds N = 1": holds(ids["one"]),
        many: holds(ids["many"]),
    }  # fmt: skip
    with gunicorn(_env(), PORT, workers=WORKERS, threads=THREADS, ready_path="/bench/bare/"):
        load(base + "/bench/bare/", seconds=2, concurrency=CONCURRENCY)  # warm-up
        http_rounds = [{name: run() for name, run in http.items()} for _ in range(ROUNDS)]
    pg_rounds: list[dict] = []
    if shutil.which("pgbench"):
        scripts = _pg_scripts(ids)
        with tempfile.TemporaryDirectory() as tmp:
            pg_rounds = [{name: _pgbench(s, Path(tmp)) for name, s in scripts.items()} for _ in range(ROUNDS)]
    check = _shell(CHECK.format(**ids))

    print(
        f"stock_shards N = 1 vs N = {SHARDS}; {ROUNDS} interleaved rounds × {SECONDS:.0f} s per scenario; "
        f"{os.cpu_count()} CPU(s)"
    )
    _table(
        f"through the project: gunicorn -w {WORKERS} -k gthread --threads {THREADS}; load: {LOADGEN}, "
        f"{CONCURRENCY} connections",
        list(http),
        http_rounds,
    )
    _ratio("holds N = 1 vs bare UPDATE", http_rounds, "holds N = 1", "bare UPDATE")
    _ratio(f"holds N = {SHARDS} vs bare UPDATE", http_rounds, many, "bare UPDATE")
    _ratio(f"holds N = {SHARDS} vs N = 1 (HTTP)", http_rounds, many, "holds N = 1", TARGET)
    if pg_rounds:
        names = list(pg_rounds[0])
        _table(f"PostgreSQL alone: pgbench -c {PG_CLIENTS} -j 2 -M simple (one round trip per hold)", names, pg_rounds)
        _ratio(f"decrement {SHARDS} rows vs 1 row", pg_rounds, names[1], names[0])
        _ratio(f"hold N = {SHARDS} vs N = 1 (PostgreSQL)", pg_rounds, names[3], names[2], TARGET)
        _ratio("hold N = 1 vs decrement 1 row", pg_rounds, names[2], names[0])
    for pk, c in check.items():
        oversold = c["held_or_sold"] + c["available"] != c["quantity"]
        print(
            f"stock of drop {pk}: quantity {c['quantity']}, held or sold {c['held_or_sold']}, available "
            f"{c['available']} (all shards) → {'OVERSOLD' if oversold else 'zero oversell'}"
        )


if __name__ == "__main__":
    main()
