"""Partner API: series, their calendar feed and following (docs/cadence.md).

Series and their sessions are shop catalogue (commerce.access, docs/access.md): every key with
`sessions:read` sees every active series. Following is a write with its own scope
(`followers:write`); it starts double opt-in and never tells whether the address already follows.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from ninja import Field, Router, Schema

from commerce.idempotency import run_idempotent
from commerce.identity import normalize_email
from commerce.ratelimit import Limit, rate_limits_hit
from config.api import PartnerKey

from .cadence import selectors, services
from .cadence.views import FOLLOW_WINDOW_SECONDS
from .models import Series

router = Router(tags=["series"])


class SeriesSessionOut(Schema):
    id: UUID = Field(alias="public_id")
    title: str
    status: str
    starts_at: dt.datetime = Field(description="Planned start, ISO 8601 UTC.")
    sequence: int = Field(description="iCalendar SEQUENCE: raised on every move or cancel.")


class SeriesOut(Schema):
    slug: str
    name: str
    host_name: str
    format: str = Field(description="The session format's slug.")
    timezone: str = Field(description="IANA timezone the series recurs in.")
    weekday: int = Field(description="0 = Monday … 6 = Sunday (local).")
    local_time: dt.time = Field(description="Wall-clock start in `timezone`.")
    cadence: str = Field(description='For people: "Tuesdays 18:00 Europe/Berlin".')
    followers: int = Field(description="Confirmed followers.")
    upcoming: list[SeriesSessionOut] = Field(description="Scheduled or live sessions, soonest first (at most 8).")


class CalendarOut(Schema):
    ics: str = Field(description="https URL of the iCalendar feed (text/calendar).")
    webcal: str = Field(description="The same feed as a webcal:// subscription link.")
    download: str = Field(description="The feed as an .ics attachment.")


class FollowIn(Schema):
    email: str = Field(max_length=254)


class FollowOut(Schema):
    answer: str = Field(description='Always "check_inbox": the address, if it can follow, gets a confirmation link.')


def _series_out(series: Series, followers: int | None = None) -> dict:
    return {
        "slug": series.slug,
        "name": series.name,
        "host_name": series.host_name,
        "format": series.format.slug,
        "timezone": series.timezone,
        "weekday": series.weekday,
        "local_time": series.local_time,
        "cadence": selectors.series_cadence_text(series),
        "followers": selectors.series_followers_count(series=series) if followers is None else followers,
        "upcoming": selectors.series_upcoming_sessions(series=series),
    }


def _series(slug: str) -> Series:
    series = selectors.series_public(slug=slug)
    if series is None:
        raise Http404
    return series


@router.get("/series", response=list[SeriesOut], auth=PartnerKey("sessions:read"))
def list_series(request):
    """Active series by name, each with its confirmed follower count and upcoming sessions."""
    return [_series_out(s, s.followers_confirmed) for s in selectors.series_with_follower_counts()]


@router.get("/series/{slug}", response=SeriesOut, auth=PartnerKey("sessions:read"))
def get_series(request, slug: str):
    """One active series by slug. 404 `not_found` if unknown or inactive."""
    return _series_out(_series(slug))


@router.get("/series/{slug}/calendar", response=CalendarOut, auth=PartnerKey("sessions:read"))
def get_series_calendar(request, slug: str):
    """The series' calendar feed URLs (absolute). 404 `not_found` if unknown or inactive."""
    return selectors.series_calendar_urls(_series(slug))


@router.post("/series/{slug}/followers", response={202: FollowOut}, auth=PartnerKey("followers:write"))
def follow_series(request, slug: str, payload: FollowIn):
    """Start double opt-in for `email` on the series → 202 {"answer": "check_inbox"}, whatever the address's state.

    The confirmation link goes only to that address (outbox e-mail). 422 `invalid_email`
    (`fields.email`); 404 `not_found` for an unknown series; 429 `rate_limited` after
    SERIES_FOLLOW_RATE_LIMIT_EMAIL attempts for one address in 10 minutes. Idempotent with `Idempotency-Key`.
    """

    def handler():
        series = _series(slug)
        try:
            key = normalize_email(payload.email)
        except ValidationError:
            raise services.CadenceError("invalid_email", "Enter a valid email address.", field="email") from None
        limit = Limit("follow:email", key, settings.SERIES_FOLLOW_RATE_LIMIT_EMAIL, FOLLOW_WINDOW_SECONDS)
        if rate_limits_hit([limit]) is not None:
            raise services.CadenceError("rate_limited", "Too many follow attempts for this address.", status=429)
        services.series_follow_request(series_id=series.pk, email=payload.email)
        return 202, {"answer": "check_inbox"}

    status, body = run_idempotent(request, payload={"slug": slug, **payload.dict()}, handler=handler)
    return JsonResponse(body, status=status)
