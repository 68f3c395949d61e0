"""Analytics services: the only code that writes analytics state.

Other apps call exactly one of them: `event_capture` (or `event_capture_request` from a view).
"""

from __future__ import annotations

import datetime as dt

from .capture import event_capture, event_capture_request, events_capture_many, is_bot
from .funnel import funnel_rebuild, pending_actors_process
from .ingest import events_flush
from .purchases import customer_stats_recompute, pending_customers_process, transactions_import

__all__ = [
    "analytics_rebuild",
    "customer_stats_recompute",
    "event_capture",
    "event_capture_request",
    "events_capture_many",
    "events_flush",
    "events_flush_all",
    "funnel_rebuild",
    "is_bot",
    "rollups_update",
    "transactions_import",
]


def events_flush_all(*, batch_size: int = 20000, now: dt.datetime | None = None) -> int:
    """Flush the buffer until it is empty (or other workers hold the rest). Returns events moved."""
    total = 0
    while moved := events_flush(batch_size=batch_size, now=now):
        total += moved
    return total


def rollups_update(*, now: dt.datetime | None = None) -> dict:
    """Bring funnel rollups and customer stats up to date with the raw events and purchases.

    Returns {"actors": n, "customers": n} recomputed.
    """
    return {"actors": pending_actors_process(now=now, limit=10**9), "customers": pending_customers_process(limit=10**9)}


def analytics_rebuild(*, now: dt.datetime | None = None) -> dict:
    """Rebuild every rollup and customer stat from raw events and purchases (after a fix or restore)."""
    from ..models import Purchase

    actors = funnel_rebuild(now=now)
    keys = list(Purchase.objects.order_by().values_list("customer_key", flat=True).distinct())
    return {"actors": actors, "customers": customer_stats_recompute(keys=keys)}
