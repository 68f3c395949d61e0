"""django-q2 task functions for asset storage (scheduled by migration 0008_storage_schedules).

Thin: each calls one service and returns its counts (shown in django-q2's admin as the result).
"""

from __future__ import annotations


def assets_tier_move_due_task() -> dict:
    """Daily: move objects to the tier their kind's policy wants (sessions_app.assets.tiers)."""
    from .tiers import assets_tier_move_due

    return assets_tier_move_due()


def assets_restore_poll_task() -> dict:
    """Every 10 minutes: mark requested archive restores ready, expire lapsed ones."""
    from .tiers import assets_restore_poll

    return assets_restore_poll()
