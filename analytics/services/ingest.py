"""Batch ingestion: move acknowledged events from the buffer into the raw `Event` table.

`events_flush` claims the oldest buffer rows (on PostgreSQL: DELETE … RETURNING under a transaction
advisory lock, so flushes started by several workers run one after the other and never move an
event twice, while appends go on), then in the same
transaction: resolves each event's actor, writes the raw events, records the (session, actor)
pairs and customers whose roll-ups must be recomputed, records purchases, and merges newly
identified visitors into their customer. On PostgreSQL all of it but the merge is one set-based
statement (no row passes through Python); elsewhere the same steps run in Python. Either all of
it commits or the rows stay in the buffer: nothing acknowledged is lost or written twice.
Roll-ups are then updated by `rollups_update` (queued after commit, and scheduled every minute).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.db import connection, transaction
from django.utils import timezone

from ..models import BufferedEvent, Event, PendingActor, PendingCustomer, Purchase, VisitorAlias

log = logging.getLogger(__name__)

EVENT_COLUMNS = (
    "seq",
    "name",
    "occurred_at",
    "received_at",
    "visitor_id",
    "customer_id",
    "actor",
    "session_id",
    "drop_id",
    "sku_id",
    "order_id",
    "amount_minor",
    "currency",
    "props",
)


def actor_key(*, customer_id: int | None, visitor_id: str, aliases: dict[str, int], seq: int) -> str:
    """The person an event counts for: `c:<customer>` (given, or the visitor's alias), else `v:<visitor>`."""
    if customer_id:
        return f"c:{customer_id}"
    if visitor_id:
        alias = aliases.get(visitor_id)
        return f"c:{alias}" if alias else f"v:{visitor_id}"
    return f"x:{seq}"  # no identity at all: counts as a person of its own


def _claim_python(batch_size: int) -> list[dict]:
    """Claim and delete the oldest buffer rows (SQLite path): dicts of BufferedEvent fields."""
    rows = list(BufferedEvent.objects.order_by("id").values()[:batch_size])
    if rows:
        BufferedEvent.objects.filter(id__in=[r["id"] for r in rows]).delete()
    return rows


def _identify(pairs: dict[str, int], now: dt.datetime, pending: set[tuple[int, str]]) -> dict[str, int]:
    """Create aliases for newly identified visitors and move their earlier events to the customer.

    `pairs` maps visitor id → customer id seen together in this batch. A visitor keeps the
    first customer it was identified as. Returns the alias map for every visitor in `pairs`.
    """
    existing = dict(VisitorAlias.objects.filter(visitor_id__in=list(pairs)).values_list("visitor_id", "customer_id"))
    fresh = {v: c for v, c in pairs.items() if v not in existing}
    if fresh:
        VisitorAlias.objects.bulk_create(
            [VisitorAlias(visitor_id=v, customer_id=c, identified_at=now) for v, c in fresh.items()],
            ignore_conflicts=True,
        )
        existing = dict(
            VisitorAlias.objects.filter(visitor_id__in=list(pairs)).values_list("visitor_id", "customer_id")
        )
        for visitor in fresh:
            customer = existing[visitor]
            old_actor, new_actor = f"v:{visitor}", f"c:{customer}"
            moved = Event.objects.filter(visitor_id=visitor, actor=old_actor)
            sessions = set(moved.exclude(session_id=None).values_list("session_id", flat=True).distinct())
            moved.update(actor=new_actor)
            for session_id in sessions:
                pending.add((session_id, old_actor))
                pending.add((session_id, new_actor))
    return existing


def events_flush(*, batch_size: int = 20000, now: dt.datetime | None = None) -> int:
    """Move up to `batch_size` buffered events into `Event`; returns how many moved.

    One transaction per call (see the module docstring). On PostgreSQL the move is set-based
    SQL (no row goes through Python); elsewhere the same steps run in Python.
    """
    now = now or timezone.now()
    with transaction.atomic():
        moved = (
            _flush_postgresql(batch_size, now) if connection.vendor == "postgresql" else _flush_python(batch_size, now)
        )
        if moved:
            transaction.on_commit(_queue_rollups)
    return moved


FLUSH_LOCK = 61  # advisory lock class of the flush (customer stats use class 6)


def _flush_postgresql(batch_size: int, now: dt.datetime) -> int:
    """One set-based statement: claim and delete buffer rows, insert the events with their actor,
    record pending (session, actor) pairs, purchases and pending customers; then identify."""
    buffer, event = BufferedEvent._meta.db_table, Event._meta.db_table
    pending_actor, pending_customer = PendingActor._meta.db_table, PendingCustomer._meta.db_table
    purchase, alias = Purchase._meta.db_table, VisitorAlias._meta.db_table
    # the actor: the event's customer, else the visitor's existing alias, else the customer the
    # visitor is identified as in this very batch, else the visitor
    actor = (
        "CASE WHEN b.customer_id IS NOT NULL THEN 'c:' || b.customer_id "
        "WHEN a.customer_id IS NOT NULL THEN 'c:' || a.customer_id "
        "WHEN p.customer_id IS NOT NULL THEN 'c:' || p.customer_id "
        "WHEN b.visitor_id <> '' THEN 'v:' || b.visitor_id ELSE 'x:' || b.id END"
    )
    sql = (
        # the oldest rows as one id range [min, min + batch_size): min(id) is read off the primary
        # key and the range is an index range scan, whatever the table's size or statistics
        f"WITH claimed AS (DELETE FROM {buffer} WHERE id >= (SELECT min(id) FROM {buffer}) "  # noqa: S608
        f"AND id < (SELECT min(id) FROM {buffer}) + %s RETURNING *), "
        "pairs AS (SELECT DISTINCT ON (visitor_id) visitor_id, customer_id FROM claimed "
        "WHERE visitor_id <> '' AND customer_id IS NOT NULL ORDER BY visitor_id, id), "
        f"ins AS (INSERT INTO {event} ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT b.id, b.name, b.occurred_at, b.received_at, b.visitor_id, b.customer_id, {actor}, "
        "b.session_id, b.drop_id, b.sku_id, b.order_id, b.amount_minor, b.currency, b.props "
        f"FROM claimed b LEFT JOIN {alias} a ON b.visitor_id <> '' AND a.visitor_id = b.visitor_id "
        "LEFT JOIN pairs p ON b.visitor_id <> '' AND p.visitor_id = b.visitor_id "
        "RETURNING name, occurred_at, actor, session_id, order_id, amount_minor, currency, props), "
        f"pa AS (INSERT INTO {pending_actor} (session_id, actor) "
        "SELECT DISTINCT session_id, actor FROM ins WHERE session_id IS NOT NULL), "
        f"pu AS (INSERT INTO {purchase} (customer_key, occurred_at, day, amount_minor, currency, quantity, "
        "session_id, order_id, source) "
        "SELECT actor, occurred_at, (occurred_at AT TIME ZONE 'UTC')::date, amount_minor, currency, "
        "CASE WHEN jsonb_typeof(props->'quantity') = 'number' THEN (props->>'quantity')::int ELSE 1 END, "
        "session_id, order_id, 'live' FROM ins "
        "WHERE name = 'purchase' AND amount_minor IS NOT NULL AND currency <> '' "
        "ON CONFLICT DO NOTHING RETURNING customer_key), "
        f"pc AS (INSERT INTO {pending_customer} (customer_key) SELECT DISTINCT customer_key FROM pu) "
        "SELECT (SELECT count(*) FROM ins), (SELECT array_agg(visitor_id) FROM pairs), "
        "(SELECT array_agg(customer_id) FROM pairs)"
    )
    with connection.cursor() as cursor:
        # one flush at a time (held to commit): its DELETE then needs no row locks taken up
        # front, which would write every claimed row twice; appends are never blocked by it
        cursor.execute("SELECT pg_advisory_xact_lock(%s, 1)", [FLUSH_LOCK])
        cursor.execute(sql, [batch_size])
        moved, visitors, customers = cursor.fetchone()
    if visitors:
        pending: set[tuple[int, str]] = set()
        _identify(dict(zip(visitors, customers, strict=True)), now, pending)
        if pending:
            PendingActor.objects.bulk_create([PendingActor(session_id=s, actor=a) for s, a in pending])
    return moved


def _flush_python(batch_size: int, now: dt.datetime) -> int:
    events = _claim_python(batch_size)
    if not events:
        return 0
    pending: set[tuple[int, str]] = set()
    identified: dict[str, int] = {}
    for e in events:
        if e["visitor_id"] and e["customer_id"]:
            identified.setdefault(e["visitor_id"], e["customer_id"])
    aliases = _identify(identified, now, pending) if identified else {}
    anonymous = {e["visitor_id"] for e in events if e["visitor_id"] and not e["customer_id"]} - set(aliases)
    if anonymous:
        aliases.update(
            VisitorAlias.objects.filter(visitor_id__in=list(anonymous)).values_list("visitor_id", "customer_id")
        )
    rows, purchases = [], []
    for e in events:
        actor = actor_key(customer_id=e["customer_id"], visitor_id=e["visitor_id"], aliases=aliases, seq=e["id"])
        rows.append(
            (
                e["id"],
                e["name"],
                e["occurred_at"],
                e["received_at"],
                e["visitor_id"],
                e["customer_id"],
                actor,
                e["session_id"],
                e["drop_id"],
                e["sku_id"],
                e["order_id"],
                e["amount_minor"],
                e["currency"],
                e["props"] or {},
            )
        )
        if e["session_id"]:
            pending.add((e["session_id"], actor))
        if e["name"] == "purchase" and e["amount_minor"] is not None and e["currency"]:
            quantity = (e["props"] or {}).get("quantity")
            purchases.append(
                Purchase(
                    customer_key=actor,
                    occurred_at=e["occurred_at"],
                    day=e["occurred_at"].astimezone(dt.UTC).date(),
                    amount_minor=e["amount_minor"],
                    currency=e["currency"],
                    quantity=quantity if type(quantity) is int else 1,
                    session_id=e["session_id"],
                    order_id=e["order_id"],
                    source="live",
                )
            )
    _write_events(rows)
    if pending:
        PendingActor.objects.bulk_create([PendingActor(session_id=s, actor=a) for s, a in pending], batch_size=5000)
    if purchases:
        inserted = Purchase.objects.filter(order_id__in=[p.order_id for p in purchases if p.order_id])
        known = set(inserted.values_list("order_id", flat=True))
        fresh = [p for p in purchases if p.order_id is None or p.order_id not in known]
        Purchase.objects.bulk_create(fresh, ignore_conflicts=True)
        if fresh:
            PendingCustomer.objects.bulk_create(
                [PendingCustomer(customer_key=k) for k in {p.customer_key for p in fresh}]
            )
    return len(rows)


def _write_events(rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        table = Event._meta.db_table
        sql = f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row((*row[:-1], json.dumps(row[-1])))
        return
    Event.objects.bulk_create([Event(**dict(zip(EVENT_COLUMNS, row, strict=True))) for row in rows], batch_size=2000)


def _queue_rollups() -> None:
    from django_q.tasks import async_task

    try:
        async_task("analytics.tasks.rollups_update", task_name="analytics rollups", group="analytics")
    except Exception:  # the schedule runs rollups_update every minute anyway
        log.exception("analytics: could not queue rollups_update")
