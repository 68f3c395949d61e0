"""django-q2 tasks for sessions."""

from .services import series_plan_all


def plan_series() -> int:
    """Hourly: keep every active series' upcoming sessions scheduled."""
    return series_plan_all()


def reminders_plan_due() -> int:
    """Every minute: plan due series reminders into the outbox (sessions_app.cadence.services)."""
    from .cadence.services import reminders_plan_due as plan

    return plan()


def watch_evidence_flush() -> int:
    """Every minute: copy the heartbeats' buffered watch evidence (Redis) into WatchEvidence
    (sessions_app.watch.watch_evidence_flush; idempotent, nothing lost if killed)."""
    from .watch import watch_evidence_flush as flush

    return flush()
