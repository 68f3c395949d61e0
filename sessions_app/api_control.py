"""Partner API: the live control room (docs/control-room.md) for the shop's own integrations.

Scope `sessions:control`. Sessions are shop catalogue (commerce.access), and steering the shop's live
show is the shop's business: the scope works only on keys that also have `shop`
(commerce.access.SHOP_ONLY_SCOPES); any other key gets 403 `forbidden`, whatever the session.
Writes accept an `Idempotency-Key` header (commerce.idempotency): a replay returns the first answer.
Sessions are named by their public id (UUID), drops by their id; a drop of another session is 404.
Errors: 404 `not_found` / `drop_not_in_session`; 409 `session_over`, `invalid_transition`,
`drop_already_open`, `drop_already_closed`, `drop_not_open`, `session_not_selling`; 422 `invalid`.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema
from pydantic import StrictInt

from commerce.access import catalogue
from commerce.idempotency import run_idempotent
from config.api import PartnerKey, api
from config.bounds import Id, StrictId

from .control import services
from .control.selectors import control_room_counters
from .models import LiveSession

router = Router(tags=["control room"])
SCOPE = "sessions:control"


class PinIn(Schema):
    drop_id: StrictId | None = Field(description="A drop of this session to feature on viewers' pages; null unpins.")


class FlashCouponIn(Schema):
    percent_off: StrictInt = Field(ge=1, le=90, description="Whole percent off, 1–90.")
    minutes: StrictInt = Field(ge=1, le=120, description="How long it runs from now, 1–120 minutes.")
    max_redemptions: StrictInt = Field(ge=1, le=services.MAX_REDEMPTIONS, description="Total uses allowed (≥ 1).")


class SessionStateOut(Schema):
    id: UUID
    status: str = Field(description="scheduled | live | ended | cancelled")
    pinned_drop_id: int | None
    went_live_at: dt.datetime | None
    ended_at: dt.datetime | None


class DropWindowOut(Schema):
    id: int
    opens_at: dt.datetime = Field(description="ISO 8601 UTC.")
    closes_at: dt.datetime = Field(description="ISO 8601 UTC.")


class FlashCouponOut(Schema):
    code: str
    percent_off: float
    valid_from: dt.datetime = Field(description="ISO 8601 UTC.")
    valid_until: dt.datetime = Field(description="ISO 8601 UTC.")
    max_redemptions: int
    redemptions: int


class ControlOut(Schema):
    """control_room_counters plus the timeline (see sessions_app.control.selectors for every member)."""

    server_time: dt.datetime
    session: dict
    viewers_now: int
    viewers_window_seconds: int
    holds: dict = Field(description='{"count", "units"}: active holds not past their expiry.')
    orders: dict = Field(description='{"paid": count of paid orders}.')
    revenue: list[dict] = Field(description='[{"amount_minor", "currency"}]: paid orders\' totals per currency.')
    drops: list[dict]
    flash_coupon: dict | None
    timeline: list[dict] = Field(description="Moments newest first: kind, label, at (UTC), at_local, drop_id, note.")


def _session(session_id: UUID) -> LiveSession:
    return get_object_or_404(catalogue(LiveSession.objects.all()), public_id=session_id)


def _state(session: LiveSession) -> dict:
    session.refresh_from_db()
    return SessionStateOut(
        id=session.public_id,
        status=session.status,
        pinned_drop_id=session.pinned_drop_id,
        went_live_at=session.went_live_at,
        ended_at=session.ended_at,
    ).model_dump(mode="json")


def _write(request, payload: dict, handler):
    status, body = run_idempotent(request, payload=payload, handler=handler)
    return api.create_response(request, body, status=status)


@router.get("/sessions/{session_id}/control", response=ControlOut, auth=PartnerKey(SCOPE))
def control_get(request, session_id: UUID):
    """The control room's live counters and timeline (money in minor units + ISO 4217 currency, times UTC)."""
    session = _session(session_id)
    return control_room_counters(session.pk, timezone.now())


@router.post("/sessions/{session_id}/go-live", response={200: SessionStateOut}, auth=PartnerKey(SCOPE))
def control_go_live(request, session_id: UUID):
    """scheduled → live (records `went_live`). 409 `invalid_transition` from any other state."""
    session = _session(session_id)

    def handler():
        services.control_go_live(session_id=session.pk)
        return 200, _state(session)

    return _write(request, {"session": str(session_id), "action": "go-live"}, handler)


@router.post("/sessions/{session_id}/end", response={200: SessionStateOut}, auth=PartnerKey(SCOPE))
def control_end(request, session_id: UUID):
    """live (or scheduled) → ended (records `ended`). 409 `invalid_transition` for an ended or cancelled session."""
    session = _session(session_id)

    def handler():
        services.control_end(session_id=session.pk)
        return 200, _state(session)

    return _write(request, {"session": str(session_id), "action": "end"}, handler)


@router.post("/sessions/{session_id}/pin", response={200: SessionStateOut}, auth=PartnerKey(SCOPE))
def control_pin(request, session_id: UUID, payload: PinIn):
    """Pin a drop of this session on viewers' pages (null unpins); records `drop_pinned`.

    404 `drop_not_in_session`; 409 `session_over`.
    """
    session = _session(session_id)

    def handler():
        services.control_pin_drop(session_id=session.pk, drop_id=payload.drop_id, actor=request.caller.label)
        return 200, _state(session)

    return _write(request, {"session": str(session_id), **payload.dict()}, handler)


def _drop_action(request, session_id: UUID, drop_id: int, service, name: str):
    session = _session(session_id)

    def handler():
        drop = service(session_id=session.pk, drop_id=drop_id, actor=request.caller.label)
        return 200, DropWindowOut(id=drop.pk, opens_at=drop.opens_at, closes_at=drop.closes_at).model_dump(mode="json")

    return _write(request, {"session": str(session_id), "drop": drop_id, "action": name}, handler)


@router.post("/sessions/{session_id}/drops/{drop_id}/open", response={200: DropWindowOut}, auth=PartnerKey(SCOPE))
def control_open(request, session_id: UUID, drop_id: Id):
    """Open a drop now (a drop closed early re-opens for its planned length); records `drop_opened`.

    404 `drop_not_in_session`; 409 `drop_already_open`, `session_over`.
    """
    return _drop_action(request, session_id, drop_id, services.control_open_drop, "open")


@router.post("/sessions/{session_id}/drops/{drop_id}/close", response={200: DropWindowOut}, auth=PartnerKey(SCOPE))
def control_close(request, session_id: UUID, drop_id: Id):
    """Close an open drop now; records `drop_closed`. 404 `drop_not_in_session`; 409 `drop_not_open`,
    `drop_already_closed`, `session_over`."""
    return _drop_action(request, session_id, drop_id, services.control_close_drop, "close")


@router.post("/sessions/{session_id}/flash-coupons", response={201: FlashCouponOut}, auth=PartnerKey(SCOPE))
def control_flash_coupon(request, session_id: UUID, payload: FlashCouponIn):
    """Fire a flash coupon for this session: `percent_off` % for `minutes`, capped at `max_redemptions`.

    201 → the coupon (code FLASH-…, shown on viewers' pages while it runs; the previous one ends).
    409 `session_not_selling` (not live, no pre-sale), `session_over`; 422 `invalid`.
    """
    session = _session(session_id)

    def handler():
        coupon = services.flash_coupon_fire(session_id=session.pk, actor=request.caller.label, **payload.dict())
        return 201, FlashCouponOut(
            code=coupon.code,
            percent_off=float(coupon.percent_off),
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            max_redemptions=coupon.max_redemptions,
            redemptions=coupon.redemptions,
        ).model_dump(mode="json")

    return _write(request, {"session": str(session_id), **payload.dict()}, handler)
