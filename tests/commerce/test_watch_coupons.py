"""Watch-gated coupons (docs/watch-coupons.md): the evidence gate, personal codes bound to a customer,
single use, caps shared with the programme, expiry at session end + grace, the programme code refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics.models import VisitorAlias
from commerce.access import NotFound
from commerce.exceptions import CouponInvalid, ErrorCode, WatchRewardUnavailable
from commerce.models import Coupon, CouponRedemption, Order, WatchCode
from commerce.services.coupons import coupon_check, coupon_create
from commerce.services.customers import customer_get_or_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_cancel, order_place
from commerce.services.watch_coupons import watch_code_claim, watch_code_take, watch_codes_bind_visitor
from tests.commerce.watch_support import live_drop, new_visitor, programme, watch
from tests.factories import LiveSessionFactory
from tests.watching import evidence

pytestmark = pytest.mark.django_db


def _claimed(coupon, *, seconds=None, vid=None):
    """A viewer who watched enough (or `seconds`) and claimed their code."""
    vid = vid or new_visitor()
    session = coupon.session or coupon.drop.session
    watch(session, vid, seconds=coupon.watch_seconds_required if seconds is None else seconds, start=timezone.now())
    return vid, watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now())


def _claimed_by(coupon, email):
    """A viewer who watched enough, claimed a code and was identified as `email` in that browser."""
    vid, code = _claimed(coupon)
    watch_codes_bind_visitor(visitor_id=vid, customer_id=customer_get_or_create(email=email).pk, now=timezone.now())
    code.refresh_from_db()
    return code


# --- the evidence gate -------------------------------------------------------------------------------


def test_not_enough_watching_is_refused_with_the_seconds_missing_then_the_code_is_issued():
    coupon = programme(seconds=300)
    session, vid, now = coupon.session, new_visitor(), timezone.now()
    # given a viewer whose polls were recorded for 120 s
    last = watch(session, vid, seconds=120, start=now)
    # when they claim, then they are told how much is missing (server evidence, not their word)
    with pytest.raises(WatchRewardUnavailable) as exc:
        watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=now)
    assert exc.value.code == ErrorCode.WATCH_NOT_ENOUGH and exc.value.status == 409
    assert exc.value.extra == {"seconds_left": 180, "watched_seconds": 120, "required_seconds": 300}
    assert not WatchCode.objects.exists()
    # when they keep watching to 300 s
    watch(session, vid, seconds=180, start=last + dt.timedelta(seconds=10))
    code = watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=now)
    # then they get a personal code of the programme, unguessable, not bound to anyone yet
    assert code.coupon_id == coupon.pk and code.session_id == session.pk
    assert code.code.startswith("W-") and len(code.code) == 12 and code.code != coupon.code
    assert code.customer_id is None and code.watched_seconds >= 300
    # and claiming again (by coupon or by session) returns the very same code
    assert watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=now).pk == code.pk
    assert watch_code_claim(session_id=session.pk, visitor_id=vid, now=now).pk == code.pk
    assert WatchCode.objects.count() == 1


def test_claiming_adds_no_watched_seconds_and_without_a_cookie_nothing_counts():
    coupon = programme(seconds=60)
    vid = new_visitor()
    watch(coupon.session, vid, seconds=30, start=timezone.now())
    before = evidence().get().watched_seconds
    for _ in range(5):  # asking over and over is not watching
        with pytest.raises(WatchRewardUnavailable):
            watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now())
    assert evidence().get().watched_seconds == before == 30
    for missing in (None, "", "not-a-visitor"):
        with pytest.raises(WatchRewardUnavailable) as exc:
            watch_code_claim(coupon_id=coupon.pk, visitor_id=missing, now=timezone.now())
        assert exc.value.extra["seconds_left"] == 60


def test_evidence_of_another_session_does_not_count():
    coupon = programme(seconds=60)
    vid = new_visitor()
    watch(LiveSessionFactory(status="live"), vid, seconds=600, start=timezone.now())
    with pytest.raises(WatchRewardUnavailable) as exc:
        watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now())
    assert exc.value.code == ErrorCode.WATCH_NOT_ENOUGH


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"is_active": False}, ErrorCode.WATCH_COUPON_CLOSED),
        ({"valid_until_shift": -13}, ErrorCode.WATCH_COUPON_CLOSED),
        ({"session_status": "scheduled"}, ErrorCode.WATCH_COUPON_CLOSED),
        ({"session_status": "cancelled"}, ErrorCode.WATCH_COUPON_CLOSED),
    ],
)
def test_closed_programmes_issue_no_codes(change, code):
    coupon = programme(seconds=10)
    vid = new_visitor()
    watch(coupon.session, vid, seconds=20, start=timezone.now())
    if "is_active" in change:
        Coupon.objects.filter(pk=coupon.pk).update(is_active=False)
    if "valid_until_shift" in change:
        Coupon.objects.filter(pk=coupon.pk).update(
            valid_from=timezone.now() - dt.timedelta(days=1),
            valid_until=timezone.now() + dt.timedelta(hours=change["valid_until_shift"]),
        )
    if "session_status" in change:
        coupon.session.status = change["session_status"]
        coupon.session.ended_at = timezone.now() if change["session_status"] == "cancelled" else None
        coupon.session.save()
    with pytest.raises(WatchRewardUnavailable) as exc:
        watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now())
    assert exc.value.code == code
    assert not WatchCode.objects.exists()


def test_a_claim_names_a_programme_of_that_session_or_gets_404():
    coupon = programme(seconds=10)
    other = LiveSessionFactory(status="live")
    ordinary = coupon_create(
        kind="percent", percent_off=5, valid_from=coupon.valid_from, valid_until=coupon.valid_until, session=other
    )
    vid = new_visitor()
    watch(coupon.session, vid, seconds=20, start=timezone.now())
    for coupon_id, session_id in ((coupon.pk, other.pk), (ordinary.pk, other.pk), (987654, None)):
        with pytest.raises(NotFound) as exc:
            watch_code_claim(coupon_id=coupon_id, session_id=session_id, visitor_id=vid, now=timezone.now())
        assert exc.value.status == 404
    with pytest.raises(WatchRewardUnavailable) as exc:
        watch_code_claim(session_id=other.pk, visitor_id=vid, now=timezone.now())
    assert exc.value.code == ErrorCode.WATCH_COUPON_CLOSED


# --- the programme's own code ---------------------------------------------------------------------


def test_the_programme_code_itself_is_refused_at_checkout():
    coupon = programme(seconds=60)
    drop = live_drop(coupon.session)
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=coupon.code.lower())
    assert exc.value.code == ErrorCode.WATCH_CODE_REQUIRED
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 0
    assert not Order.objects.exists()


# --- binding, single use, void ----------------------------------------------------------------------


def test_a_hold_from_the_viewers_browser_binds_the_code_and_nobody_else_can_use_it():
    coupon = programme(seconds=60)
    drop = live_drop(coupon.session)
    vid, code = _claimed(coupon)
    # when the viewer places a hold from the same browser (same visitor cookie)
    hold = hold_place(drop_id=drop.pk, email="Ann@Example.com", quantity=1, visitor_id=vid)
    code.refresh_from_db()
    # then the code is bound to that customer
    assert code.customer_id == hold.customer_id and code.bound_at is not None
    # and another customer who got the code cannot use it
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="bob@example.com", quantity=1, coupon_code=code.code)
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE
    # while the viewer can: the discount is the programme's, counted on the programme
    order = checkout_start(hold_token=hold.token, coupon_code=code.code.lower())
    assert order.discount_minor == round(drop.price_minor * 0.2)
    redemption = CouponRedemption.objects.get()
    assert (redemption.coupon_id, redemption.watch_code_id, redemption.customer_id) == (
        coupon.pk,
        code.pk,
        hold.customer_id,
    )
    code.refresh_from_db()
    assert code.redeemed_at is not None and code.order_id == order.pk
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 1


def test_a_code_is_single_use_and_a_cancelled_order_frees_it():
    coupon = programme(seconds=60, per_customer_limit=5)
    drop = live_drop(coupon.session)
    vid, code = _claimed(coupon)
    first = order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=code.code, visitor_id=vid)
    assert first.discount_minor > 0
    # a second use by the same customer: refused, nothing redeemed twice
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=code.code)
    assert exc.value.code == ErrorCode.WATCH_CODE_USED
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 1
    # the order is cancelled: its redemption is voided and the code works again (for the same customer)
    order_cancel(order_id=first.pk)
    code.refresh_from_db()
    assert (code.redeemed_at, code.order_id) == (None, None)
    assert code.customer_id == first.customer_id
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 0
    again = order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=code.code)
    assert again.discount_minor == first.discount_minor
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="bob@example.com", quantity=1, coupon_code=code.code)
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE


def test_a_code_never_bound_in_the_browser_that_earned_it_is_refused_shared_or_farmed():
    """QA: one client farmed codes with made-up cookies and handed them to strangers. A code binds only
    through the earning browser (a hold or the cart placed from it); an unbound code is refused."""
    coupon = programme(seconds=60)
    drop = live_drop(coupon.session)
    vid, code = _claimed(coupon)  # shared before the viewer ever placed a hold
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="bob@example.com", quantity=1, coupon_code=code.code)
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE
    code.refresh_from_db()
    assert code.customer_id is None and code.redeemed_at is None
    # the earning browser places a hold: the code is bound to that buyer and works for them
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, visitor_id=vid)
    order = checkout_start(hold_token=hold.token, coupon_code=code.code)
    code.refresh_from_db()
    assert code.customer_id == order.customer_id and code.order_id == order.pk


def test_a_visitor_identified_before_claiming_gets_a_bound_code():
    coupon = programme(seconds=60)
    ann = customer_get_or_create(email="ann@example.com")
    vid = new_visitor()
    VisitorAlias.objects.create(visitor_id=vid, customer_id=ann.pk, identified_at=timezone.now())
    _vid, code = _claimed(coupon, vid=vid)
    assert code.customer_id == ann.pk


def test_binding_never_moves_a_bound_code():
    coupon = programme(seconds=60)
    drop = live_drop(coupon.session)
    vid, code = _claimed(coupon)
    ann = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, visitor_id=vid)
    hold_place(drop_id=drop.pk, email="bob@example.com", quantity=1, visitor_id=vid)  # same browser, another e-mail
    code.refresh_from_db()
    assert code.customer_id == ann.customer_id


# --- caps of the programme ----------------------------------------------------------------------------


def test_personal_codes_count_towards_the_programme_cap():
    coupon = programme(seconds=60, max_redemptions=2)
    drop = live_drop(coupon.session)
    codes = [_claimed_by(coupon, f"v{i}@example.com") for i in range(3)]
    for i, code in enumerate(codes[:2]):
        order_place(drop_id=drop.pk, email=f"v{i}@example.com", quantity=1, coupon_code=code.code)
    # the cap of 2 is reached through personal codes: the third is refused
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="v2@example.com", quantity=1, coupon_code=codes[2].code)
    assert exc.value.code == ErrorCode.COUPON_EXHAUSTED
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 2
    # and a viewer who qualifies now gets no code for a used-up programme
    with pytest.raises(WatchRewardUnavailable) as exc:
        _claimed(coupon)
    assert exc.value.code == ErrorCode.COUPON_EXHAUSTED


def test_per_customer_limit_counts_personal_codes_of_several_browsers():
    coupon = programme(seconds=60, per_customer_limit=1)
    drop = live_drop(coupon.session)
    phone, laptop = _claimed_by(coupon, "ann@example.com"), _claimed_by(coupon, "ann@example.com")
    order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=phone.code)
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=laptop.code)
    assert exc.value.code == ErrorCode.COUPON_CUSTOMER_LIMIT


def test_a_drop_scoped_programme_applies_to_that_drop_only():
    session = LiveSessionFactory(status="live")
    drop, other = live_drop(session), live_drop(session)
    coupon = programme(drop=drop, seconds=60)
    code = _claimed_by(coupon, "ann@example.com")
    with pytest.raises(CouponInvalid) as exc:
        order_place(drop_id=other.pk, email="ann@example.com", quantity=1, coupon_code=code.code)
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE
    assert order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=code.code).discount_minor


# --- expiry: session end + grace ----------------------------------------------------------------------


def test_codes_expire_at_the_session_end_plus_grace():
    coupon = programme(seconds=60, grace=30)
    drop = live_drop(coupon.session)
    vid, code = _claimed(coupon)
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, visitor_id=vid)
    ended = timezone.now()
    session = coupon.session
    session.status, session.ended_at = "ended", ended
    session.save()
    # 29 minutes after the end: still good; 30: expired
    coupon_check(code=code.code, hold=hold, now=ended + dt.timedelta(minutes=29))
    with pytest.raises(CouponInvalid) as exc:
        coupon_check(code=code.code, hold=hold, now=ended + dt.timedelta(minutes=30))
    assert exc.value.code == ErrorCode.COUPON_EXPIRED
    # a viewer who watched enough can still claim within the grace, not after it
    vid2 = new_visitor()
    watch(session, vid2, seconds=60, start=ended - dt.timedelta(minutes=2))
    assert watch_code_claim(coupon_id=coupon.pk, visitor_id=vid2, now=ended + dt.timedelta(minutes=10))
    vid3 = new_visitor()
    watch(session, vid3, seconds=60, start=ended - dt.timedelta(minutes=2))
    with pytest.raises(WatchRewardUnavailable) as exc:
        watch_code_claim(coupon_id=coupon.pk, visitor_id=vid3, now=ended + dt.timedelta(minutes=31))
    assert exc.value.code == ErrorCode.WATCH_COUPON_CLOSED


def test_an_ended_session_without_a_recorded_end_uses_its_planned_end():
    coupon = programme(seconds=60, grace=10)
    drop = live_drop(coupon.session)
    vid, code = _claimed(coupon)
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, visitor_id=vid)
    session = coupon.session
    session.status, session.ended_at = "ended", None
    session.save()
    planned_end = session.starts_at + dt.timedelta(seconds=session.duration_seconds)
    coupon_check(code=code.code, hold=hold, now=planned_end + dt.timedelta(minutes=9))
    with pytest.raises(CouponInvalid) as exc:
        coupon_check(code=code.code, hold=hold, now=planned_end + dt.timedelta(minutes=10))
    assert exc.value.code == ErrorCode.COUPON_EXPIRED


# --- definition -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "scoped to a session or a drop"),
        ({"watch_seconds_required": 0, "session": True}, "at least 1 second"),
    ],
)
def test_a_watch_gated_coupon_needs_a_session_or_drop_scope(kwargs, message):
    now = timezone.now()
    args = {"watch_seconds_required": 60, **kwargs}
    if args.pop("session", None):
        args["session"] = LiveSessionFactory()
    with pytest.raises(CouponInvalid, match=message):
        coupon_create(kind="percent", percent_off=10, valid_from=now, valid_until=now + dt.timedelta(hours=1), **args)


def test_the_redeeming_update_itself_refuses_a_code_not_bound_to_the_orders_buyer():
    # given a code bound to ann, and bob's order (as if a check had been skipped or raced)
    coupon = programme(seconds=60)
    drop = live_drop(coupon.session)
    code = _claimed_by(coupon, "ann@example.com")
    bob_order = checkout_start(hold_token=hold_place(drop_id=drop.pk, email="bob@example.com", quantity=1).token)
    # then the conditional UPDATE that redeems it refuses
    with pytest.raises(CouponInvalid) as exc:
        watch_code_take(watch_code=code, order=bob_order, now=timezone.now())
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE
    code.refresh_from_db()
    assert code.redeemed_at is None and code.order_id is None
