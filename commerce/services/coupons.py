"""Coupons: create, check and redeem time-limited codes (caps enforced in the database)."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.db.models import Q
from django.utils import timezone

from .. import locks
from ..exceptions import CouponInvalid, ErrorCode
from ..models import Coupon, CouponRedemption, Customer, Hold
from ..money import check_currency
from ..pricing import line_discount
from ..selectors_watch import watch_code_by_code
from . import watch_coupons

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I
CODE_PATTERN = re.compile(r"[A-Z0-9_-]{3,40}")


def coupon_code_generate(prefix: str = "", length: int = 8) -> str:
    """A random code like "LIVE-7KQ2M9XA" (unambiguous alphabet)."""
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return f"{prefix.upper()}-{body}" if prefix else body


def coupon_create(
    *,
    kind: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    code: str | None = None,
    percent_off=None,
    amount_off_minor: int | None = None,
    currency: str = "",
    session=None,
    drop=None,
    sku=None,
    customer: Customer | None = None,
    max_redemptions: int | None = None,
    per_customer_limit: int = 1,
    note: str = "",
    watch_seconds_required: int | None = None,
    watch_grace_minutes: int = 30,
) -> Coupon:
    """Create a coupon. `code` is upper-cased (random when omitted); times are aware datetimes.

    Percent coupons take `percent_off` (0 < p ≤ 100); fixed coupons take
    `amount_off_minor` (minor units, per line) and an ISO 4217 `currency`.
    `watch_seconds_required` makes it a watch-gated programme (docs/watch-coupons.md): it then needs
    a `session` or `drop` scope and no `customer`; `watch_grace_minutes` ≥ 0.
    Raises CouponInvalid for an inconsistent definition.
    """
    if valid_until <= valid_from:
        raise CouponInvalid("A coupon must end after it starts.")
    if code is not None and not CODE_PATTERN.fullmatch(code.strip().upper()):
        raise CouponInvalid("A coupon code is 3–40 letters, digits, '-' or '_' (no spaces).")
    if sum(x is not None for x in (session, drop, sku)) > 1:
        raise CouponInvalid("Scope a coupon to at most one of session, drop or SKU.")
    if kind == Coupon.Kind.FIXED:
        currency = check_currency(currency)
        if not amount_off_minor or amount_off_minor <= 0:
            raise CouponInvalid("A fixed coupon needs a positive amount.")
    elif kind == Coupon.Kind.PERCENT:
        if percent_off is None or not (0 < float(percent_off) <= 100):
            raise CouponInvalid("Percent off must be above 0 and at most 100.")
    else:
        raise CouponInvalid(f"Unknown coupon kind {kind!r}.")
    if watch_seconds_required is not None:
        if watch_seconds_required <= 0:
            raise CouponInvalid("A watch-gated coupon needs at least 1 second of watching.")
        if session is None and drop is None:
            raise CouponInvalid("A watch-gated coupon must be scoped to a session or a drop.")
        if customer is not None:
            raise CouponInvalid("A watch-gated coupon gives personal codes itself; leave the customer empty.")
    if watch_grace_minutes < 0:
        raise CouponInvalid("The grace period cannot be negative.")
    return Coupon.objects.create(
        code=(code or coupon_code_generate()).strip().upper(),
        kind=kind,
        percent_off=percent_off,
        amount_off_minor=amount_off_minor,
        currency=currency,
        valid_from=valid_from,
        valid_until=valid_until,
        session=session,
        drop=drop,
        sku=sku,
        customer=customer,
        max_redemptions=max_redemptions,
        per_customer_limit=per_customer_limit,
        note=note,
        watch_seconds_required=watch_seconds_required,
        watch_grace_minutes=watch_grace_minutes,
    )


def coupon_check(*, code: str, hold: Hold, now: dt.datetime) -> tuple[Coupon, int]:
    """Validate a code for a hold's line; returns (coupon, discount in minor units). Writes nothing.

    Raises CouponInvalid with code coupon_invalid (unknown/inactive),
    coupon_not_yet_valid, coupon_expired, coupon_not_applicable (scope, personal
    coupon of someone else, currency), coupon_customer_limit, coupon_exhausted.

    A watch-gated coupon's personal code (commerce.services.watch_coupons) resolves to its programme
    coupon, returned with `coupon.entered_watch_code` set (coupon_redeem redeems the code too) and
    `coupon.watch_code_expires_at` (UTC, None while the session is live); on top
    it may raise coupon_expired (session end + grace passed), coupon_not_applicable (the code is bound
    to another customer) and watch_code_used. The programme's own code raises watch_code_required.
    """
    normalized = (code or "").strip().upper()
    coupon = Coupon.objects.filter(code=normalized, is_active=True).first()
    watch_code = None
    if coupon is None:
        watch_code = watch_code_by_code(code=normalized)
        if watch_code is None or not watch_code.coupon.is_active:
            raise CouponInvalid("That coupon code does not exist.", code=ErrorCode.COUPON_INVALID)
        coupon = watch_code.coupon
    elif coupon.watch_seconds_required is not None:
        raise CouponInvalid(
            "That code is a watch reward: viewers who watch the live session get their own personal code.",
            code=ErrorCode.WATCH_CODE_REQUIRED,
        )
    coupon.entered_watch_code = watch_code
    coupon.watch_code_expires_at = None
    if now < coupon.valid_from:
        raise CouponInvalid("That coupon is not valid yet.", code=ErrorCode.COUPON_NOT_YET_VALID)
    if now >= coupon.valid_until:
        raise CouponInvalid("That coupon has expired.", code=ErrorCode.COUPON_EXPIRED)
    drop = hold.drop
    in_scope = (
        (coupon.session_id is None or coupon.session_id == drop.session_id)
        and (coupon.drop_id is None or coupon.drop_id == drop.pk)
        and (coupon.sku_id is None or coupon.sku_id == drop.sku_id)
        and (coupon.customer_id is None or coupon.customer_id == hold.customer_id)
    )
    if not in_scope:
        raise CouponInvalid("That coupon does not apply to this item.", code=ErrorCode.COUPON_NOT_APPLICABLE)
    if watch_code is not None:
        coupon.watch_code_expires_at = watch_coupons.watch_code_check(
            watch_code=watch_code, customer_id=hold.customer_id, now=now
        )
    if coupon.max_redemptions is not None and coupon.redemptions >= coupon.max_redemptions:
        raise CouponInvalid("That coupon has been used up.", code=ErrorCode.COUPON_EXHAUSTED)
    used = (
        CouponRedemption.objects.filter(coupon=coupon, customer_id=hold.customer_id, voided_at__isnull=True)
        .filter(~Q(order__status__in=["cancelled"]))
        .count()
    )
    if used >= coupon.per_customer_limit:
        raise CouponInvalid("You have already used that coupon.", code=ErrorCode.COUPON_CUSTOMER_LIMIT)
    discount = line_discount(
        coupon=coupon, unit_price_minor=hold.unit_price_minor, quantity=hold.quantity, currency=hold.currency
    )
    if discount <= 0:
        raise CouponInvalid("That coupon does not apply to this item.", code=ErrorCode.COUPON_NOT_APPLICABLE)
    return coupon, discount


def coupon_redeem(*, coupon: Coupon, order, discount_minor: int, now: dt.datetime | None = None) -> CouponRedemption:
    """Count a redemption against the cap and record it. Call inside the order's transaction.

    The total cap is one conditional UPDATE (backed by a CHECK constraint);
    raises CouponInvalid(coupon_exhausted) when the last use was just taken.
    A personal watch code entered at checkout (`coupon.entered_watch_code`, set by coupon_check) is
    redeemed (and bound to the order's customer) in the same transaction, before the cap is taken;
    raises CouponInvalid coupon_not_applicable / watch_code_used if it was taken meanwhile.
    """
    watch_code = getattr(coupon, "entered_watch_code", None)
    if watch_code is not None:
        watch_coupons.watch_code_take(watch_code=watch_code, order=order, now=now or timezone.now())
    if not locks.coupon_take_redemption(coupon_id=coupon.pk):
        raise CouponInvalid("That coupon has been used up.", code=ErrorCode.COUPON_EXHAUSTED)
    return CouponRedemption.objects.create(
        coupon=coupon, order=order, customer_id=order.customer_id, discount_minor=discount_minor, watch_code=watch_code
    )


def coupon_void_for_order(*, order, now: dt.datetime | None = None) -> None:
    """Give the order's redemption back to the cap (the order was cancelled). Idempotent.

    A personal watch code it used becomes usable again (by the same customer, while it has not expired).
    """
    now = now or timezone.now()
    redemption = CouponRedemption.objects.filter(order=order, voided_at__isnull=True).first()
    if redemption is None:
        return
    CouponRedemption.objects.filter(pk=redemption.pk).update(voided_at=now)
    locks.coupon_return_redemption(coupon_id=redemption.coupon_id)
    if redemption.watch_code_id:
        watch_coupons.watch_code_release_for_order(order=order)
