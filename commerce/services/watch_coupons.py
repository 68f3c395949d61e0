"""Watch-gated coupons: personal codes for viewers who watched enough of a live session.

docs/watch-coupons.md has the whole story. In short:

- A watch-gated coupon (Coupon.watch_seconds_required set, scoped to a session or a drop) is a
  *programme*. Its own code is never accepted at checkout (coupon_check refuses it with
  `watch_code_required`).
- `watch_code_claim` issues a viewer's personal WatchCode once the server's evidence
  (sessions_app.watch.watched_seconds, built from the session page's status polls) reaches the
  requirement. Nothing the client sends adds seconds. One code per (programme, visitor): claiming
  again returns the same code, also under concurrency (a unique constraint decides).
- The code binds to a customer once the visitor is identified: when a hold is placed from that
  browser (`watch_codes_bind_visitor`, called from commerce.services.funnel.capture_cart), when the
  visitor was identified before claiming (analytics' visitor alias), or at its first checkout.
  Binding is one conditional UPDATE (`customer IS NULL`); afterwards any other customer gets
  `coupon_not_applicable`.
- At checkout (commerce.services.coupons) the code resolves to its programme: the programme's window,
  scope and caps apply (a redemption through a personal code IS a redemption of the programme:
  a CouponRedemption row of the programme with `watch_code` set). The code is single-use:
  `watch_code_take` sets `redeemed_at` with a conditional UPDATE in the order's transaction; a
  cancelled order gives it back (`watch_code_release_for_order`).
- A personal code expires at the session's end (its real end, or its planned end) + the programme's
  grace minutes (selectors_watch.watch_code_expires_at).
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Q

from analytics.middleware import is_visitor_id
from analytics.selectors import visitor_customer_id
from sessions_app.watch import watched_seconds

from ..access import NotFound
from ..exceptions import CouponInvalid, ErrorCode, WatchRewardUnavailable
from ..models import Coupon, WatchCode
from ..selectors_watch import programme_session, watch_code_expires_at, watch_programmes_open

CODE_PREFIX = "W"  # personal codes look like W-7KQ2M9XAPD: prefix + 10 characters of the unambiguous alphabet
CODE_LENGTH = 10


def _new_code() -> str:
    from .coupons import coupon_code_generate

    return coupon_code_generate(CODE_PREFIX, CODE_LENGTH)


def _programme(*, coupon_id: int | None, session_id: int | None, visitor_id: str, now: dt.datetime) -> Coupon:
    """The programme a claim is for: `coupon_id` (checked against `session_id` when both are given),
    or the session's open programme the visitor has not claimed yet, easiest first."""
    if coupon_id is not None:
        qs = Coupon.objects.filter(pk=coupon_id, watch_seconds_required__isnull=False)
        if session_id is not None:
            qs = qs.filter(Q(session_id=session_id) | Q(drop__session_id=session_id))
        coupon = qs.select_related("session", "drop__session").first()
        if coupon is None:
            raise NotFound("There is no such reward.")
        return coupon
    if session_id is None:
        raise ValueError("watch_code_claim needs coupon_id or session_id")
    open_ = watch_programmes_open(session_id=session_id, now=now)
    if not open_:
        raise WatchRewardUnavailable("This session has no watch reward open now.", code=ErrorCode.WATCH_COUPON_CLOSED)
    claimed = set(WatchCode.objects.filter(coupon__in=open_, visitor_id=visitor_id).values_list("coupon_id", flat=True))
    return next((c for c in open_ if c.pk not in claimed), open_[0])


def watch_code_claim(
    *,
    visitor_id: str | None,
    now: dt.datetime,
    coupon_id: int | None = None,
    session_id: int | None = None,
) -> WatchCode:
    """Issue (or return) the viewer's personal code for a watch-gated coupon.

    `visitor_id`: the `mm_vid` cookie the session page's polls were recorded under (a 32-hex id).
    Give `coupon_id` (the programme; with `session_id` too it must belong to that session) or
    `session_id` alone (its open programme the visitor has not claimed yet, easiest first).

    Idempotent per (programme, visitor): a code already issued is returned as it is, whatever the
    time (checkout decides whether it still works). A new code needs, at `now`: the programme
    active and inside [valid_from, valid_until), its session live or ended less than the grace
    minutes ago, its total cap not reached, and watched_seconds (server evidence) ≥ the requirement.
    If the visitor is already identified as a customer (analytics visitor alias), the code is
    bound to that customer at once.

    Raises WatchRewardUnavailable (409) with code `watch_not_enough` (`extra`: seconds_left,
    watched_seconds, required_seconds), `watch_coupon_closed`, `coupon_exhausted`; NotFound (404
    `not_found`: no such programme for this session).
    """
    if not is_visitor_id(visitor_id):
        visitor_id = ""
    coupon = _programme(coupon_id=coupon_id, session_id=session_id, visitor_id=visitor_id, now=now)
    required = coupon.watch_seconds_required
    if visitor_id:
        existing = WatchCode.objects.filter(coupon=coupon, visitor_id=visitor_id).first()
        if existing is not None:
            return existing
    session = programme_session(coupon)
    if not coupon.is_active or not (coupon.valid_from <= now < coupon.valid_until):
        raise WatchRewardUnavailable("This reward is not available now.", code=ErrorCode.WATCH_COUPON_CLOSED)
    if session.status == "scheduled":
        raise WatchRewardUnavailable(
            "This reward unlocks while the session is live.", code=ErrorCode.WATCH_COUPON_CLOSED
        )
    expires = watch_code_expires_at(coupon=coupon, session=session)
    if session.status == "cancelled" or (expires is not None and now >= expires):
        raise WatchRewardUnavailable("This session's reward has closed.", code=ErrorCode.WATCH_COUPON_CLOSED)
    if coupon.max_redemptions is not None and coupon.redemptions >= coupon.max_redemptions:
        raise WatchRewardUnavailable("This reward has been used up.", code=ErrorCode.COUPON_EXHAUSTED)
    watched = watched_seconds(session_id=session.pk, visitor_id=visitor_id) if visitor_id else 0
    if watched < required:
        left = required - watched
        raise WatchRewardUnavailable(
            f"Keep watching: {left} more seconds to unlock this reward.",
            code=ErrorCode.WATCH_NOT_ENOUGH,
            seconds_left=left,
            watched_seconds=watched,
            required_seconds=required,
        )
    customer_id = visitor_customer_id(visitor_id=visitor_id)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return WatchCode.objects.create(
                    coupon=coupon,
                    code=_new_code(),
                    session=session,
                    visitor_id=visitor_id,
                    customer_id=customer_id,
                    bound_at=now if customer_id else None,
                    watched_seconds=watched,
                    issued_at=now,
                )
        except IntegrityError:
            # Another request for this visitor won the race (the one-per-visitor constraint): its code
            # is the code. Otherwise the random code collided with another one: draw again.
            existing = WatchCode.objects.filter(coupon=coupon, visitor_id=visitor_id).first()
            if existing is not None:
                return existing
    raise RuntimeError("could not draw a unique watch code")  # 3 collisions in 32**10: not this universe


def watch_codes_bind_visitor(*, visitor_id: str | None, customer_id: int | None, now: dt.datetime) -> int:
    """Bind the visitor's unbound personal codes to the customer it was just identified as
    (a hold placed from that browser); also binds its share-unlock coupons
    (commerce.referrals.services.share_coupons_bind_visitor). One conditional UPDATE (`customer IS NULL`): a code already
    bound keeps its customer. Returns how many codes were bound."""
    if not customer_id or not is_visitor_id(visitor_id):
        return 0
    # the same moment binds the browser's share-to-unlock coupons (docs/share-to-unlock.md)
    from ..referrals.services import share_coupons_bind_visitor

    share_coupons_bind_visitor(visitor_id=visitor_id, customer_id=customer_id, now=now)
    return WatchCode.objects.filter(visitor_id=visitor_id, customer__isnull=True).update(
        customer_id=customer_id, bound_at=now
    )


def watch_code_check(*, watch_code: WatchCode, customer_id: int, now: dt.datetime) -> dt.datetime | None:
    """May `customer_id` use this personal code at `now`? Reads only (checkout re-checks under locks).
    Returns when the code expires (UTC; None while its session is live: no end yet).

    Raises CouponInvalid: coupon_expired (session end + grace passed), coupon_not_applicable (bound to
    another customer, or never bound: only the browser that earned a code binds it, through a hold or
    its cart — watch_codes_bind_visitor — so a shared or farmed code is refused), watch_code_used (already redeemed by an order that is not cancelled).
    """
    expires = watch_code_expires_at(coupon=watch_code.coupon, session=watch_code.session)
    if expires is not None and now >= expires:
        raise CouponInvalid("That personal code has expired.", code=ErrorCode.COUPON_EXPIRED)
    if watch_code.customer_id is None:
        # Never identified: the code was not earned in the buyer's browser (a shared or farmed code).
        # It binds when a hold or the cart is used from the browser that earned it.
        raise CouponInvalid(
            "That personal code works only for the viewer who earned it: use it in the browser you watched in.",
            code=ErrorCode.COUPON_NOT_APPLICABLE,
        )
    if watch_code.customer_id != customer_id:
        raise CouponInvalid("That code belongs to someone else.", code=ErrorCode.COUPON_NOT_APPLICABLE)
    if watch_code.redeemed_at is not None:
        raise CouponInvalid("That personal code has already been used.", code=ErrorCode.WATCH_CODE_USED)
    return expires


def watch_code_take(*, watch_code: WatchCode, order, now: dt.datetime) -> None:
    """Redeem a personal code for `order` inside the order's transaction: one conditional UPDATE
    (not redeemed yet, and bound to the order's customer).

    Raises CouponInvalid coupon_not_applicable (bound to someone else meanwhile) or watch_code_used
    (a concurrent checkout redeemed it first).
    """
    taken = (
        WatchCode.objects.filter(pk=watch_code.pk, redeemed_at__isnull=True)
        .filter(customer_id=order.customer_id)  # bound to this buyer (watch_code_check): never bound here
        .update(redeemed_at=now, order=order)
    )
    if taken:
        return
    fresh = WatchCode.objects.get(pk=watch_code.pk)
    if fresh.customer_id != order.customer_id:
        raise CouponInvalid("That code belongs to someone else.", code=ErrorCode.COUPON_NOT_APPLICABLE)
    raise CouponInvalid("That personal code has already been used.", code=ErrorCode.WATCH_CODE_USED)


def watch_code_release_for_order(*, order) -> int:
    """The order was cancelled: its personal code (if any) may be used again by the same customer."""
    return WatchCode.objects.filter(order=order).update(redeemed_at=None, order=None)
