"""Helpers for the watch-gated coupon tests: a live session with a programme, and real watch evidence."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from commerce.models import Coupon
from commerce.services.coupons import coupon_create
from sessions_app.watch import watch_poll_record
from tests.factories import LiveSessionFactory, make_drop


def new_visitor() -> str:
    return uuid.uuid4().hex


def watch(session, visitor_id: str, *, seconds: int, start: dt.datetime) -> dt.datetime:
    """Poll the live session as a viewer would, every 10 s for `seconds` (real evidence, one per write window);
    returns the instant of the last poll."""
    at = start
    for step in range(0, seconds + 1, 10):
        at = start + dt.timedelta(seconds=step)
        watch_poll_record(session_id=session.pk, session_status="live", visitor_id=visitor_id, now=at)
    return at


def programme(
    *, session=None, drop=None, seconds: int = 300, grace: int = 30, max_redemptions=None, percent="20", **kw
) -> Coupon:
    """A watch-gated 20 % coupon on a live session (or a drop), valid for a day around now."""
    from django.utils import timezone

    now = timezone.now()
    if session is None and drop is None:
        session = LiveSessionFactory(status="live", went_live_at=now - dt.timedelta(minutes=5))
    return coupon_create(
        kind="percent",
        percent_off=Decimal(percent),
        valid_from=now - dt.timedelta(hours=12),
        valid_until=now + dt.timedelta(hours=12),
        session=session,
        drop=drop,
        max_redemptions=max_redemptions,
        watch_seconds_required=seconds,
        watch_grace_minutes=grace,
        **kw,
    )


def live_drop(session, **kw):
    return make_drop(
        session=session, quantity=kw.pop("quantity", 20), per_customer_limit=kw.pop("per_customer_limit", 3), **kw
    )
