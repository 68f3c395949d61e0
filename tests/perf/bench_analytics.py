"""`make bench BENCH=analytics`: ingestion rates vs raw COPY, and the KPI stack of a 1M-event session.

Runs on PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/mm_bench_analytics;
the database is created if missing and migrated). Every figure is reported beside its reference
measured in the same run:

1. raw COPY: psycopg `COPY analytics_event FROM STDIN` of N prepared rows (the reference rate);
2. batch path: `events_flush_all`, the django-q2 task's work (acknowledged buffer rows → raw
   events with actors, pending roll-ups and purchases, in batches of 50,000), as a ratio of the
   raw COPY rate (target ≥ 50 %); also reported: the acknowledge stage before it
   (`events_capture_many`: validate + COPY into the durable buffer) and both stages end to end;
3. endpoint: POST /a/e (beacon, 20 events per request) under gunicorn on loopback with wrk (or the
   Python load generator) in its own process, as acknowledged events/s (a 202 means committed; the
   buffer is counted to prove it), as a ratio of the raw COPY rate;
4. rollups: `rollups_update` over the 1M events (the incremental task catching up from zero);
5. the session's whole KPI stack from rollups (`session_kpis`, median of 25 runs, target
   < 200 ms) vs the same funnel computed from the raw events (`session_funnel_from_events`),
   asserting both give the same figures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import sys
import time

N_EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
ENDPOINT_SECONDS = float(os.environ.get("BENCH_ENDPOINT_SECONDS", "8"))
ENDPOINT_PORT = int(os.environ.get("BENCH_PORT", "8312"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mm_bench_analytics"


def setup_django() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TESTING", "1")
    os.environ["DEBUG"] = "0"  # no query log: measure what production runs
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    import psycopg
    from dj_database_url import parse

    cfg = parse(url)
    admin = psycopg.connect(
        host=cfg["HOST"],
        port=cfg["PORT"] or 5432,
        user=cfg["USER"],
        password=cfg["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
        admin.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    admin.close()
    import django

    django.setup()
    from django.core.management import call_command
    from django_q.conf import Conf

    # make bench sets TESTING=1, which runs django-q2 tasks inline; production enqueues them, so does the bench
    Conf.SYNC = False

    call_command("migrate", verbosity=0)


def make_events(session_id: int, drops: list[int], start: dt.datetime, n: int, seed: int = 6) -> list[dict]:
    """~n realistic funnel events for one session: views, then fewer clicks, carts, checkouts, purchases."""
    rng = random.Random(seed)
    events: list[dict] = []
    visitor = 0
    while len(events) < n:
        visitor += 1
        vid = f"{visitor:032x}"
        t = rng.randint(0, 600)
        drop = rng.choice(drops)
        for _ in range(rng.randint(1, 4)):
            events.append(
                {
                    "name": "view",
                    "visitor_id": vid,
                    "session_id": session_id,
                    "occurred_at": start + dt.timedelta(seconds=t),
                }
            )
            t += rng.randint(1, 30)
        for step, p in (("click", 0.35), ("cart", 0.5), ("checkout", 0.7), ("purchase", 0.8)):
            if rng.random() > p:
                break
            event = {
                "name": step,
                "visitor_id": vid,
                "session_id": session_id,
                "drop_id": drop,
                "occurred_at": start + dt.timedelta(seconds=t),
            }
            if step == "purchase":
                event.update(amount_minor=rng.choice([1900, 2900, 4299]), currency="USD", order_id=visitor)
            events.append(event)
            t += rng.randint(1, 30)
        if rng.random() < 0.1:
            events.append(
                {
                    "name": "share",
                    "visitor_id": vid,
                    "session_id": session_id,
                    "occurred_at": start + dt.timedelta(seconds=t),
                }
            )
    return events[:n]


def truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE analytics_event, analytics_bufferedevent, analytics_pendingactor, analytics_pendingcustomer, "
            "analytics_funnelactor, analytics_funnelrollup, analytics_purchase, analytics_customerstats, "
            "analytics_visitoralias RESTART IDENTITY"
        )


def raw_copy(events: list[dict]) -> float:
    """Seconds to COPY the events, already shaped as rows, straight into analytics_event."""
    from django.db import connection, transaction

    from analytics.services.ingest import EVENT_COLUMNS

    now = dt.datetime.now(dt.UTC)
    rows = [
        (
            i + 1,
            e["name"],
            e["occurred_at"],
            now,
            e["visitor_id"],
            None,
            f"v:{e['visitor_id']}",
            e["session_id"],
            e.get("drop_id"),
            None,
            e.get("order_id"),
            e.get("amount_minor"),
            e.get("currency", ""),
            "{}",
        )
        for i, e in enumerate(events)
    ]
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        sql = f"COPY analytics_event ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    return time.perf_counter() - started


def main() -> None:
    setup_django()
    from django.db import connection
    from django.utils import timezone

    from analytics import selectors, services
    from analytics.models import Event
    from sessions_app.models import LiveSession, SessionFormat

    if connection.vendor != "postgresql":
        print("bench_analytics needs PostgreSQL (BENCH_DATABASE_URL)", file=sys.stderr)
        return
    truncate()
    fmt, _ = SessionFormat.objects.get_or_create(
        slug="bench", defaults={"name": "Bench", "kind": "highlight", "duration_seconds": 600}
    )
    start = timezone.now() - dt.timedelta(minutes=15)
    session = LiveSession.objects.create(format=fmt, title="Bench 1M", starts_at=start, duration_seconds=600)
    events = make_events(session.pk, [101, 102, 103], start, N_EVENTS)
    print(f"session {session.pk}: {len(events):,} events, {len({e['visitor_id'] for e in events}):,} visitors")

    # 1. reference: raw psycopg COPY of the same rows
    copy_s = raw_copy(events)
    copy_rate = len(events) / copy_s
    print(f"raw COPY into analytics_event:          {copy_rate:>10,.0f} events/s  ({copy_s:.2f} s)")
    truncate()

    # 2. batch path: acknowledge into the durable buffer, then flush into raw events
    started = time.perf_counter()
    for i in range(0, len(events), 10000):
        services.events_capture_many(events[i : i + 10000])
    ack_s = time.perf_counter() - started
    started = time.perf_counter()
    moved = services.events_flush_all(batch_size=50000)
    flush_s = time.perf_counter() - started
    assert moved == len(events) == Event.objects.filter(session_id=session.pk).count()
    flush_rate, ack_rate, both_rate = len(events) / flush_s, len(events) / ack_s, len(events) / (ack_s + flush_s)
    print(
        f"batch path (events_flush: buffer → raw): {flush_rate:>10,.0f} events/s  = {flush_rate / copy_rate:.0%} of COPY (target ≥ 50 %)\n"
        f"  acknowledge (events_capture_many):     {ack_rate:>10,.0f} events/s  = {ack_rate / copy_rate:.0%} of COPY\n"
        f"  end to end (acknowledge + flush):      {both_rate:>10,.0f} events/s  = {both_rate / copy_rate:.0%} of COPY"
    )

    # 4. rollups from zero over the 1M events (the incremental task catching up)
    started = time.perf_counter()
    done = services.rollups_update()
    rollup_s = time.perf_counter() - started
    print(
        f"rollups_update over {len(events):,} events:  {rollup_s:.2f} s ({done['actors']:,} actors, {len(events) / rollup_s:,.0f} events/s)"
    )

    # 5. the KPI stack from rollups vs the same figures from raw events
    times = []
    for _ in range(25):
        t0 = time.perf_counter()
        kpis = selectors.session_kpis(session_id=session.pk)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    raw = selectors.session_funnel_from_events(session_id=session.pk)
    raw_s = time.perf_counter() - t0
    assert kpis["visitors"] == raw["visitors"], (kpis["visitors"], raw["visitors"])
    assert (kpis["orders"], kpis["revenue_minor"]) == (raw["orders"], raw["revenue_minor"])
    median_ms = statistics.median(times) * 1000
    verdict = "OK" if median_ms < 200 else "OVER TARGET"
    print(
        f"KPI stack from rollups:                 {median_ms:>10.1f} ms median, {max(times) * 1000:.1f} ms max ({verdict}: < 200 ms)"
        f"\nsame funnel from raw events:            {raw_s * 1000:>10.1f} ms  ({raw_s * 1000 / median_ms:,.0f}× slower)"
    )
    print(
        f"  visitors {kpis['visitors']}  V2C {kpis['v2c']:.4f}  C2C {kpis['c2c']:.4f}  C2P {kpis['c2p']:.4f}  orders {kpis['orders']:,}  revenue {kpis['revenue_minor']:,} {kpis['currency']}"
    )

    # 3. the real endpoint (beacon) under gunicorn on loopback, load from wrk in its own process;
    # a 202 means the request's 20 events are committed, so the buffer must hold exactly that many
    from analytics.models import BufferedEvent
    from tests.perf.http import LOADGEN, gunicorn, load

    sample = [
        {"name": e["name"], "session_id": e["session_id"], **({"drop_id": e["drop_id"]} if e.get("drop_id") else {})}
        for e in events[:1000]
        if e["name"] in ("view", "click", "share")
    ][:20]
    body = json.dumps({"events": sample})
    env = {k: v for k, v in os.environ.items() if k not in {"TESTING", "DEBUG"}}
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        DEBUG="0",
        SECRET_KEY="bench-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        DB_CONN_MAX_AGE="600",
    )
    before = BufferedEvent.objects.count()
    with gunicorn(env, ENDPOINT_PORT, ready_path="/") as base:
        result = load(
            base + "/a/e",
            "POST",
            {"Content-Type": "application/json"},
            body,
            seconds=ENDPOINT_SECONDS,
            concurrency=CLIENTS,
        )
    acknowledged = BufferedEvent.objects.count() - before
    accepted = result["statuses"].get("2xx", result["statuses"].get("202", 0)) * len(sample)
    # every acknowledged event is there; requests still in flight when the load stopped may add theirs
    assert accepted <= acknowledged <= accepted + CLIENTS * len(sample), (acknowledged, accepted)
    endpoint_rate = result["rps"] * len(sample)
    print(
        f"endpoint POST /a/e under gunicorn ({len(sample)} events/request, {LOADGEN}, {CLIENTS} connections):"
        f" {endpoint_rate:>8,.0f} events/s = {endpoint_rate / copy_rate:.0%} of COPY"
        f" (p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; {accepted:,} acknowledged events, all in the buffer)"
    )
    truncate()


if __name__ == "__main__":
    main()
