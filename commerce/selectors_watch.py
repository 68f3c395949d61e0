"""Watch-gated coupon reads: a session's open programmes, a viewer's progress, issued/redeemed counts.

Times are aware UTC; seconds are whole seconds of server-side watch evidence (sessions_app.watch).
See docs/watch-coupons.md.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet

from sessions_app.watch import watched_seconds

from .models import Coupon, WatchCode
from .money import format_money


def watch_programmes(*, session_id: int) -> QuerySet[Coupon]:
    """Every watch-gated coupon of a session (scoped to it or to one of its drops), easiest first."""
    return (
        Coupon.objects.filter(watch_seconds_required__isnull=False)
        .filter(Q(session_id=session_id) | Q(drop__session_id=session_id))
        .select_related("session", "drop__session")
        .order_by("watch_seconds_required", "pk")
    )


def watch_programmes_open(*, session_id: int, now: dt.datetime) -> list[Coupon]:
    """The session's watch-gated coupons that are active and inside their validity window at `now`."""
    return [
        c for c in watch_programmes(session_id=session_id).filter(is_active=True) if c.valid_from <= now < c.valid_until
    ]


def programme_session(coupon: Coupon):
    """The live session a watch-gated coupon is about: its session, or its drop's."""
    return coupon.session if coupon.session_id else coupon.drop.session


def watch_code_expires_at(*, coupon: Coupon, session) -> dt.datetime | None:
    """When personal codes of `coupon` for `session` stop working (UTC); None while the session is live
    or not started (it has no end yet). End = `ended_at` (the real end), else the planned end, plus
    the programme's grace minutes; never later than the coupon's own `valid_until`."""
    if session.status in ("live", "scheduled"):
        return None
    end = (session.ended_at or session.ends_at) + dt.timedelta(minutes=coupon.watch_grace_minutes)
    return min(end, coupon.valid_until)


def watch_code_by_code(*, code: str) -> WatchCode | None:
    """The personal code typed at checkout (case-insensitive), with its programme and session; None if unknown."""
    normalized = (code or "").strip().upper()
    if not normalized:
        return None
    return WatchCode.objects.select_related("coupon", "session").filter(code=normalized).first()


def coupon_offer_label(coupon: Coupon) -> str:
    """ "15 % off" / "€5.00 off" for the viewer's panel."""
    if coupon.kind == Coupon.Kind.PERCENT:
        pct = coupon.percent_off.normalize()
        return f"{pct:f} % off"
    return f"{format_money(coupon.amount_off_minor, coupon.currency)} off"


def watch_reward_status(*, session, visitor_id: str | None, now: dt.datetime) -> list[dict]:
    """A viewer's progress on each open programme of `session` (personal: never cache it).

    Each item: coupon_id, offer ("15 % off"), drop (title or null), required_seconds,
    watched_seconds, seconds_left, code (the viewer's personal code, or null), expires_at (ISO UTC or null).
    """
    programmes = watch_programmes_open(session_id=session.pk, now=now)
    if not programmes:
        return []
    watched = watched_seconds(session_id=session.pk, visitor_id=visitor_id)
    codes = (
        {c.coupon_id: c for c in WatchCode.objects.filter(coupon__in=programmes, visitor_id=visitor_id)}
        if visitor_id
        else {}
    )
    items = []
    for coupon in programmes:
        code = codes.get(coupon.pk)
        expires = watch_code_expires_at(coupon=coupon, session=session)
        items.append(
            {
                "coupon_id": coupon.pk,
                "offer": coupon_offer_label(coupon),
                "drop": coupon.drop.display_title if coupon.drop_id else None,
                "required_seconds": coupon.watch_seconds_required,
                "watched_seconds": watched,
                "seconds_left": max(coupon.watch_seconds_required - watched, 0),
                "code": code.code if code else None,
                "expires_at": expires.isoformat() if expires else None,
            }
        )
    return items


def watch_code_counts(*, coupon_ids) -> dict[int, dict[str, int]]:
    """{coupon_id: {"issued": n, "redeemed": n}} for watch-gated coupons (redeemed = currently redeemed)."""
    rows = (
        WatchCode.objects.filter(coupon_id__in=list(coupon_ids))
        .values("coupon_id")
        .annotate(issued=Count("pk"), redeemed=Count("pk", filter=Q(redeemed_at__isnull=False)))
    )
    return {r["coupon_id"]: {"issued": r["issued"], "redeemed": r["redeemed"]} for r in rows}
