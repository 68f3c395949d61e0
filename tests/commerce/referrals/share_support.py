"""Helpers for the share-to-unlock tests: an open campaign on a live session, visitors and networks."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.utils import timezone

from commerce.referrals.models import ShareCampaign
from tests.factories import LiveSessionFactory

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def new_visitor() -> str:
    return uuid.uuid4().hex


def campaign(*, n: int = 3, percent: str = "15", minutes: int = 60, session=None, **kw) -> ShareCampaign:
    """An active campaign on a live session, open from an hour ago for a day."""
    now = timezone.now()
    if session is None:
        session = LiveSessionFactory(status="live", went_live_at=now - dt.timedelta(minutes=5))
    return ShareCampaign.objects.create(
        name=kw.pop("name", "Share the live"),
        session=session,
        visits_required=n,
        percent_off=Decimal(percent),
        offer_minutes=minutes,
        starts_at=kw.pop("starts_at", now - dt.timedelta(hours=1)),
        ends_at=kw.pop("ends_at", now + dt.timedelta(days=1)),
        **kw,
    )


def net(i: int) -> str:
    """A distinct client network (IPv4 address) per visitor index."""
    return f"198.51.100.{i % 250 + 1}" if i < 250 else f"203.0.113.{i % 250 + 1}"
