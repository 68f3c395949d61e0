"""The watch reward endpoint and panel (commerce.views_watch), and the whole path through the storefront:
watch → claim on the session page → hold from the same browser → checkout with the personal code."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics.middleware import COOKIE
from commerce.models import Coupon, CouponRedemption, Hold, Order, WatchCode
from tests.commerce.watch_support import live_drop, new_visitor, programme, watch
from tests.factories import LiveSessionFactory
from tests.watching import evidence

pytestmark = pytest.mark.django_db


def _viewer(vid: str | None = None) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    vid = vid or new_visitor()
    client.cookies[COOKIE] = vid
    return client, vid


def _url(session) -> str:
    return reverse("commerce:watch_reward", args=[session.public_id])


def test_get_is_personal_no_store_and_hands_out_a_csrf_token():
    coupon = programme(seconds=300, percent="15")
    client, vid = _viewer()
    watch(coupon.session, vid, seconds=100, start=timezone.now())
    response = client.get(_url(coupon.session))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    data = response.json()
    assert data["csrf_token"] and "csrftoken" in response.cookies
    assert data["session"] == "live"
    [reward] = data["rewards"]
    assert reward["coupon_id"] == coupon.pk and reward["offer"] == "15 % off"
    assert (reward["required_seconds"], reward["watched_seconds"], reward["seconds_left"]) == (300, 100, 200)
    assert reward["code"] is None
    assert coupon.code not in response.content.decode()  # the programme's own code is never shown


def test_claim_needs_the_csrf_token_from_the_get():
    coupon = programme(seconds=10)
    client, vid = _viewer()
    watch(coupon.session, vid, seconds=20, start=timezone.now())
    assert client.post(_url(coupon.session), {"coupon": coupon.pk}).status_code == 403
    token = client.get(_url(coupon.session)).json()["csrf_token"]
    response = client.post(_url(coupon.session), {"coupon": coupon.pk}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert response.json()["code"] == WatchCode.objects.get().code
    assert "no-store" in response["Cache-Control"]


def test_claim_answers_what_is_missing_and_the_body_cannot_claim_seconds():
    coupon = programme(seconds=300)
    client, vid = _viewer()
    watch(coupon.session, vid, seconds=60, start=timezone.now())
    token = client.get(_url(coupon.session)).json()["csrf_token"]
    response = client.post(
        _url(coupon.session),
        {"coupon": coupon.pk, "watched_seconds": 9999, "seconds": 9999},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "watch_not_enough"
    assert body["fields"] == {"seconds_left": 240, "watched_seconds": 60, "required_seconds": 300}
    assert evidence().get().watched_seconds == 60
    assert not WatchCode.objects.exists()


def test_one_viewer_never_sees_another_viewers_code():
    coupon = programme(seconds=10)
    ann, ann_vid = _viewer()
    watch(coupon.session, ann_vid, seconds=20, start=timezone.now())
    token = ann.get(_url(coupon.session)).json()["csrf_token"]
    code = ann.post(_url(coupon.session), {"coupon": coupon.pk}, headers={"X-CSRFToken": token}).json()["code"]
    assert ann.get(_url(coupon.session)).json()["rewards"][0]["code"] == code
    bob, _ = _viewer()
    page = bob.get(_url(coupon.session))
    assert page.json()["rewards"][0]["code"] is None and code not in page.content.decode()


@pytest.mark.parametrize(("value", "status"), [("abc", 400), ("1" * 30, 400), ("987654", 404), ("²", 400), ("①", 400)])
def test_bad_input_is_a_4xx_never_a_500(value, status):
    coupon = programme(seconds=10)
    client, _ = _viewer()
    token = client.get(_url(coupon.session)).json()["csrf_token"]
    response = client.post(_url(coupon.session), {"coupon": value}, headers={"X-CSRFToken": token})
    assert response.status_code == status
    assert response.json()["code"] in ("invalid", "not_found")


def test_unknown_session_is_404():
    client, _ = _viewer()
    assert client.get("/s/00000000-0000-0000-0000-000000000000/watch-reward/").status_code == 404


def test_claims_are_rate_limited_per_visitor(settings):
    settings.WATCH_CLAIM_RATE_LIMIT_VISITOR = 3
    coupon = programme(seconds=600)
    client, vid = _viewer()
    token = client.get(_url(coupon.session)).json()["csrf_token"]
    answers = [
        client.post(_url(coupon.session), {"coupon": coupon.pk}, headers={"X-CSRFToken": token}) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [409, 409, 409, 429]
    assert answers[-1].json()["code"] == "rate_limited" and int(answers[-1]["Retry-After"]) >= 1


def test_the_session_page_has_the_panel_while_live_and_not_before():
    coupon = programme(seconds=60)
    html = Client().get(coupon.session.get_absolute_url()).content.decode()
    assert f'data-watch-reward-url="{_url(coupon.session)}"' in html and "js/watch_reward.js" in html
    assert "<script>" not in html  # CSP: no inline script
    scheduled = LiveSessionFactory(status="scheduled")
    assert "data-watch-reward" not in Client().get(scheduled.get_absolute_url()).content.decode()


def test_end_to_end_watch_claim_hold_and_checkout_with_the_code():
    # given a live session with a drop and a 20 % reward after 2 minutes of watching
    coupon = programme(seconds=120)
    drop = live_drop(coupon.session, price_minor=5000)
    client, vid = _viewer()
    # when the viewer's page has polled for 2 minutes (server evidence) and the script claims
    watch(coupon.session, vid, seconds=120, start=timezone.now())
    token = client.get(_url(coupon.session)).json()["csrf_token"]
    claim = client.post(_url(coupon.session), {"coupon": coupon.pk}, headers={"X-CSRFToken": token})
    code = claim.json()["code"]
    # and they buy from the same browser (the storefront's real forms)
    client = Client()  # the buy forms carry their own CSRF token; the visitor cookie is what matters
    client.cookies[COOKIE] = vid
    response = client.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "ann@example.com", "quantity": 1})
    hold = Hold.objects.get()
    assert response["Location"] == reverse("commerce:hold", args=[hold.token])
    assert WatchCode.objects.get().customer_id == hold.customer_id  # bound when the hold was placed
    applied = client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": code, "apply": "1"})
    cart = applied.content.decode()
    assert applied.status_code == 200 and "$10.00" in cart
    # the cart names the personal code's real cutoff (session end + grace), not the programme's window
    assert "Your personal code works until 30 minutes after the session ends" in cart
    response = client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": code, "pay": "1"})
    # then the order has the programme's discount, the code is used up, the programme counted it
    order = Order.objects.get()
    assert response.status_code == 302
    assert (order.subtotal_minor, order.discount_minor) == (5000, 1000)
    used = WatchCode.objects.get()
    assert used.order_id == order.pk and used.redeemed_at is not None
    assert CouponRedemption.objects.get().watch_code_id == used.pk
    assert Coupon.objects.get(pk=coupon.pk).redemptions == 1
