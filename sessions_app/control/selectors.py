"""Control-room reads: the live counters and the timeline (a handful of queries, polled every 1.5 s)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from commerce.models import Coupon, Drop, Hold, Order
from commerce.selectors import drop_status, drops_for_session, session_sale_state

from ..models import LiveSession, SessionMoment
from ..watch import VIEWERS_NOW_SECONDS, viewers_now
from .services import FLASH_PREFIX

TIMELINE_LIMIT = 50
STATE_LABELS = {**dict(Drop.State.choices), "cancelled": "Cancelled"}


def flash_coupon_current(*, session_id: int, now: dt.datetime) -> Coupon | None:
    """The session's flash coupon viewers should see at `now`: the latest active one inside its window
    whose cap is not used up (None if there is none). One query."""
    return (
        Coupon.objects.filter(
            session_id=session_id,
            customer__isnull=True,
            code__startswith=f"{FLASH_PREFIX}-",
            is_active=True,
            valid_from__lte=now,
            valid_until__gt=now,
        )
        .filter(Q(max_redemptions__isnull=True) | Q(redemptions__lt=F("max_redemptions")))
        .order_by("-valid_from", "-pk")
        .first()
    )


def flash_coupon_public(coupon: Coupon | None) -> dict | None:
    """What viewers' pages get (status JSON `flash_coupon`): {"code", "percent_off" (number), "ends_at"
    (ISO 8601 UTC), "remaining" (uses left, or null when uncapped)}, or None."""
    if coupon is None:
        return None
    return {
        "code": coupon.code,
        "percent_off": float(coupon.percent_off) if coupon.percent_off is not None else None,
        "ends_at": coupon.valid_until.isoformat(),
        "remaining": None if coupon.max_redemptions is None else max(coupon.max_redemptions - coupon.redemptions, 0),
    }


def _flash_latest(*, session_id: int) -> Coupon | None:
    return (
        Coupon.objects.filter(session_id=session_id, customer__isnull=True, code__startswith=f"{FLASH_PREFIX}-")
        .order_by("-valid_from", "-pk")
        .first()
    )


def control_timeline(*, session: LiveSession, limit: int = TIMELINE_LIMIT) -> list[dict]:
    """The session's moments, newest first: [{"kind", "label", "at" (ISO UTC), "at_local" ("HH:MM:SS TZ" in the
    session's zone), "drop_id", "note"}]. One query."""
    tz = session.tz
    moments = SessionMoment.objects.filter(session_id=session.pk).order_by("-at", "-pk")[:limit]
    return [
        {
            "kind": m.kind,
            "label": m.get_kind_display(),
            "at": m.at.isoformat(),
            "at_local": f"{timezone.localtime(m.at, tz):%H:%M:%S %Z}",
            "drop_id": m.drop_id,
            "note": m.note,
        }
        for m in moments
    ]


def control_room_counters(session_id: int, now: dt.datetime | None = None, *, timeline: bool = True) -> dict:
    """The live figures of one session for the control room (and the API's GET …/control).

    Shape (times ISO 8601 UTC, money integer minor units + ISO 4217 currency):
    {"server_time", "session": {"id", "public_id", "title", "status", "sale_state", "pinned_drop_id", "timezone"},
     "viewers_now": int (visitors whose status polls were recorded in the last 30 s),
     "holds": {"count", "units"} (active holds not past their expiry),
     "orders": {"paid": int}, "revenue": [{"amount_minor", "currency"}] (paid orders' totals, one row per currency),
     "drops": [{"id", "title", "state" (drop_status), "state_label", "window" (the drop's own window:
                not_yet_open | open | closed), "available" (effective: lapsed holds count as free), "quantity",
                "opens_at", "closes_at", "pinned"}],
     "flash_coupon": {"code", "percent_off", "starts_at", "ends_at", "seconds_left", "time_left" ("m:ss"), "active", "redemptions",
                      "max_redemptions", "remaining"} | null (the latest one, running or not),
     "timeline": [control_timeline rows]}  (left out with timeline=False)

    Raises LiveSession.DoesNotExist. Seven queries (tests/sessions_app/test_control_room.py counts them).
    """
    now = now or timezone.now()
    session = LiveSession.objects.get(pk=session_id)
    drops = list(drops_for_session(session_id=session.pk, now=now))
    holds = Hold.objects.filter(drop__session_id=session.pk, status=Hold.Status.ACTIVE, expires_at__gt=now).aggregate(
        count=Count("pk"), units=Coalesce(Sum("quantity"), 0)
    )
    paid = list(
        Order.objects.filter(session_id=session.pk, status=Order.Status.PAID)
        .values("currency")
        .annotate(n=Count("pk"), amount=Coalesce(Sum("total_minor"), 0))
        .order_by("currency")
    )
    coupon = _flash_latest(session_id=session.pk)
    data = {
        "server_time": now.isoformat(),
        "session": {
            "id": session.pk,
            "public_id": str(session.public_id),
            "title": session.title,
            "status": session.status,
            "sale_state": session_sale_state(status=session.status, presale_opens_at=session.presale_opens_at, now=now),
            "pinned_drop_id": session.pinned_drop_id,
            "timezone": session.timezone,
        },
        "viewers_now": viewers_now(session_id=session.pk, now=now),
        "viewers_window_seconds": VIEWERS_NOW_SECONDS,
        "holds": {"count": holds["count"], "units": holds["units"]},
        "orders": {"paid": sum(row["n"] for row in paid)},
        "revenue": [{"amount_minor": row["amount"], "currency": row["currency"]} for row in paid],
        "drops": [_drop_row(drop, now=now, pinned_id=session.pinned_drop_id) for drop in drops],
        "flash_coupon": _flash_row(coupon, now=now),
    }
    if timeline:
        data["timeline"] = control_timeline(session=session)
    return data


def _drop_row(drop, *, now: dt.datetime, pinned_id: int | None) -> dict:
    st = drop_status(drop=drop, now=now)
    window = "not_yet_open" if now < drop.opens_at else ("closed" if now >= drop.closes_at else "open")
    return {
        "id": drop.pk,
        "title": drop.display_title,
        "state": st["state"],
        "state_label": STATE_LABELS.get(st["state"], st["state"]),
        "window": window,
        "available": st["available"],
        "quantity": st["quantity"],
        "opens_at": st["opens_at"],
        "closes_at": st["closes_at"],
        "pinned": drop.pk == pinned_id,
    }


def _flash_row(coupon: Coupon | None, *, now: dt.datetime) -> dict | None:
    if coupon is None:
        return None
    exhausted = coupon.max_redemptions is not None and coupon.redemptions >= coupon.max_redemptions
    running = coupon.is_active and coupon.valid_from <= now < coupon.valid_until
    left = max(int((coupon.valid_until - now).total_seconds()), 0) if running else 0
    return {
        "code": coupon.code,
        "percent_off": float(coupon.percent_off) if coupon.percent_off is not None else None,
        "starts_at": coupon.valid_from.isoformat(),
        "ends_at": coupon.valid_until.isoformat(),
        "seconds_left": left,
        "time_left": f"{left // 60}:{left % 60:02d}",
        "active": running and not exhausted,
        "redemptions": coupon.redemptions,
        "max_redemptions": coupon.max_redemptions,
        "remaining": None if coupon.max_redemptions is None else max(coupon.max_redemptions - coupon.redemptions, 0),
    }
