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
) -> Coupon:
    """Create a coupon. `code` is upper-cased (random when omitted); times are aware datetimes.

    Percent coupons take `percent_off` (0 < p ≤ 100); fixed coupons take
    `amount_off_minor` (minor units, per line) and an ISO 4217 `currency`.
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
    )


def coupon_check(*, code: str, hold: Hold, now: dt.datetime) -> tuple[Coupon, int]:
    """Validate a code for a hold's line; returns (coupon, discount in minor units). Writes nothing.

    Raises CouponInvalid with code coupon_invalid (unknown/inactive),
    coupon_not_yet_valid, coupon_expired, coupon_not_applicable (scope, personal
    coupon of someone else, currency), coupon_customer_limit, coupon_exhausted.
    """
    coupon = Coupon.objects.filter(code=(code or "").strip().upper(), is_active=True).first()
    if coupon is None:
        raise CouponInvalid("That coupon code does not exist.", code=ErrorCode.COUPON_INVALID)
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


def coupon_redeem(*, coupon: Coupon, order, discount_minor: int) -> CouponRedemption:
    """Count a redemption against the cap and record it. Call inside the order's transaction.

    The total cap is one conditional UPDATE (backed by a CHECK constraint);
    raises CouponInvalid(coupon_exhausted) when the last use was just taken.
    """
    if not locks.coupon_take_redemption(coupon_id=coupon.pk):
        raise CouponInvalid("That coupon has been used up.", code=ErrorCode.COUPON_EXHAUSTED)
    return CouponRedemption.objects.create(
        coupon=coupon, order=order, customer_id=order.customer_id, discount_minor=discount_minor
    )


def coupon_void_for_order(*, order, now: dt.datetime | None = None) -> None:
    """Give the order's redemption back to the cap (the order was cancelled). Idempotent."""
    now = now or timezone.now()
    redemption = CouponRedemption.objects.filter(order=order, voided_at__isnull=True).first()
    if redemption is None:
        return
    CouponRedemption.objects.filter(pk=redemption.pk).update(voided_at=now)
    locks.coupon_return_redemption(coupon_id=redemption.coupon_id)
