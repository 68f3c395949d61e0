"""Partner API: live sessions.

Sessions are shop catalogue (commerce.access, docs/access.md): the public storefront shows them,
so every key with `sessions:read` sees all of them, whoever it belongs to.
"""

import datetime as dt
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from commerce.access import catalogue
from config.api import PartnerKey
from config.pagination import PageNumberPagination

from .models import LiveSession

router = Router(tags=["sessions"])


class SessionOut(Schema):
    id: UUID = Field(alias="public_id")
    title: str
    format: str = Field(alias="format.slug")
    series: str | None = Field(None, alias="series.slug")
    status: str
    starts_at: dt.datetime = Field(
        alias="shown_start",
        description="Start as the pages show it, ISO 8601 UTC: the real start once the session went live "
        "(`went_live_at`, which may be earlier or later than planned), else the planned start (`scheduled_at`). "
        "Same value as status.json's `starts_at`.",
    )
    scheduled_at: dt.datetime = Field(alias="starts_at", description="Planned start, ISO 8601 UTC (never changes).")
    went_live_at: dt.datetime | None = Field(None, description="Real start (Go live), ISO 8601 UTC, or null.")
    ended_at: dt.datetime | None = Field(None, description="Real end (End session / Cancel), or null.")
    presale_opens_at: dt.datetime | None = Field(
        None, description="Pre-sale start: drops sell from then while scheduled (null = only while live)."
    )
    duration_seconds: int
    timezone: str = Field(description="IANA timezone of the host.")
    stream_url: str = Field(
        description="The stream; empty for members-only sessions (their stream reaches members only, through "
        "the session page: docs/members-only.md)."
    )
    members_only: bool = Field(False, description="Only members with a pass see the stream; its drops may be exclusive.")

    @staticmethod
    def resolve_stream_url(obj) -> str:
        return "" if obj.members_only else obj.stream_url


@router.get("/sessions", response=list[SessionOut], auth=PartnerKey("sessions:read"))
@paginate(PageNumberPagination, page_size=50)
def list_sessions(request, status: str | None = None):
    """Live sessions, soonest first; filter with `?status=scheduled|live|ended|cancelled`.

    Paginated: `?page=N&page_size=M` (max 100) → {"items": [...], "count": total}.
    """
    qs = (
        catalogue(LiveSession.objects.select_related("format", "series"))
        .filter(is_private=False)
        .order_by("starts_at", "pk")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


@router.get("/sessions/{session_id}", response=SessionOut, auth=PartnerKey("sessions:read"))
def get_session(request, session_id: UUID):
    """One live session by its public id (UUID). 404 `not_found` if unknown."""
    return get_object_or_404(
        catalogue(LiveSession.objects.select_related("format", "series")).filter(is_private=False), public_id=session_id
    )  # private micro-sessions (bundle seats only) are not in the catalogue
