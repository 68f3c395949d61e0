"""django-q2 task functions for session assets. Each fetches by id and calls a service."""

from __future__ import annotations


def asset_collect_send(delivery) -> None:
    """Outbox sender for `asset.collect`: delete an unreferenced object (re-checked under lock)."""
    from .cas import asset_collect

    asset_collect(asset_id=delivery.payload["asset_id"])
