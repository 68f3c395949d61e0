"""Batch ingestion: move acknowledged events from the buffer into the raw `Event` table.

`events_flush` claims the oldest buffer rows (DELETE … RETURNING over SELECT … FOR UPDATE
SKIP LOCKED on PostgreSQL, so several workers flush in parallel without double-moving), then in
the same transaction: resolves each event's actor, merges newly identified visitors into their
customer, writes the raw events (COPY on PostgreSQL, bulk INSERT elsewhere), records the
(session, actor) pairs and customers whose rollups must be recomputed, and records purchases.
Either all of that commits or the rows stay in the buffer: nothing acknowledged is lost or
written twice. Rollups are then updated by `rollups_update` (queued after commit).
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


def _claim(batch_size: int) -> list[tuple[int, str]]:
    table = BufferedEvent._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN ("  # noqa: S608 - our own table name
                f"SELECT id FROM {table} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id, payload",
                [batch_size],
            )
            return sorted(cursor.fetchall())
    rows = list(BufferedEvent.objects.order_by("id").values_list("id", "payload")[:batch_size])
    if rows:
        BufferedEvent.objects.filter(id__in=[r[0] for r in rows]).delete()
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


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def events_flush(*, batch_size: int = 20000, now: dt.datetime | None = None) -> int:
    """Move up to `batch_size` buffered events into `Event`; returns how many moved.

    One transaction per call (see the module docstring). Malformed buffer rows (which
    event_clean never produces) are logged and dropped rather than blocking the queue.
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = _claim(batch_size)
        if not claimed:
            return 0
        events: list[dict] = []
        for seq, payload in claimed:
            try:
                data = json.loads(payload)
                data["seq"] = seq
                data["t"] = _parse_time(data["t"])
                data["r"] = _parse_time(data["r"])
                events.append(data)
            except (ValueError, KeyError, TypeError):
                log.error("analytics: dropping malformed buffered event %s", seq)
        pending: set[tuple[int, str]] = set()
        identified = {e["v"]: e["c"] for e in events if e.get("v") and e.get("c")}
        aliases = _identify(identified, now, pending) if identified else {}
        anonymous = {e["v"] for e in events if e.get("v") and not e.get("c")} - set(aliases)
        if anonymous:
            aliases.update(
                VisitorAlias.objects.filter(visitor_id__in=list(anonymous)).values_list("visitor_id", "customer_id")
            )
        rows = []
        purchases = []
        for e in events:
            actor = actor_key(customer_id=e.get("c"), visitor_id=e.get("v") or "", aliases=aliases, seq=e["seq"])
            rows.append(
                (
                    e["seq"],
                    e["name"],
                    e["t"],
                    e["r"],
                    e.get("v") or "",
                    e.get("c"),
                    actor,
                    e.get("s"),
                    e.get("d"),
                    e.get("k"),
                    e.get("o"),
                    e.get("a"),
                    e.get("cur") or "",
                    e.get("p") or {},
                )
            )
            if e.get("s"):
                pending.add((e["s"], actor))
            if e["name"] == "purchase" and e.get("a") is not None and e.get("cur"):
                purchases.append(
                    Purchase(
                        customer_key=actor,
                        occurred_at=e["t"],
                        day=e["t"].astimezone(dt.UTC).date(),
                        amount_minor=e["a"],
                        currency=e["cur"],
                        quantity=int((e.get("p") or {}).get("quantity", 1) or 1),
                        session_id=e.get("s"),
                        order_id=e.get("o"),
                        source="live",
                    )
                )
        _write_events(rows)
        if pending:
            PendingActor.objects.bulk_create([PendingActor(session_id=s, actor=a) for s, a in pending], batch_size=5000)
        if purchases:
            Purchase.objects.bulk_create(purchases, ignore_conflicts=True)
            PendingCustomer.objects.bulk_create(
                [PendingCustomer(customer_key=k) for k in {p.customer_key for p in purchases}]
            )
        transaction.on_commit(_queue_rollups)
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
