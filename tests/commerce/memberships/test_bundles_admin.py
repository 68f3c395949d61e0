"""The bundle admin (docs/bundles.md): create through the services (with a new private session), cap rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.models import Bundle
from commerce.services.holds import hold_place
from sessions_app.models import LiveSession
from tests.commerce.memberships.bundle_support import bundle_drop
from tests.factories import make_drop, make_staff

pytestmark = pytest.mark.django_db


def _host(client):
    client.force_login(make_staff("host", role="host"))


def test_a_host_creates_a_bundle_with_a_new_private_session(client):
    _host(client)
    drop = make_drop(quantity=10)
    starts = timezone.localtime(timezone.now() + dt.timedelta(days=1))  # whatever zone the admin reads it in
    response = client.post(
        "/admin/commerce/bundle/add/",
        {
            "drop": drop.pk,
            "private_session": "",
            "new_session_title": "After-show Q&A",
            "new_session_starts_at": starts.strftime("%Y-%m-%d %H:%M:%S"),
            "seat_cap": 6,
            "note": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    bundle = Bundle.objects.get(drop=drop)
    assert bundle.seat_cap == bundle.seats_available == 6
    private = LiveSession.objects.get(pk=bundle.private_session_id)
    assert private.is_private and private.title == "After-show Q&A" and private.format_id == drop.session.format_id


def test_the_admin_refuses_a_zero_cap_a_public_session_and_a_cap_below_the_seats_taken(client):
    _host(client)
    drop = make_drop(quantity=10)
    public = drop.session
    response = client.post(
        "/admin/commerce/bundle/add/", {"drop": drop.pk, "private_session": public.pk, "seat_cap": 0, "note": ""}
    )
    assert response.status_code == 200 and not Bundle.objects.filter(drop=drop).exists()
    page = response.content.decode()
    assert "A bundle needs at least 1 seat." in page and "Select a valid choice" in page

    bundle = bundle_drop(units=9, seats=3)
    hold_place(drop_id=bundle.drop_id, email="a@example.com", quantity=1)
    hold_place(drop_id=bundle.drop_id, email="b@example.com", quantity=1)
    response = client.post(f"/admin/commerce/bundle/{bundle.pk}/change/", {"seat_cap": 1, "note": "x"})
    assert response.status_code == 200
    assert "2 seat(s) are already sold or held: the cap cannot go below 2." in response.content.decode()
    assert Bundle.objects.get(pk=bundle.pk).seat_cap == 3
    response = client.post(f"/admin/commerce/bundle/{bundle.pk}/change/", {"seat_cap": 5, "note": "more"})
    assert response.status_code == 302
    assert Bundle.objects.filter(pk=bundle.pk).values_list("seat_cap", "seats_available", "note").get() == (
        5,
        3,
        "more",
    )
