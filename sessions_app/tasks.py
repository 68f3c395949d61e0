"""django-q2 tasks for sessions."""

from .services import series_plan_all


def plan_series() -> int:
    """Hourly: keep every active series' upcoming sessions scheduled."""
    return series_plan_all()
