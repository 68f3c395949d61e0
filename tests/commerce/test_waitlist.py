"""Waitlists: joining, offers that reserve freed units (FIFO), claiming at the current price, lapsing and
passing on, the hooks where units free up, the pages, the staff figures. Given / when / then."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from commerce.exceptions import DropUnavailable, InvalidInput
from commerce.models import Drop, Hold, WaitlistEntry, WaitlistOffer
from commerce.selectors_waitlist import waitlist_summary
from commerce.services.drops import drop_set_quantity
from commerce.services.holds import hold_place, hold_release, holds_release_lapsed
from commerce.services.orders import order_cancel, order_place
from commerce.services.outbox import outbox_drain
from commerce.services.waitlist import (
    OfferGone,
    WaitlistError,
    waitlist_join,
    waitlist_leave,
    waitlist_offer_claim,
    waitlist_offer_freed,
    waitlist_offers_expire,
)
from sessions_app.services import session_end
from tests.commerce.waitlist_support import assert_stock_adds_up, lapse, line_up, sold_out_drop
from tests.factories import make_drop, make_staff

pytestmark = pytest.mark.django_db


def later(minutes: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(minutes=minutes)


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if address.lower() in [t.lower() for t in m.to]]


def link(message, name: str) -> str:
    return re.search(rf"(/w/{'leave/' if name == 'leave' else ''}[\w-]+/)", message.body).group(1)


# --- joining ------------------------------------------------------------------------------------------


def test_joining_a_sold_out_drop_emails_the_leave_link_once_and_a_second_join_changes_nothing():
    drop, _ = sold_out_drop()
    entry = waitlist_join(drop_id=drop.pk, email="Ann@Example.com", quantity=1)
    again = waitlist_join(drop_id=drop.pk, email="ann@example.com", quantity=2)
    outbox_drain()
    assert again.pk == entry.pk and again.quantity == 1
    assert WaitlistEntry.objects.filter(drop=drop).count() == 1
    [message] = mails_to("Ann@Example.com")
    assert f"/w/leave/{entry.token}/" in message.body


def test_joining_refuses_a_drop_that_can_sell_and_bad_input():
    drop = make_drop(quantity=3, per_customer_limit=2)
    with pytest.raises(WaitlistError) as exc:
        waitlist_join(drop_id=drop.pk, email="ann@example.com")
    assert exc.value.code == "not_sold_out"
    sold, _ = sold_out_drop(per_customer_limit=2)
    with pytest.raises(InvalidInput):
        waitlist_join(drop_id=sold.pk, email="ann@example.com", quantity=3)
    with pytest.raises(InvalidInput):
        waitlist_join(drop_id=sold.pk, email="not-an-address")


# --- offers reserve freed units -------------------------------------------------------------------------


def test_a_lapsed_hold_becomes_an_offer_to_the_first_in_line_and_the_public_cannot_take_it():
    # given a sold-out drop with two people waiting
    drop, holds = sold_out_drop(quantity=2)
    first, second = line_up(drop, 2)
    # when one hold lapses and the sweep runs
    lapse(holds[:1])
    holds_release_lapsed(drop_id=drop.pk)
    # then the first in line has an open offer holding the unit, the second still waits
    offer = WaitlistOffer.objects.get()
    assert (offer.entry_id, offer.quantity, offer.status) == (first.pk, 1, "open")
    assert WaitlistEntry.objects.get(pk=second.pk).status == "waiting"
    assert Drop.objects.get(pk=drop.pk).available == 0
    assert assert_stock_adds_up(drop.pk)["offered"] == 1
    # and a public buyer is refused: the unit is promised to the line
    with pytest.raises(DropUnavailable):
        hold_place(drop_id=drop.pk, email="public@example.com", quantity=1)
    # and the offer e-mail carries the private link, valid WAITLIST_OFFER_MINUTES, only to that address
    outbox_drain()
    [message] = [m for m in mails_to("wait0@example.com") if "your turn" in m.subject.lower()]
    assert f"/w/{offer.token}/" in message.body
    assert abs((offer.expires_at - offer.created_at) - dt.timedelta(minutes=10)) < dt.timedelta(seconds=1)
    # the deadline in the session's zone (the factory's Europe/Berlin), not UTC
    assert f"{timezone.localtime(offer.expires_at, drop.session.tz):%H:%M %Z}" in message.body


def test_first_come_first_served_a_bigger_request_is_not_overtaken():
    drop, holds = sold_out_drop(quantity=3, per_customer_limit=2)
    wants_two = waitlist_join(drop_id=drop.pk, email="two@example.com", quantity=2)
    wants_one = waitlist_join(drop_id=drop.pk, email="one@example.com", quantity=1)
    hold_release(hold_id=holds[0].pk)
    assert not WaitlistOffer.objects.exists()  # one unit free, the first in line wants two: nobody overtakes
    hold_release(hold_id=holds[1].pk)
    offer = WaitlistOffer.objects.get()
    assert (offer.entry_id, offer.quantity) == (wants_two.pk, 2)
    assert WaitlistEntry.objects.get(pk=wants_one.pk).status == "waiting"
    assert_stock_adds_up(drop.pk)


def test_offers_never_outnumber_freed_units_and_never_go_past_the_drops_close():
    drop, holds = sold_out_drop(quantity=3, closes_in=300)
    line_up(drop, 5)
    lapse(holds[:2])
    holds_release_lapsed(drop_id=drop.pk)
    offers = WaitlistOffer.objects.filter(status="open")
    assert offers.count() == 2
    assert all(o.expires_at == drop.closes_at for o in offers)  # 10 min would pass the close in 5 min
    assert assert_stock_adds_up(drop.pk)["available"] == 0


def test_a_cancelled_order_and_a_raised_quantity_free_units_for_the_line():
    drop = make_drop(quantity=1)
    order = order_place(drop_id=drop.pk, email="buyer@example.com", quantity=1)
    first, second, third = line_up(drop, 3)
    order_cancel(order_id=order.pk)
    assert WaitlistOffer.objects.get().entry_id == first.pk
    drop_set_quantity(drop_id=drop.pk, quantity=3)
    assert set(WaitlistOffer.objects.values_list("entry_id", flat=True)) == {first.pk, second.pk, third.pk}
    assert_stock_adds_up(drop.pk)


def test_no_offers_once_the_session_ended():
    drop, holds = sold_out_drop()
    line_up(drop, 2)
    session_end(session_id=drop.session_id)
    lapse(holds)
    holds_release_lapsed(drop_id=drop.pk)
    assert not WaitlistOffer.objects.exists()
    assert Drop.objects.get(pk=drop.pk).available == 2


# --- claiming ----------------------------------------------------------------------------------------


def test_taking_an_offer_makes_a_hold_at_the_current_price_without_taking_stock_again():
    drop, holds = sold_out_drop(quantity=2, price_minor=1000)
    line_up(drop, 1)
    hold_release(hold_id=holds[0].pk)
    offer = WaitlistOffer.objects.get()
    Drop.objects.filter(pk=drop.pk).update(price_minor=1500)  # the price changed since the offer: not locked
    hold = waitlist_offer_claim(token=offer.token)
    assert (hold.status, hold.quantity, hold.unit_price_minor) == ("active", 1, 1500)
    assert abs((hold.expires_at - timezone.now()) - dt.timedelta(seconds=drop.hold_seconds)) < dt.timedelta(seconds=5)
    offer.refresh_from_db()
    assert (offer.status, offer.hold_id) == ("claimed", hold.pk)
    assert offer.entry.status == "converted"
    s = assert_stock_adds_up(drop.pk)
    assert (s["held"], s["offered"], s["available"]) == (2, 0, 0)
    with pytest.raises(OfferGone) as exc:
        waitlist_offer_claim(token=offer.token)
    assert exc.value.code == "offer_claimed"


def test_an_unused_offer_lapses_and_passes_on_to_the_next_in_line_in_the_same_transaction():
    drop, holds = sold_out_drop()
    first, second = line_up(drop, 2)
    hold_release(hold_id=holds[0].pk)
    assert waitlist_offers_expire(now=later(11)) == 1
    assert WaitlistEntry.objects.get(pk=first.pk).status == "lapsed"
    passed = WaitlistOffer.objects.get(status="open")
    assert passed.entry_id == second.pk
    assert waitlist_offers_expire(now=later(11)) == 0  # a second sweep finds nothing more to do
    assert_stock_adds_up(drop.pk)


def test_claiming_after_expiry_lapses_on_read_and_says_so():
    drop, holds = sold_out_drop()
    first, second = line_up(drop, 2)
    hold_release(hold_id=holds[0].pk)
    offer = WaitlistOffer.objects.get()
    with pytest.raises(OfferGone) as exc:
        waitlist_offer_claim(token=offer.token, now=later(11))
    assert exc.value.code == "offer_expired"
    assert WaitlistOffer.objects.get(status="open").entry_id == second.pk  # committed despite the error


def test_leaving_with_an_open_offer_passes_it_on():
    drop, holds = sold_out_drop()
    first, second = line_up(drop, 2)
    hold_release(hold_id=holds[0].pk)
    waitlist_leave(token=first.token)
    assert WaitlistOffer.objects.get(entry=first).status == "withdrawn"
    assert WaitlistOffer.objects.get(status="open").entry_id == second.pk
    assert_stock_adds_up(drop.pk)


# --- the hot path ----------------------------------------------------------------------------------------


def test_the_hook_costs_one_query_when_nobody_waits():
    drop = make_drop(quantity=5)
    with CaptureQueriesContext(connection) as queries:
        assert waitlist_offer_freed(drop_id=drop.pk, now=timezone.now()) == 0
    assert len(queries) == 1
    assert "EXISTS" in queries[0]["sql"].upper() or "LIMIT 1" in queries[0]["sql"].upper()


# --- staff figures ---------------------------------------------------------------------------------------


def test_revenue_if_raised_is_units_wanted_times_the_current_price():
    drop, _ = sold_out_drop(quantity=2, price_minor=2500, per_customer_limit=3)
    line_up(drop, 2, quantity=2)
    waitlist_join(drop_id=drop.pk, email="solo@example.com", quantity=1)
    s = waitlist_summary(drop=drop)
    assert (s.waiting, s.units_wanted, s.unit_price_minor, s.currency) == (3, 5, 2500, drop.currency)
    assert s.revenue_if_raised_minor == 12500


def test_drop_admin_shows_the_waitlist_and_offers_freed_units(client):
    drop, holds = sold_out_drop(quantity=2, price_minor=1000)
    line_up(drop, 3)
    staff = make_staff("host", role="host")
    client.force_login(staff)
    page = client.get(f"/admin/commerce/drop/{drop.pk}/change/")
    assert page.status_code == 200
    assert "3 waiting for 3 unit(s)" in page.content.decode()
    # a unit sits available (returned outside the hooks): the action offers it
    Drop.objects.filter(pk=drop.pk).update(available=1)
    Hold.objects.filter(pk=holds[0].pk).update(status="released")
    response = client.post(
        "/admin/commerce/drop/", {"action": "offer_freed_now", "_selected_action": [drop.pk]}, follow=True
    )
    assert "1 offer(s) sent." in response.content.decode()
    assert WaitlistOffer.objects.filter(status="open").count() == 1


# --- pages ---------------------------------------------------------------------------------------------


def test_notify_me_answers_the_same_for_a_new_and_a_known_address(client):
    drop, _ = sold_out_drop()
    url = f"/drops/{drop.pk}/notify-me/"
    first = client.post(url, {"email": "ann@example.com", "quantity": 1})
    second = client.post(url, {"email": "ann@example.com", "quantity": 1})
    other = client.post(url, {"email": "bob@example.com", "quantity": 1})
    assert first.status_code == second.status_code == other.status_code == 200

    def answer(r):
        return re.search(r"data-waitlist-joined>(.*?)</div>", r.content.decode(), re.S).group(1)

    assert answer(first) == answer(second) == answer(other)
    assert "ann@example.com" not in second.content.decode()
    assert WaitlistEntry.objects.filter(drop=drop).count() == 2


def test_notify_me_is_rate_limited_per_client(client, settings):
    settings.WAITLIST_JOIN_RATE_LIMIT = 2
    drop, _ = sold_out_drop()
    url = f"/drops/{drop.pk}/notify-me/"
    codes = [client.post(url, {"email": f"p{i}@example.com", "quantity": 1}).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    assert WaitlistEntry.objects.filter(drop=drop).count() == 2


def test_the_session_page_links_notify_me_on_a_sold_out_drop_only(client):
    drop, _ = sold_out_drop()
    other = make_drop(quantity=5, session=drop.session)
    html = client.get(drop.session.get_absolute_url()).content.decode()
    sold_link = f'href="/drops/{drop.pk}/notify-me/"'
    assert sold_link in html
    card = re.search(rf'data-drop="{other.pk}".*?</article>', html, re.S).group(0)
    assert re.search(r"data-waitlist[^>]* hidden", card)


def test_the_offer_page_takes_the_offer_into_the_cart_and_an_expired_one_says_so(client):
    drop, holds = sold_out_drop()
    line_up(drop, 2)
    hold_release(hold_id=holds[0].pk)
    offer = WaitlistOffer.objects.get()
    page = client.get(f"/w/{offer.token}/")
    assert page.status_code == 200 and "Take it" in page.content.decode()
    response = client.post(f"/w/{offer.token}/")
    hold = Hold.objects.get(waitlist_offer=offer)
    assert response.status_code == 302 and response["Location"] == f"/cart/{hold.token}/"
    # the second person's offer, past its time: the page lapses it and says so
    hold_release(hold_id=holds[1].pk)
    second = WaitlistOffer.objects.get(status="open")
    WaitlistOffer.objects.filter(pk=second.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    gone = client.get(f"/w/{second.token}/")
    assert gone.status_code == 410 and "expired" in gone.content.decode()
    assert WaitlistOffer.objects.get(pk=second.pk).status == "expired"
    assert Drop.objects.get(pk=drop.pk).available == 1  # nobody else waits: the unit is back on sale


def test_the_leave_link_asks_first_and_removes_on_post(client):
    drop, _ = sold_out_drop()
    [entry] = line_up(drop, 1)
    assert client.get(f"/w/leave/{entry.token}/").status_code == 200
    assert WaitlistEntry.objects.get(pk=entry.pk).status == "waiting"  # a link preview removes nobody
    client.post(f"/w/leave/{entry.token}/")
    assert WaitlistEntry.objects.get(pk=entry.pk).status == "left"
    assert client.get("/w/leave/not-a-token/").status_code == 404
    assert client.get("/w/not-a-token/").status_code == 404


# --- API -------------------------------------------------------------------------------------------------


def test_api_join_answers_202_without_revealing_state_and_the_summary_is_shop_data(client):
    from commerce.models import Partner
    from commerce.services.api_keys import api_key_create

    drop, _ = sold_out_drop(quantity=2, price_minor=900)
    partner = Partner.objects.create(name="Partner")
    writer = {"X-API-Key": api_key_create(partner=partner, name="w", scopes=["waitlist:write"])[1]}
    reader = {"X-API-Key": api_key_create(partner=partner, name="r", scopes=["waitlist:read"])[1]}
    shop = {"X-API-Key": api_key_create(partner=partner, name="s", scopes=["waitlist:read", "shop"])[1]}
    body = {"drop_id": drop.pk, "email": "ann@example.com", "quantity": 2}
    first = client.post("/api/v1/waitlist/entries", body, content_type="application/json", headers=writer)
    again = client.post("/api/v1/waitlist/entries", body, content_type="application/json", headers=writer)
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    assert WaitlistEntry.objects.get(drop=drop).partner_id == partner.pk
    bad = client.post(
        "/api/v1/waitlist/entries", {**body, "quantity": 9}, content_type="application/json", headers=writer
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_quantity"
    missing = client.post(
        "/api/v1/waitlist/entries", {**body, "drop_id": 999999}, content_type="application/json", headers=writer
    )
    assert missing.status_code == 404
    assert client.get(f"/api/v1/drops/{drop.pk}/waitlist", headers=reader).status_code == 403
    summary = client.get(f"/api/v1/drops/{drop.pk}/waitlist", headers=shop).json()
    assert summary["waiting"] == 1 and summary["units_wanted"] == 2
    assert (summary["revenue_if_raised_minor"], summary["currency"]) == (1800, drop.currency)


def test_a_refund_that_restocks_units_offers_them_to_the_line(django_capture_on_commit_callbacks):
    from commerce.services.orders import order_mark_paid
    from commerce.services.refunds import refund_create, refund_submit

    drop = make_drop(quantity=1)
    order = order_place(drop_id=drop.pk, email="buyer@example.com", quantity=1)
    order_mark_paid(order_id=order.pk)
    [first] = line_up(drop, 1)
    with django_capture_on_commit_callbacks(execute=False):
        refund = refund_create(order_id=order.pk)  # everything: money and the unit
    refund_submit(refund_id=refund.pk)  # the manual provider settles at once
    assert WaitlistOffer.objects.get(status="open").entry_id == first.pk
    assert Drop.objects.get(pk=drop.pk).available == 0  # the restocked unit is reserved for the offer


def test_the_waitlist_admin_lists_each_drops_line_in_order(client):
    drop, _ = sold_out_drop()
    line_up(drop, 3)
    client.force_login(make_staff("host", role="host"))
    page = client.get(f"/admin/commerce/waitlistentry/?drop__session__id__exact={drop.session_id}")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("wait0@example.com") < html.index("wait1@example.com") < html.index("wait2@example.com")
    assert "/w/leave/" not in html  # private links are never shown to staff


# --- offers end with the sale (QA: an offer taken and paid after the drop closed / the session ended) --


def _offered(drop, holds):
    [entry] = line_up(drop, 1)
    lapse(holds[:1])
    holds_release_lapsed(drop_id=drop.pk)
    return WaitlistOffer.objects.get(entry=entry, status=WaitlistOffer.Status.OPEN)


def test_closing_the_drop_in_the_control_room_withdraws_its_open_offers():
    from sessions_app.control.services import control_close_drop

    drop, holds = sold_out_drop()
    offer = _offered(drop, holds)
    control_close_drop(session_id=drop.session_id, drop_id=drop.pk)
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.WITHDRAWN
    assert Drop.objects.get(pk=drop.pk).available == 1  # the unit is back on the (closed) drop
    with pytest.raises(OfferGone):
        waitlist_offer_claim(token=offer.token)
    assert not Hold.objects.filter(drop=drop, status=Hold.Status.ACTIVE).exclude(pk=holds[1].pk).exists()
    assert_stock_adds_up(drop.pk)


def test_ending_the_session_withdraws_open_offers():
    drop, holds = sold_out_drop()
    offer = _offered(drop, holds)
    session_end(session_id=drop.session_id)
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.WITHDRAWN and offer.entry.status == WaitlistEntry.Status.LAPSED
    with pytest.raises(OfferGone):
        waitlist_offer_claim(token=offer.token)
    assert_stock_adds_up(drop.pk)


def test_an_offer_on_a_drop_closed_by_its_window_cannot_be_taken():
    drop, holds = sold_out_drop()
    offer = _offered(drop, holds)
    Drop.objects.filter(pk=drop.pk).update(closes_at=timezone.now() - dt.timedelta(seconds=1))  # edited in the admin
    with pytest.raises(OfferGone) as exc:
        waitlist_offer_claim(token=offer.token)
    assert exc.value.code == "offer_withdrawn"
    assert Drop.objects.get(pk=drop.pk).available == 1
    assert_stock_adds_up(drop.pk)


def test_a_lapsed_hold_is_not_shown_as_free_stock_while_people_wait():
    """QA: between a hold's expiry and the sweep, the page showed 1 available and Buy now, and the
    purchase was refused: the unit belongs to the line."""
    from commerce.selectors import drop_status, drop_with_stock

    drop, holds = sold_out_drop()
    lapse(holds[:1])
    assert drop_status(drop=drop_with_stock(drop_id=drop.pk))["available"] == 1  # nobody waits: it is free
    line_up(drop, 1)
    status = drop_status(drop=drop_with_stock(drop_id=drop.pk))
    assert (status["available"], status["state"]) == (0, "sold_out")


def test_the_notify_me_page_of_a_drop_on_sale_says_so_and_links_to_buying(client):
    """QA: the page of a live drop with stock said "This drop is sold out"."""
    on_sale = make_drop(quantity=5)
    page = client.get(f"/drops/{on_sale.pk}/notify-me/").content.decode()
    assert "data-waitlist-not-sold-out" in page and "This drop is sold out" not in page
    assert f'href="{reverse("analytics:click", args=[on_sale.pk])}"' in page
    sold, _ = sold_out_drop()
    page = client.get(f"/drops/{sold.pk}/notify-me/").content.decode()
    assert "This drop is sold out" in page and "data-waitlist-not-sold-out" not in page
