"""Control-room actions: the only code that pins, opens or closes a drop or fires a flash coupon live.

Each action is one transaction that
- locks the session row (FOR NO KEY UPDATE: it does not block the hold statement's FOR KEY SHARE on
  the session, so holds keep flowing while the host acts) and, for drop actions, the drop row;
- takes its instant (`now`, unless a test passes one) only once it holds the lock, so an action that
  waited for another one judges the drop as that one left it (two hosts closing at once: one closes);
- checks the session still runs (scheduled or live: an ended or cancelled session is history);
- writes through `save()` so django-auditlog records the change and its actor (commerce.audit);
- records the moment in the session timeline (sessions_app.services.session_moment_record);
- after commit drops the viewers' cached status JSON and page, so the next poll (every 1.5 s while
  live) shows the change: a pin is on every viewer's page within about 2 s.

Errors are ControlError (a CommerceError: `code`, HTTP `status`, `field`), shown as messages on the
page and as 4xx JSON by the API.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from commerce.exceptions import CommerceError
from commerce.models import Coupon, Drop
from commerce.selectors import SESSION_SELLING, session_sale_state
from commerce.services.coupons import coupon_code_generate, coupon_create
from commerce.services.waitlist import waitlist_offers_withdraw

from .. import services as session_services
from ..models import LiveSession, SessionMoment
from ..pagecache import cache_forget, page_cache_key, status_cache_key

FLASH_PREFIX = "FLASH"
PERCENT_RANGE = (1, 90)  # percent off a flash coupon may give
MINUTES_RANGE = (1, 120)  # how long a flash coupon may run
MAX_REDEMPTIONS = 100_000
REOPEN_MINUTES = 10  # a closed drop re-opens at least this long (until the session's planned end if later)  # an upper bound that keeps the cap a sane number
RUNNING = (LiveSession.Status.SCHEDULED, LiveSession.Status.LIVE)


class ControlError(CommerceError):
    """A control-room action that cannot run. `code` is stable for the API; 409 unless said otherwise.

    Codes: session_over (the session ended or was cancelled), drop_not_in_session (404),
    drop_already_open, drop_not_open, drop_already_closed, session_not_selling (a flash coupon
    needs a session that sells: live or in pre-sale), invalid_transition (go live / end from the
    wrong state), invalid (422, bad input; `field` names it).
    """

    status = 409

    def __init__(self, message: str, *, code=None, field: str | None = None, status: int | None = None, **extra):
        super().__init__(message, code=code, field=field, **extra)
        if status is not None:
            self.status = status


def viewer_caches_forget(*, public_id) -> None:
    """Drop the session page's shared caches (status JSON and page HTML): the next request rebuilds them."""
    cache_forget(status_cache_key(public_id), page_cache_key(public_id))


def _forget_after_commit(session: LiveSession) -> None:
    public_id = session.public_id
    transaction.on_commit(lambda: viewer_caches_forget(public_id=public_id))


def _running_session(session_id: int) -> LiveSession:
    """The session under a FOR NO KEY UPDATE lock; ControlError unless it is scheduled or live."""
    session = LiveSession.objects.select_for_update(no_key=True).filter(pk=session_id).first()
    if session is None:
        raise ControlError("No such session.", code="not_found", status=404)
    if session.status not in RUNNING:
        raise ControlError(
            f"This session is {session.get_status_display().lower()}: its drops and coupons can no longer change.",
            code="session_over",
        )
    return session


def _session_drop(session: LiveSession, drop_id: int) -> Drop:
    drop = Drop.objects.select_for_update(no_key=True).filter(pk=drop_id, session_id=session.pk).first()
    if drop is None:
        raise ControlError("That drop is not in this session.", code="drop_not_in_session", field="drop_id", status=404)
    return drop


def control_pin_drop(
    *, session_id: int, drop_id: int | None, actor=None, now: dt.datetime | None = None
) -> LiveSession:
    """Pin `drop_id` (a drop of this session) on the viewers' page, or unpin with None.

    Records a `drop_pinned` moment (note "unpinned" for None). Pinning the drop already pinned
    changes nothing and records nothing. Raises ControlError session_over / drop_not_in_session (404).
    `actor` (a staff user, or None for an API key) is for the moment's note only: the audit entry
    names the request's user itself.
    """
    with transaction.atomic():
        session = _running_session(session_id)
        now = now or timezone.now()  # under the lock: an action that waited judges what the other left
        drop = _session_drop(session, drop_id) if drop_id is not None else None
        if session.pinned_drop_id == (drop.pk if drop else None):
            return session
        session.pinned_drop = drop
        session.save(update_fields=["pinned_drop"])
        session_services.session_moment_record(
            session_id=session.pk,
            kind=SessionMoment.Kind.DROP_PINNED,
            at=now,
            drop_id=drop.pk if drop else None,
            note=_by(actor, drop.display_title if drop else "unpinned"),
        )
        _forget_after_commit(session)
    return session


def control_open_drop(*, session_id: int, drop_id: int, actor=None, now: dt.datetime | None = None) -> Drop:
    """Open a drop now.

    - not yet open (now < opens_at): `opens_at` = now (the planned close stays);
    - closed (early from here, or its time ran out; now ≥ closes_at): re-opened until the session's
      planned end (starts_at + duration), or for REOPEN_MINUTES from now when that end is less than
      REOPEN_MINUTES away or past (a show running over); `opens_at` unchanged;
    - already open: ControlError drop_already_open.
    Records `drop_opened` (the timeline keeps a drop's first opening only). Whether viewers can buy
    still follows the selling rule: a scheduled session without pre-sale sells once it goes live.
    Raises ControlError session_over / drop_not_in_session (404) / drop_already_open.
    """
    with transaction.atomic():
        session = _running_session(session_id)
        now = now or timezone.now()  # under the lock: an action that waited judges what the other left
        drop = _session_drop(session, drop_id)
        if now < drop.opens_at:
            drop.opens_at = now
        elif now >= drop.closes_at:
            drop.closes_at = max(session.ends_at, now + dt.timedelta(minutes=REOPEN_MINUTES))
        else:
            raise ControlError(f"{drop.display_title} is already open.", code="drop_already_open")
        drop.save(update_fields=["opens_at", "closes_at"])
        session_services.session_moment_record(
            session_id=session.pk, kind=SessionMoment.Kind.DROP_OPENED, at=now, drop_id=drop.pk, note=_by(actor, "")
        )
        _forget_after_commit(session)
    return drop


def control_close_drop(*, session_id: int, drop_id: int, actor=None, now: dt.datetime | None = None) -> Drop:
    """Close an open drop now: `closes_at` = now (holds already placed may still check out until they expire;
    open waitlist offers are withdrawn, their units back on the drop).

    Raises ControlError drop_not_open (it has not opened yet: nothing to close; change its window
    in the admin instead), drop_already_closed, session_over, drop_not_in_session (404).
    Records `drop_closed`.
    """
    with transaction.atomic():
        session = _running_session(session_id)
        now = now or timezone.now()  # under the lock: an action that waited judges what the other left
        drop = _session_drop(session, drop_id)
        if now >= drop.closes_at:
            raise ControlError(f"{drop.display_title} is already closed.", code="drop_already_closed")
        if now <= drop.opens_at:
            raise ControlError(f"{drop.display_title} has not opened yet: nothing to close.", code="drop_not_open")
        waitlist_offers_withdraw(drop_id=drop.pk, now=now)  # open offers end with the sale (docs/waitlist.md)
        drop.refresh_from_db(fields=["available"])
        drop.closes_at = now
        drop.save(update_fields=["closes_at"])
        session_services.session_moment_record(
            session_id=session.pk, kind=SessionMoment.Kind.DROP_CLOSED, at=now, drop_id=drop.pk, note=_by(actor, "")
        )
        _forget_after_commit(session)
    return drop


def flash_coupon_check(*, percent_off, minutes, max_redemptions) -> tuple[Decimal, int, int]:
    """Validate a flash coupon's terms; returns (percent_off, minutes, max_redemptions).

    percent_off: whole percent 1–90; minutes 1–120; max_redemptions ≥ 1 (≤ 100 000).
    Raises ControlError code `invalid` (422) with `field` naming the first bad input.
    """
    checks = (
        ("percent_off", percent_off, PERCENT_RANGE, "Percent off must be a whole number from 1 to 90."),
        ("minutes", minutes, MINUTES_RANGE, "Minutes must be a whole number from 1 to 120."),
        ("max_redemptions", max_redemptions, (1, MAX_REDEMPTIONS), "The cap must be a whole number of at least 1."),
    )
    for field, value, (low, high), message in checks:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ControlError(message, code="invalid", field=field, status=422)
    return Decimal(percent_off), minutes, max_redemptions


def flash_coupon_fire(
    *, session_id: int, percent_off: int, minutes: int, max_redemptions: int, actor=None, now: dt.datetime | None = None
) -> Coupon:
    """Create this session's flash coupon: `percent_off` % off its drops for `minutes`, at most `max_redemptions` uses.

    The coupon (commerce.Coupon) is scoped to the session, valid [now, now + minutes), one use per
    customer, with a generated code "FLASH-XXXXXXXX"; viewers see it in a banner with a countdown and
    apply it at checkout like any code. Firing a new one ends the session's previous flash coupon
    (deactivated: its code stops working). Records `coupon_fired` with the code and terms in the note.
    Raises ControlError invalid (422, `field`), session_over, session_not_selling (the session neither
    is live nor in pre-sale: nobody could use it).
    """
    percent, minutes, cap = flash_coupon_check(
        percent_off=percent_off, minutes=minutes, max_redemptions=max_redemptions
    )
    with transaction.atomic():
        session = _running_session(session_id)
        now = now or timezone.now()  # under the lock: the previous flash coupon ends at this instant
        if (
            session_sale_state(status=session.status, presale_opens_at=session.presale_opens_at, now=now)
            not in SESSION_SELLING
        ):
            raise ControlError(
                "The session is not selling yet (go live first): nobody could use a flash coupon now.",
                code="session_not_selling",
            )
        for previous in flash_coupons_of(session_id=session.pk).filter(is_active=True, valid_until__gt=now):
            previous.is_active = False
            previous.save(update_fields=["is_active"])
        coupon = coupon_create(
            kind=Coupon.Kind.PERCENT,
            code=coupon_code_generate(prefix=FLASH_PREFIX),
            percent_off=percent,
            valid_from=now,
            valid_until=now + dt.timedelta(minutes=minutes),
            session=session,
            max_redemptions=cap,
            per_customer_limit=1,
            note=f"Flash coupon fired in the control room of session {session.pk}",
        )
        session_services.session_moment_record(
            session_id=session.pk,
            kind=SessionMoment.Kind.COUPON_FIRED,
            at=now,
            note=_by(actor, f"{coupon.code}: {percent_off}% for {minutes} min, cap {cap}"),
        )
        _forget_after_commit(session)
    return coupon


def flash_coupons_of(*, session_id: int):
    """A session's flash coupons (session-scoped, shared, code FLASH-…), newest first."""
    return Coupon.objects.filter(
        session_id=session_id, customer__isnull=True, code__startswith=f"{FLASH_PREFIX}-"
    ).order_by("-valid_from", "-pk")


def control_go_live(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """sessions_app.services.session_go_live (records went_live), then forget the viewers' caches.

    Raises ControlError invalid_transition when the session is not scheduled.
    """
    return _transition(session_services.session_go_live, session_id=session_id, now=now)


def control_end(*, session_id: int, now: dt.datetime | None = None) -> LiveSession:
    """sessions_app.services.session_end (records ended), then forget the viewers' caches.

    Raises ControlError invalid_transition when the session already ended or was cancelled.
    """
    return _transition(session_services.session_end, session_id=session_id, now=now)


def _transition(service, *, session_id: int, now: dt.datetime | None) -> LiveSession:
    try:
        session = service(session_id=session_id, now=now)
    except LiveSession.DoesNotExist:
        raise ControlError("No such session.", code="not_found", status=404) from None
    except session_services.SessionError as exc:
        raise ControlError(exc.message, code=exc.code) from exc
    viewer_caches_forget(public_id=session.public_id)
    return session


def _by(actor, note: str) -> str:
    """A moment's note, naming who acted: the staff member, or the API caller's label (a str)."""
    if isinstance(actor, str):  # an API caller's label ("partner:<name>", commerce.access.Caller.label)
        name = actor
    else:
        name = getattr(actor, "get_username", lambda: "")() if actor is not None else ""
    text = f"{note} (by {name})" if name and note else (f"by {name}" if name else note)
    return text[:200]
