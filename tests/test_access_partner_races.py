"""Ownership under real concurrency (PostgreSQL): partners racing through the API for the last units.

The hold's owner is written by the same statement that takes the stock (commerce.locks, the
one-round-trip path on PostgreSQL), so under a race every hold belongs to exactly the partner
whose request placed it, and only that partner can turn it into an order.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from commerce.models import Drop, Hold, Order, Partner
from commerce.services.api_keys import api_key_create
from tests.commerce.test_races import race
from tests.factories import make_drop

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_partners_racing_for_the_last_units_own_exactly_the_holds_they_placed():
    # given two partners with hold and checkout keys, and a drop with 10 units (one per buyer)
    partners = [Partner.objects.create(name="Partner A"), Partner.objects.create(name="Partner B")]
    keys = {
        p.pk: api_key_create(partner=p, name="k", scopes=["holds:write", "orders:write"])[1] for p in partners
    }
    drop = make_drop(quantity=10, per_customer_limit=1)

    def place(i):
        partner = partners[i % 2]
        body = json.dumps({"drop_id": drop.pk, "email": f"buyer{i}@example.com", "quantity": 1})
        response = Client().post(
            "/api/v1/holds", body, content_type="application/json", headers={"X-API-Key": keys[partner.pk]}
        )
        return partner.pk, response.status_code, response.json()

    # when 40 requests from both partners race for the 10 units
    placed = race(40, place)

    # then exactly 10 holds exist, each owned by the partner whose request placed it
    assert [r for r in placed if isinstance(r, Exception)] == []
    won = [(pk, body["token"]) for pk, status, body in placed if status == 201]
    assert len(won) == 10
    assert {status for _pk, status, _b in placed} <= {201, 409}
    assert Drop.objects.get(pk=drop.pk).available == 0
    assert {token: pk for pk, token in won} == dict(Hold.objects.values_list("token", "partner_id"))

    # when both partners race to check out every one of those holds
    def checkout(i):
        owner, token = won[i // 2]
        caller = owner if i % 2 == 0 else next(p.pk for p in partners if p.pk != owner)
        response = Client().post(
            f"/api/v1/holds/{token}/checkout", "{}", content_type="application/json", headers={"X-API-Key": keys[caller]}
        )
        return caller == owner, response.status_code

    results = race(20, checkout)

    # then only the owners get their orders; the other partner is told "not found" every time
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(status for is_owner, status in results if is_owner) == [201] * 10
    assert sorted(status for is_owner, status in results if not is_owner) == [404] * 10
    assert Order.objects.count() == 10
    assert all(o.partner_id == o.hold.partner_id for o in Order.objects.select_related("hold"))
