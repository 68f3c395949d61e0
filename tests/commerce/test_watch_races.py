"""Watch-gated coupons under real concurrency (PostgreSQL, threads on their own connections)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.exceptions import CouponInvalid, ErrorCode
from commerce.models import Coupon, CouponRedemption, Order, WatchCode
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from commerce.services.watch_coupons import watch_code_claim
from tests.commerce.test_races import race
from tests.commerce.watch_support import live_drop, new_visitor, programme, watch

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _claimed(coupon) -> WatchCode:
    vid = new_visitor()
    watch(coupon.session, vid, seconds=coupon.watch_seconds_required, start=timezone.now())
    return watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now())


def test_many_claims_for_one_visitor_issue_one_code():
    coupon = programme(seconds=30)
    vid = new_visitor()
    watch(coupon.session, vid, seconds=30, start=timezone.now())
    results = race(40, lambda i: watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now()))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    assert len({r.code for r in results}) == 1
    assert WatchCode.objects.filter(coupon=coupon, visitor_id=vid).count() == 1


def test_personal_codes_racing_for_a_cap_of_n_redeem_exactly_n():
    cap, racers = 5, 30
    coupon = programme(seconds=10, max_redemptions=cap)
    drop = live_drop(coupon.session, quantity=racers * 2, per_customer_limit=1)
    codes = [_claimed(coupon) for _ in range(racers)]
    # each viewer places a hold from the browser that earned the code (which binds it to them)
    holds = [
        hold_place(drop_id=drop.pk, email=f"v{i}@example.com", quantity=1, visitor_id=codes[i].visitor_id)
        for i in range(racers)
    ]
    results = race(racers, lambda i: checkout_start(hold_token=holds[i].token, coupon_code=codes[i].code))
    won = [r for r in results if isinstance(r, Order)]
    lost = [r for r in results if not isinstance(r, Order)]
    assert len(won) == cap
    assert all(isinstance(r, CouponInvalid) and r.code == ErrorCode.COUPON_EXHAUSTED for r in lost), lost[:3]
    assert Coupon.objects.get(pk=coupon.pk).redemptions == cap
    assert CouponRedemption.objects.filter(coupon=coupon, voided_at__isnull=True).count() == cap
    # the losers' codes were not used up by their failed checkouts (the transaction rolled back)
    assert WatchCode.objects.filter(redeemed_at__isnull=False).count() == cap
    assert WatchCode.objects.filter(order__isnull=False).count() == cap


def test_one_code_racing_in_many_checkouts_of_its_buyer_is_redeemed_once():
    racers = 12
    coupon = programme(seconds=10, per_customer_limit=racers)
    drop = live_drop(coupon.session, quantity=racers * 2, per_customer_limit=racers)
    code = _claimed(coupon)
    # the viewer's browser places many carts (binding the code to ann), then all check out at once with it
    holds = [
        hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, visitor_id=code.visitor_id)
        for _ in range(racers)
    ]
    results = race(racers, lambda i: checkout_start(hold_token=holds[i].token, coupon_code=code.code))
    won = [r for r in results if isinstance(r, Order)]
    lost = [r for r in results if not isinstance(r, Order)]
    assert len(won) == 1
    assert all(isinstance(r, CouponInvalid) and r.code == ErrorCode.WATCH_CODE_USED for r in lost), lost[:3]
    code.refresh_from_db()
    assert code.order_id == won[0].pk and code.customer_id == won[0].customer_id
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 1
