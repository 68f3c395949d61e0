"""django-q2 task functions for session assets. Each fetches by id and calls a service."""

from __future__ import annotations


def asset_collect_send(delivery) -> None:
    """Outbox sender for `asset.collect`: delete an unreferenced object (re-checked under lock)."""
    from .cas import asset_collect

    asset_collect(asset_id=delivery.payload["asset_id"])


def hot_set_rank_task() -> dict:
    """Daily (django-q2 schedule `sessions_app.hot_set_rank`): rank clips, mark the edge hot set."""
    from .hotset import hot_set_rank

    return hot_set_rank()


def asset_cost_ledger_task(day: str | None = None) -> int:
    """Daily (schedule `sessions_app.asset_cost_ledger`): record yesterday's ledger (UTC), or `day` (ISO)."""
    import datetime as dt

    from django.utils import timezone

    from .costs import asset_cost_ledger_record

    when = dt.date.fromisoformat(day) if day else timezone.now().date() - dt.timedelta(days=1)
    return asset_cost_ledger_record(day=when)
