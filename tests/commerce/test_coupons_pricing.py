"""Coupons (window, scope, caps, rounding) and dynamic pricing: shown = held = charged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from commerce.exceptions import CouponInvalid, ErrorCode
from commerce.models import Coupon, Drop, Order
from commerce.pricing import drop_price_quote, price_schedule_table
from commerce.selectors import drop_status, drop_with_stock
from commerce.services.coupons import coupon_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_cancel, order_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def window(minutes=30):
    now = timezone.now()
    return {"valid_from": now - dt.timedelta(minutes=1), "valid_until": now + dt.timedelta(minutes=minutes)}


def test_percent_coupon_rounds_per_line_half_up_and_totals_agree():
    drop = make_drop(quantity=5, price_minor=1999)
    coupon_create(code="live15", kind="percent", percent_off=Decimal("15"), **window())
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1, coupon_code=" Live15 ")
    # 15% of 19.99 = 2.9985 → 3.00 (half-up per line)
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (1999, 300, 1699)
    line = order.lines.get()
    assert (line.discount_minor, line.total_minor) == (300, 1699)
    assert Coupon.objects.get(code="LIVE15").redemptions == 1


def test_fixed_coupon_in_yen_and_currency_mismatch():
    drop = make_drop(quantity=5, price_minor=1500, currency="JPY")
    coupon_create(code="YEN200", kind="fixed", amount_off_minor=200, currency="JPY", **window())
    coupon_create(code="USD5", kind="fixed", amount_off_minor=500, currency="USD", **window())
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=2, coupon_code="yen200")
    assert (order.total_minor, order.currency) == (2800, "JPY")
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="b@example.com", quantity=1, coupon_code="usd5")
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE


@pytest.mark.parametrize(
    ("shift", "code"),
    [(dt.timedelta(hours=1), ErrorCode.COUPON_NOT_YET_VALID), (-dt.timedelta(hours=2), ErrorCode.COUPON_EXPIRED)],
)
def test_coupon_window(shift, code):
    drop = make_drop(quantity=5)
    now = timezone.now() + shift
    coupon_create(code="WIN", kind="percent", percent_off=10, valid_from=now, valid_until=now + dt.timedelta(hours=1))
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="a@example.com", quantity=1, coupon_code="win")
    assert exc.value.code == code
    assert Drop.objects.get(pk=drop.pk).available == 5  # the hold was released


def test_coupon_scope_and_caps():
    drop = make_drop(quantity=9, per_customer_limit=3)
    other = make_drop(quantity=9)
    coupon_create(code="DROPONLY", kind="percent", percent_off=10, drop=drop, max_redemptions=2, **window())
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=other.pk, email="a@example.com", quantity=1, coupon_code="droponly")
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE
    first = order_place(drop_id=drop.pk, email="a@example.com", quantity=1, coupon_code="droponly")
    with pytest.raises(CouponInvalid) as exc:  # per-customer cap (1 by default)
        order_place(drop_id=drop.pk, email="a@example.com", quantity=1, coupon_code="droponly")
    assert exc.value.code == ErrorCode.COUPON_CUSTOMER_LIMIT
    order_place(drop_id=drop.pk, email="b@example.com", quantity=1, coupon_code="droponly")
    with pytest.raises(CouponInvalid) as exc:  # total cap
        order_place(drop_id=drop.pk, email="c@example.com", quantity=1, coupon_code="droponly")
    assert exc.value.code == ErrorCode.COUPON_EXHAUSTED
    # cancelling an order gives its use back
    order_cancel(order_id=first.pk)
    assert Coupon.objects.get(code="DROPONLY").redemptions == 1
    assert order_place(drop_id=drop.pk, email="c@example.com", quantity=1, coupon_code="droponly").discount_minor == 430


def test_personal_coupon_only_for_its_customer():
    from commerce.services.customers import customer_get_or_create

    drop = make_drop(quantity=5)
    coupon_create(
        code="FORANN",
        kind="percent",
        percent_off=20,
        customer=customer_get_or_create(email="ann@example.com"),
        **window(),
    )
    with pytest.raises(CouponInvalid):
        order_place(drop_id=drop.pk, email="bob@example.com", quantity=1, coupon_code="forann")
    assert order_place(drop_id=drop.pk, email="ANN@example.com", quantity=1, coupon_code="forann").discount_minor == 860


def test_step_down_price_is_shown_held_and_charged_alike():
    drop = make_drop(
        quantity=10,
        opens_in=-(7 * 60 + 5),
        price_minor=10000,
        pricing=Drop.Pricing.STEP_DOWN,
        step_percent=Decimal("10"),
        step_seconds=180,
        floor_price_minor=7500,
    )
    drop = drop_with_stock(drop_id=drop.pk)
    now = timezone.now()
    quote = drop_price_quote(drop, now=now)
    assert (quote.step, quote.unit_price_minor) == (2, 8000)  # 7 min in, steps every 3 min, −10% each
    shown = drop_status(drop=drop, now=now)["price_minor"]
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2, now=now)
    order = checkout_start(hold_token=hold.token, now=now)
    assert shown == hold.unit_price_minor == order.lines.get().unit_price_minor == 8000
    assert order.total_minor == 16000
    # the floor holds later on
    later = drop_price_quote(drop, now=now + dt.timedelta(hours=1))
    assert later.unit_price_minor == 7500 and later.next_change_at is None
    table = price_schedule_table(drop, now=now)
    assert [r["unit_price_minor"] for r in table] == [10000, 9000, 8000, 7500]
    assert [r["current"] for r in table] == [False, False, True, False]


def test_step_up_follows_sell_through_and_a_hold_keeps_its_price():
    drop = make_drop(
        quantity=4,
        per_customer_limit=4,
        price_minor=1000,
        pricing=Drop.Pricing.STEP_UP,
        step_up_tiers=[{"sell_through": 50, "percent": 20}],
    )
    first = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    assert first.unit_price_minor == 1000
    second = hold_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    assert second.unit_price_minor == 1200  # 50% sold or held
    order = checkout_start(hold_token=first.token)
    assert order.total_minor == 2000  # the first hold's price, locked
    assert Order.objects.get(pk=order.pk).lines.get().unit_price_minor == 1000
