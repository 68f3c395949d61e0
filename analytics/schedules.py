"""The django-q2 schedules analytics needs; ensured by migration 0002 and `manage.py analytics_schedule`."""

from __future__ import annotations

SCHEDULES = [
    # (name, func, minutes)
    ("analytics: flush events", "analytics.tasks.events_flush", 1),
    ("analytics: update rollups", "analytics.tasks.rollups_update", 1),
]


def schedules_ensure(schedule_model) -> int:
    """Create or update each schedule by name (idempotent). Returns how many were created."""
    created = 0
    for name, func, minutes in SCHEDULES:
        _obj, was_created = schedule_model.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )
        created += was_created
    return created
