"""Back office for watch-gated coupons: the gate in the coupon form, counts, the read-only code list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from commerce.models import Coupon
from commerce.services.customers import customer_get_or_create
from commerce.services.orders import order_place
from commerce.services.watch_coupons import watch_code_claim, watch_codes_bind_visitor
from tests.commerce.watch_support import live_drop, new_visitor, programme, watch
from tests.factories import LiveSessionFactory, make_staff

pytestmark = pytest.mark.django_db


def _form(**extra):
    data = {
        "code": "",
        "kind": "percent",
        "percent_off": "10",
        "currency": "",
        "valid_from_0": "2026-07-03",
        "valid_from_1": "19:00:00",
        "valid_until_0": "2026-07-04",
        "valid_until_1": "19:25:00",
        "per_customer_limit": "1",
        "is_active": "on",
        "watch_grace_minutes": "",
    }
    return {**data, **extra}


def test_a_gated_coupon_without_a_session_or_drop_is_a_clear_form_error(admin_client):
    response = admin_client.post(reverse("admin:commerce_coupon_add"), _form(watch_seconds_required="300"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "scoped to a session or a drop" in errors["watch_seconds_required"][0]
    assert not Coupon.objects.exists()


def test_a_gated_coupon_scoped_to_a_session_is_saved_and_shows_its_codes(admin_client):
    session = LiveSessionFactory(status="live")
    response = admin_client.post(
        reverse("admin:commerce_coupon_add"),
        _form(watch_seconds_required="120", watch_grace_minutes="15", session=str(session.pk)),
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    coupon = Coupon.objects.get()
    assert (coupon.watch_seconds_required, coupon.watch_grace_minutes, coupon.session_id) == (120, 15, session.pk)
    # two viewers claim, one buys
    Coupon.objects.filter(pk=coupon.pk).update(
        valid_from=timezone.now(), valid_until=timezone.now() + dt.timedelta(hours=1)
    )
    drop = live_drop(session)
    codes = []
    for _ in range(2):
        vid = new_visitor()
        watch(session, vid, seconds=120, start=timezone.now())
        codes.append(watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now()))
    ann = customer_get_or_create(email="ann@example.com")  # identified in the first viewer's browser
    watch_codes_bind_visitor(visitor_id=codes[0].visitor_id, customer_id=ann.pk, now=timezone.now())
    order_place(drop_id=drop.pk, email="ann@example.com", quantity=1, coupon_code=codes[0].code)
    page = admin_client.get(reverse("admin:commerce_coupon_change", args=[coupon.pk])).content.decode()
    assert "2 issued, 1 redeemed" in page
    listing = admin_client.get(reverse("admin:commerce_watchcode_changelist") + "?q=ann@example.com").content.decode()
    assert codes[0].code in listing and codes[1].code not in listing
    assert (
        codes[0].visitor_id
        not in admin_client.get(reverse("admin:commerce_watchcode_change", args=[codes[0].pk])).content.decode()
    )


def test_an_ordinary_coupon_keeps_working_with_an_empty_gate(admin_client):
    response = admin_client.post(reverse("admin:commerce_coupon_add"), _form(code="plain10"))
    assert response.status_code == 302
    assert Coupon.objects.get().watch_seconds_required is None


def test_codes_are_read_only_and_seen_by_the_roles_that_need_them():
    coupon = programme(seconds=10)
    vid = new_visitor()
    watch(coupon.session, vid, seconds=10, start=timezone.now())
    code = watch_code_claim(coupon_id=coupon.pk, visitor_id=vid, now=timezone.now())
    for role, status in (("support", 200), ("host", 200), ("analyst", 200), ("fulfilment", 403)):
        client = Client()
        client.force_login(make_staff(f"{role}-user", role=role))
        assert client.get(reverse("admin:commerce_watchcode_changelist")).status_code == status, role
    client = Client()
    client.force_login(make_staff("support-2", role="support"))
    assert client.get(reverse("admin:commerce_watchcode_add")).status_code == 403
    assert client.post(reverse("admin:commerce_watchcode_delete", args=[code.pk]), {"post": "yes"}).status_code == 403
