"""Partner API: a session's watch-gated coupons with personal codes issued and redeemed."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.models import Partner
from commerce.services.api_keys import api_key_create
from commerce.services.coupons import coupon_create
from commerce.services.customers import customer_get_or_create
from commerce.services.orders import order_place
from commerce.services.watch_coupons import watch_code_claim, watch_codes_bind_visitor
from tests.commerce.watch_support import live_drop, new_visitor, programme, watch
from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db


def _key(scopes):
    partner, _ = Partner.objects.get_or_create(name="P")
    return {"X-API-Key": api_key_create(partner=partner, name="k", scopes=scopes)[1]}


def test_lists_a_sessions_programmes_with_counts_and_nothing_personal(client):
    coupon = programme(seconds=120, max_redemptions=10)
    drop = live_drop(coupon.session)
    drop_programme = programme(drop=drop, seconds=600, percent="30")
    coupon_create(  # an ordinary coupon of the session is not a watch reward
        kind="percent",
        percent_off=5,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        session=coupon.session,
    )
    programme(session=LiveSessionFactory(), seconds=60)  # another session's
    codes = []
    for _ in range(3):
        vid = new_visitor()
        watch(coupon.session, vid, seconds=120, start=timezone.now())
        codes.append(watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now()))
    ann = customer_get_or_create(email="ann@example.com")  # identified in the first viewer's browser
    watch_codes_bind_visitor(visitor_id=codes[0].visitor_id, customer_id=ann.pk, now=timezone.now())
    order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=codes[0].code)
    response = client.get(f"/api/v1/sessions/{coupon.session.public_id}/watch-coupons", headers=_key(["coupons:read"]))
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2
    first, second = data["items"]
    assert (first["id"], first["watch_seconds_required"], first["drop_id"]) == (coupon.pk, 120, None)
    assert (first["codes_issued"], first["codes_redeemed"], first["redemptions"]) == (3, 1, 1)
    assert (second["id"], second["drop_id"], second["codes_issued"]) == (drop_programme.pk, drop.pk, 0)
    body = response.content.decode()
    assert coupon.code not in body and all(c.code not in body and c.visitor_id not in body for c in codes)


def test_needs_the_scope_and_a_real_session(client):
    session = LiveSessionFactory()
    url = f"/api/v1/sessions/{session.public_id}/watch-coupons"
    assert client.get(url, headers=_key(["sessions:read"])).status_code == 403
    assert client.get(url).status_code == 401
    missing = client.get(
        "/api/v1/sessions/00000000-0000-0000-0000-000000000000/watch-coupons", headers=_key(["coupons:read"])
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
