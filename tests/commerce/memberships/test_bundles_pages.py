"""Bundle pages (docs/bundles.md): the personal join link, the private session hidden everywhere else."""

from __future__ import annotations

import pytest
from django.core import mail

from commerce.models import BundleSeat
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_cancel
from commerce.services.outbox import outbox_drain
from sessions_app.models import LiveSession
from tests.commerce.memberships.bundle_support import bundle_drop

pytestmark = pytest.mark.django_db

STREAM = "https://www.youtube.com/watch?v=private123"


def _bought(bundle, email="ann@example.com"):
    hold = hold_place(drop_id=bundle.drop_id, email=email, quantity=1)
    return checkout_start(hold_token=hold.token), BundleSeat.objects.get(hold=hold)


def _go_live(bundle):
    LiveSession.objects.filter(pk=bundle.private_session_id).update(status="live", stream_url=STREAM)


def test_a_confirmed_seats_join_link_shows_the_private_stream_while_live(client):
    bundle = bundle_drop()
    order, seat = _bought(bundle)
    page = client.get(f"/join/{seat.join_token}/")
    assert page.status_code == 200 and "starts in" in page.content.decode()  # scheduled: no stream yet
    assert "private123" not in page.content.decode()
    _go_live(bundle)
    page = client.get(f"/join/{seat.join_token}/")
    assert page.status_code == 200 and "youtube-nocookie.com/embed/private123" in page.content.decode()
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]


def test_a_held_released_or_unknown_seat_is_a_404(client):
    bundle = bundle_drop()
    _go_live(bundle)
    held = hold_place(drop_id=bundle.drop_id, email="held@example.com", quantity=1)
    assert client.get(f"/join/{BundleSeat.objects.get(hold=held).join_token}/").status_code == 404
    order, seat = _bought(bundle, "cancel@example.com")
    order_cancel(order_id=order.pk)
    response = client.get(f"/join/{seat.join_token}/")
    assert response.status_code == 404 and "private123" not in response.content.decode()
    assert client.get("/join/not-a-token/").status_code == 404


def test_the_private_session_is_not_public_nor_listed(client):
    bundle = bundle_drop()
    _go_live(bundle)
    private = LiveSession.objects.get(pk=bundle.private_session_id)
    assert client.get(f"/s/{private.public_id}/").status_code == 404
    assert client.get(f"/s/{private.public_id}/status.json").status_code == 404
    home = client.get("/").content.decode()
    assert private.title not in home and str(private.public_id) not in home
    assert bundle.drop.session.title in home  # the public live session still is


def test_the_order_page_and_the_confirmation_email_carry_the_join_link(client):
    bundle = bundle_drop()
    order, seat = _bought(bundle)
    outbox_drain()
    page = client.get(f"/orders/{order.token}/").content.decode()
    assert f"/join/{seat.join_token}/" in page and "+ seat in Maker Q&amp;A" in page
    [email] = [m for m in mail.outbox if order.number in m.subject]
    assert f"/join/{seat.join_token}/" in email.body


def test_the_join_link_is_not_on_someone_elses_order_page(client):
    bundle = bundle_drop()
    _order, seat = _bought(bundle)
    other, _ = _bought(bundle, "bob@example.com")
    assert seat.join_token not in client.get(f"/orders/{other.token}/").content.decode()


def test_the_private_session_is_not_in_the_sessions_api(client):
    from commerce.models import Partner
    from commerce.services.api_keys import api_key_create

    bundle = bundle_drop()
    private = LiveSession.objects.get(pk=bundle.private_session_id)
    headers = {
        "X-API-Key": api_key_create(partner=Partner.objects.create(name="P"), name="k", scopes=["sessions:read"])[1]
    }
    listed = {item["id"] for item in client.get("/api/v1/sessions", headers=headers).json()["items"]}
    assert str(private.public_id) not in listed and str(bundle.drop.session.public_id) in listed
    assert client.get(f"/api/v1/sessions/{private.public_id}", headers=headers).status_code == 404


def test_the_buy_page_and_the_cart_say_a_seat_comes_with_it(client):
    bundle = bundle_drop(units=5, seats=3)
    page = client.get(f"/drops/{bundle.drop_id}/checkout/").content.decode()
    assert "personal seat in <strong>Maker Q&amp;A</strong>" in page and "3</span> of 3 seats left" in page
    hold = hold_place(drop_id=bundle.drop_id, email="ann@example.com", quantity=1)
    assert "2</span> of 3 seats left" in client.get(f"/cart/{hold.token}/").content.decode()


def test_the_session_page_and_status_show_sold_out_when_the_seats_run_out_first(client):
    """10 units but 1 seat: once the seat is held the drop is sold out for viewers, not 'live, 9 left'."""
    import json

    from django.core.cache import cache
    from django.urls import reverse

    bundle = bundle_drop(units=10, seats=1)
    session = bundle.drop.session
    session.status = "live"
    session.save(update_fields=["status"])
    status_url = reverse("sessions_app:session_status", args=[session.public_id])
    before = json.loads(client.get(status_url).content)["drops"][0]
    assert (before["state"], before["available"]) == ("live", 1)
    hold_place(drop_id=bundle.drop_id, email="ann@example.com", quantity=1)
    cache.clear()  # the status payload is shared for a second
    after = json.loads(client.get(status_url).content)["drops"][0]
    assert (after["state"], after["available"]) == ("sold_out", 0)
    assert 'data-state="sold_out"' in client.get(session.get_absolute_url()).content.decode()
