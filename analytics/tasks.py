"""django-q2 task functions: thin, they call services. Scheduled by `manage.py analytics_schedule`
(and the 0002 data migration): flush every minute, rollups right after each flush."""

from __future__ import annotations

from . import services


def events_flush() -> int:
    """Move every buffered event into the raw table (rollups_update is queued after commit)."""
    return services.events_flush_all()


def rollups_update() -> dict:
    """Recompute the funnel rows and customer stats touched since the last run."""
    return services.rollups_update()
