"""Template tags for cadence: the series a viewer can follow (home page)."""

from django import template

from sessions_app.cadence.selectors import series_cadence_text
from sessions_app.models import Series

register = template.Library()


@register.simple_tag
def series_to_follow(limit: int = 12) -> list[tuple[Series, str]]:
    """Active series by name with their cadence text ("Tuesdays 18:00 Europe/Berlin")."""
    return [(s, series_cadence_text(s)) for s in Series.objects.filter(is_active=True).order_by("name")[:limit]]
