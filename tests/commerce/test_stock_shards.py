"""Stock shards (Drop.stock_shards, docs/holds-and-stock.md): a drop's units spread over N counter rows,
shard 0 being the drop's own row. Behaviour on any database; the races are in test_stock_shards_races.py."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from commerce import locks
from commerce.exceptions import DropUnavailable, InvalidInput
from commerce.models import Drop, DropStockShard, Hold, StockTransfer
from commerce.selectors import drop_status, drops_for_session
from commerce.services.drops import drop_set_quantity, drop_set_stock_shards
from commerce.services.holds import hold_place, hold_release
from sessions_app.services import session_end
from tests.commerce.test_admin import _drop_form
from tests.commerce.waitlist_support import assert_stock_adds_up, series_with_sessions
from tests.factories import LiveSessionFactory, make_drop

pytestmark = pytest.mark.django_db


def shards_of(drop_id: int) -> list[int]:
    """Units per shard, shard 0 (the drop's row) first."""
    row0 = Drop.objects.values_list("available", flat=True).get(pk=drop_id)
    return [row0, *DropStockShard.objects.filter(drop_id=drop_id).order_by("index").values_list("available", flat=True)]


def set_shards(drop_id: int, units: list[int]) -> None:
    """Put exactly these units on each shard (test set-up; the sum must stay the drop's available total)."""
    Drop.objects.filter(pk=drop_id).update(available=units[0])
    for index, n in enumerate(units[1:], 1):
        DropStockShard.objects.filter(drop_id=drop_id, index=index).update(available=n)


def held_units(drop_id: int) -> int:
    return (
        Hold.objects.filter(drop_id=drop_id, status__in=["active", "converted"]).aggregate(n=Sum("quantity"))["n"] or 0
    )


def test_a_new_drop_spreads_its_units_evenly_and_every_reader_sees_the_total():
    drop = make_drop(quantity=37, stock_shards=8)
    assert shards_of(drop.pk) == [9, 4, 4, 4, 4, 4, 4, 4]  # the remainder on shard 0
    assert drop.total_available == 37
    fresh = Drop.objects.get(pk=drop.pk)
    assert fresh.available == 9 and fresh.total_available == 37 and fresh.sold_or_held == 0
    assert drop_status(drop=fresh)["available"] == 37
    assert Drop.objects.with_total_available().get(pk=drop.pk).total_available == 37


def test_an_unsharded_drop_has_no_shard_rows_and_reads_without_a_query():
    drop = make_drop(quantity=5)
    assert drop.stock_shards == 1 and not DropStockShard.objects.filter(drop=drop).exists()
    fresh = Drop.objects.get(pk=drop.pk)
    with CaptureQueriesContext(connection) as queries:
        assert fresh.total_available == 5
    assert len(queries) == 0


def test_session_page_drops_read_their_totals_in_one_query_without_one_per_drop():
    session = LiveSessionFactory()
    drops = [make_drop(session=session, quantity=10 + i, stock_shards=n) for i, n in enumerate((1, 4, 8))]
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        statuses = [drop_status(drop=d, now=now) for d in drops_for_session(session_id=session.pk, now=now)]
    assert len(queries) == 1
    assert [s["available"] for s in statuses] == [10, 11, 12]
    assert [s["id"] for s in statuses] == [d.pk for d in drops]


def test_a_hold_moves_on_from_empty_shards_and_sold_out_comes_only_when_all_are_empty():
    drop = make_drop(quantity=8, stock_shards=4, per_customer_limit=1)
    set_shards(drop.pk, [0, 0, 0, 3])  # 5 units sold elsewhere (set-up): only shard 3 has units
    Drop.objects.filter(pk=drop.pk).update(quantity=3)
    holds = [hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1) for i in range(3)]
    assert all(h.pk for h in holds)
    assert shards_of(drop.pk) == [0, 0, 0, 0]
    with pytest.raises(DropUnavailable) as refused:
        hold_place(drop_id=drop.pk, email="late@example.com", quantity=1)
    assert refused.value.code == "sold_out"
    assert drop_status(drop=Drop.objects.select_related("session", "sku").get(pk=drop.pk))["state"] == "sold_out"


def test_a_quantity_no_single_shard_covers_is_consolidated_and_taken():
    drop = make_drop(quantity=4, stock_shards=4, per_customer_limit=4)
    assert shards_of(drop.pk) == [1, 1, 1, 1]
    hold = hold_place(drop_id=drop.pk, email="big@example.com", quantity=3)
    assert hold.quantity == 3
    assert sum(shards_of(drop.pk)) == 1
    with pytest.raises(DropUnavailable) as refused:
        hold_place(drop_id=drop.pk, email="other@example.com", quantity=2)
    assert refused.value.code == "sold_out" and "Only 1 left" in str(refused.value)
    assert_stock_adds_up(drop.pk)


def test_give_backs_land_on_shard_zero_and_never_above_the_quantity():
    drop = make_drop(quantity=8, stock_shards=4, per_customer_limit=2)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    before = shards_of(drop.pk)
    assert sum(before) == 6
    hold_release(hold_id=hold.pk)
    after = shards_of(drop.pk)
    assert after[0] == before[0] + 2 and after[1:] == before[1:]
    with pytest.raises(RuntimeError), transaction.atomic():  # all 8 are back: one more would exceed the quantity
        locks.drop_return_stock(drop_id=drop.pk, quantity=1)
    assert sum(shards_of(drop.pk)) == 8
    assert_stock_adds_up(drop.pk)


def test_changing_the_quantity_of_a_sharded_drop_respreads_and_refuses_below_sold():
    drop = make_drop(quantity=20, stock_shards=4, per_customer_limit=5)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=5)
    drop_set_quantity(drop_id=drop.pk, quantity=26)
    assert sum(shards_of(drop.pk)) == 21 and shards_of(drop.pk) == [6, 5, 5, 5]
    assert Drop.objects.get(pk=drop.pk).quantity == 26
    with pytest.raises(InvalidInput) as refused:
        drop_set_quantity(drop_id=drop.pk, quantity=4)
    assert refused.value.code == "quantity_below_sold" and "5 units" in str(refused.value)
    drop_set_quantity(drop_id=drop.pk, quantity=5)
    assert sum(shards_of(drop.pk)) == 0
    assert_stock_adds_up(drop.pk)


def test_changing_the_shard_count_keeps_the_total_and_back_to_one_uses_the_drop_row_only():
    drop = make_drop(quantity=30, stock_shards=8, per_customer_limit=3)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=3)
    drop_set_stock_shards(drop_id=drop.pk, shards=3)
    assert shards_of(drop.pk) == [9, 9, 9]
    drop_set_stock_shards(drop_id=drop.pk, shards=1)
    assert shards_of(drop.pk) == [27] and not DropStockShard.objects.filter(drop=drop).exists()
    with pytest.raises(InvalidInput):
        drop_set_stock_shards(drop_id=drop.pk, shards=33)
    with pytest.raises(InvalidInput):
        make_drop(quantity=3, stock_shards=0)
    assert_stock_adds_up(drop.pk)


def test_sell_through_price_tiers_count_units_sold_over_all_shards():
    drop = make_drop(
        quantity=10,
        stock_shards=4,
        per_customer_limit=1,
        price_minor=1000,
        pricing="step_up",
        step_up_tiers=[{"sell_through": 50, "percent": 10}],
    )
    prices = [hold_place(drop_id=drop.pk, email=f"b{i}@example.com", quantity=1).unit_price_minor for i in range(6)]
    assert prices == [1000] * 5 + [1100]  # the 6th hold is placed once 5 of 10 (50 %) are held
    status = drop_status(drop=Drop.objects.select_related("session", "sku").get(pk=drop.pk))
    assert (status["available"], status["price_minor"], status["price_step"]) == (4, 1100, 1)


def test_carry_over_moves_every_shards_units():
    _, live, _nxt = series_with_sessions()
    drop = make_drop(session=live, quantity=12, carry_over=True, stock_shards=4, per_customer_limit=2)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    session_end(session_id=live.pk)
    transfer = StockTransfer.objects.get()
    assert transfer.units == 10
    assert (transfer.to_drop.quantity, transfer.to_drop.total_available) == (10, 10)
    assert sum(shards_of(drop.pk)) == 0 and Drop.objects.get(pk=drop.pk).quantity == 2
    assert_stock_adds_up(drop.pk)


def test_admin_edits_the_shard_count_and_refuses_out_of_range(admin_client):
    drop = make_drop(quantity=16)
    url = reverse("admin:commerce_drop_change", args=[drop.pk])
    response = admin_client.post(url, {**_drop_form(drop), "stock_shards": 4}, follow=True)
    assert response.status_code == 200
    assert shards_of(drop.pk) == [4, 4, 4, 4]
    page = admin_client.get(url).content.decode()
    assert "16 (over 4 counter rows)" in page and "2,000 holds per second" in page
    response = admin_client.post(url, {**_drop_form(drop), "stock_shards": 40})
    assert response.status_code == 200 and "Between 1 and 32 counter rows." in response.content.decode()
    assert Drop.objects.get(pk=drop.pk).stock_shards == 4
    listing = admin_client.get(reverse("admin:commerce_drop_changelist")).content.decode()
    assert "16 / 16" in listing
    held = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    assert held.pk and held_units(drop.pk) + Drop.objects.get(pk=drop.pk).total_available == 16


def test_staff_with_view_rights_only_see_a_sharded_drop_read_only_and_cannot_change_it():
    from django.test import Client

    from commerce.models import Drop
    from tests.test_staff_access import view_only_user

    drop = make_drop(quantity=37, stock_shards=8)
    client = Client()
    client.force_login(view_only_user(Drop))
    url = f"/admin/commerce/drop/{drop.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200  # was a KeyError on the form's editable fields: a 500
    assert "37 (over 8 counter rows)" in page.content.decode()
    assert client.post(url, {"stock_shards": 3}).status_code == 403
    drop.refresh_from_db()
    assert drop.stock_shards == 8
