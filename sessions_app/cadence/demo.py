"""Demo data for cadence: a couple of confirmed followers of the demo series (seed_demo)."""

from __future__ import annotations

from django.utils import timezone

from commerce.identity import normalize_email

from ..models import Series
from .models import SeriesFollower

DEMO_FOLLOWERS = ("ada.viewer@example.com", "ben.viewer@example.com")


def demo_followers_seed(*, series: Series) -> int:
    """Confirmed followers for the demo series (idempotent); returns how many were new."""
    now, created = timezone.now(), 0
    for email in DEMO_FOLLOWERS:
        _, new = SeriesFollower.objects.get_or_create(
            series=series,
            email_normalized=normalize_email(email),
            defaults={
                "email": email,
                "status": SeriesFollower.Status.CONFIRMED,
                "created_at": now,
                "confirm_sent_at": now,
                "confirmed_at": now,
            },
        )
        created += new
    return created
