"""Small builders shared by the sampling tests."""

from __future__ import annotations

import datetime as dt

from sampling.services.requests import sample_request_create, sample_request_mark_shipped, sample_request_set_address
from sessions_app.models import Series, SessionFormat
from tests.factories import ADDRESS_DE


def make_series(*, tz="Europe/Berlin", weekday=5, local_time=dt.time(19, 0), slug="saturday-live"):
    fmt = SessionFormat.objects.get_or_create(
        slug="ama-10min", defaults={"name": "AMA", "kind": "ama", "duration_seconds": 600}
    )[0]
    return Series.objects.create(
        name="Saturday live",
        slug=slug,
        format=fmt,
        host_name="Host",
        timezone=tz,
        weekday=weekday,
        local_time=local_time,
        starts_on=dt.date(2026, 1, 1),
    )


def approved_request(campaign, email="ann@example.com", address=None, **kwargs):
    outcome = sample_request_create(
        campaign_id=campaign.pk, email=email, use_case="A gift", consent=True, rate_limit=False, **kwargs
    )
    return sample_request_set_address(token=outcome.request.token, address=address or ADDRESS_DE)


def shipped_request(campaign, email="ann@example.com", address=None, shipped_at=None, tracking="TRK1"):
    req = approved_request(campaign, email=email, address=address)
    return sample_request_mark_shipped(request_id=req.pk, tracking_number=tracking, carrier="DHL", now=shipped_at)
