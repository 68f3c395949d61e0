"""Stock carry-over: unsold units move to the same SKU's drop of the series' next session when a session ends,
atomically, with late lapses picked up by the schedule. Given / when / then."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.models import Drop, Hold, StockTransfer
from commerce.services.carry_over import CarryOverError, stock_carry_over, stock_carry_over_sweep
from commerce.services.holds import hold_place, holds_release_lapsed
from sessions_app.services import session_end
from tests.commerce.waitlist_support import lapse, series_with_sessions
from tests.factories import LiveSessionFactory, make_drop, make_staff

pytestmark = pytest.mark.django_db


def test_ending_a_session_moves_unsold_units_into_a_new_drop_of_the_next_session():
    # given a carry-over drop of 10 with 2 held and 1 lapsed hold
    _, live, nxt = series_with_sessions()
    drop = make_drop(session=live, quantity=10, carry_over=True, price_minor=1234, per_customer_limit=3)
    held = hold_place(drop_id=drop.pk, email="held@example.com", quantity=2)
    late = hold_place(drop_id=drop.pk, email="late@example.com", quantity=1)
    lapse([late])
    # when the session ends
    session_end(session_id=live.pk)
    # then the 8 unsold units (7 available + 1 from the lapsed hold) moved; the live hold stays
    transfer = StockTransfer.objects.get()
    target = transfer.to_drop
    assert transfer.units == 8 and transfer.from_drop_id == drop.pk
    assert (target.session_id, target.sku_id, target.price_minor, target.per_customer_limit) == (
        nxt.pk,
        drop.sku_id,
        1234,
        3,
    )
    assert (target.opens_at, target.closes_at) == (nxt.starts_at, nxt.ends_at)
    assert (target.quantity, target.available) == (8, 8)
    drop.refresh_from_db()
    assert (drop.quantity, drop.available) == (2, 0)
    assert Hold.objects.get(pk=held.pk).status == "active"


def test_units_into_an_existing_drop_of_the_same_sku_and_late_lapses_follow_via_the_schedule():
    _, live, nxt = series_with_sessions()
    drop = make_drop(session=live, quantity=5, carry_over=True)
    existing = make_drop(session=nxt, sku=drop.sku, quantity=3, opens_in=7 * 86400, closes_in=7 * 86400 + 600)
    hold = hold_place(drop_id=drop.pk, email="late@example.com", quantity=2)
    session_end(session_id=live.pk)
    existing.refresh_from_db()
    assert (existing.quantity, existing.available) == (6, 6)
    # a hold lapsing AFTER the move returns its units to the ended drop; the per-minute sweep moves them on
    lapse([hold])
    holds_release_lapsed()
    assert Drop.objects.get(pk=drop.pk).available == 2
    assert stock_carry_over_sweep() == 2
    existing.refresh_from_db()
    drop.refresh_from_db()
    assert (existing.quantity, drop.quantity, drop.available) == (8, 0, 0)
    assert sum(StockTransfer.objects.values_list("units", flat=True)) == 5


def test_without_a_next_session_nothing_moves_and_the_session_still_ends():
    drop = make_drop(quantity=4, carry_over=True, session=LiveSessionFactory())
    session_end(session_id=drop.session_id)
    assert not StockTransfer.objects.exists()
    with pytest.raises(CarryOverError) as exc:
        stock_carry_over(drop_id=drop.pk)
    assert exc.value.code == "no_next_session"
    assert Drop.objects.get(pk=drop.pk).quantity == 4


def test_a_live_session_cannot_carry_over_and_drops_without_the_flag_stay():
    _, live, nxt = series_with_sessions()
    stays = make_drop(session=live, quantity=4)
    with pytest.raises(CarryOverError) as exc:
        stock_carry_over(drop_id=stays.pk)
    assert exc.value.code == "session_not_ended"
    session_end(session_id=live.pk)
    assert Drop.objects.get(pk=stays.pk).quantity == 4 and not Drop.objects.filter(session=nxt).exists()


def test_admin_action_carries_over_and_is_logged(client):
    _, live, nxt = series_with_sessions()
    drop = make_drop(session=live, quantity=3)  # no flag: staff decide after the show
    session_end(session_id=live.pk)
    client.force_login(make_staff("host", role="host"))
    response = client.post(
        "/admin/commerce/drop/", {"action": "carry_over_now", "_selected_action": [drop.pk]}, follow=True
    )
    assert "moved 3 unit(s)" in response.content.decode()
    assert Drop.objects.get(session=nxt).quantity == 3
    from django.contrib.admin.models import LogEntry

    assert LogEntry.objects.filter(object_id=str(drop.pk), change_message__icontains="carried").exists()


def test_api_carry_over_needs_the_shop_scope(client):
    from commerce.models import Partner
    from commerce.services.api_keys import api_key_create

    _, live, nxt = series_with_sessions()
    drop = make_drop(session=live, quantity=3)
    session_end(session_id=live.pk, now=timezone.now() + dt.timedelta(seconds=1))
    partner = Partner.objects.create(name="Shop")
    shop = api_key_create(partner=partner, name="s", scopes=["drops:write", "shop"])[1]
    plain = api_key_create(partner=partner, name="p", scopes=["drops:write"])[1]
    url = f"/api/v1/drops/{drop.pk}/carry-over"
    assert client.post(url, headers={"X-API-Key": plain}).status_code == 403
    response = client.post(url, headers={"X-API-Key": shop, "Idempotency-Key": "k1"})
    assert response.status_code == 200, response.content
    assert response.json()["units"] == 3 and response.json()["to_session_id"] == str(nxt.public_id)
    replay = client.post(url, headers={"X-API-Key": shop, "Idempotency-Key": "k1"})
    assert replay.json() == response.json() and StockTransfer.objects.count() == 1


def test_a_sold_out_drop_creates_no_empty_drop_in_the_next_session_until_units_come_back():
    """QA: ending with 0 unsold units made a "0 of 0 left" drop on the next session's page."""
    _, live, nxt = series_with_sessions()
    drop = make_drop(session=live, quantity=2, carry_over=True, per_customer_limit=2)
    held = hold_place(drop_id=drop.pk, email="held@example.com", quantity=2)
    session_end(session_id=live.pk)
    assert not Drop.objects.filter(session=nxt).exists()
    assert not StockTransfer.objects.exists()
    # the hold lapses later: the sweep moves the units, creating the drop then
    lapse([held])
    holds_release_lapsed(drop_id=drop.pk)
    assert stock_carry_over_sweep() == 2
    assert Drop.objects.get(session=nxt).available == 2
