"""The hold spike path: remembered partner keys and drop terms, the prepared statement, and what stays authoritative."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone

from commerce import memo
from commerce.exceptions import DropUnavailable, LimitExceeded
from commerce.models import ApiKey, Drop, Hold, Partner
from commerce.services.api_keys import api_key_create, api_key_revoke
from commerce.services.holds import hold_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def _place(client, key, drop, email="fan@example.com"):
    return client.post(
        "/api/v1/holds",
        json.dumps({"drop_id": drop.pk, "email": email, "quantity": 1}),
        content_type="application/json",
        headers={"X-API-Key": key},
    )


def test_a_revoked_key_is_refused_at_once_in_this_process(client):
    key_obj, key = api_key_create(partner=Partner.objects.create(name="P"), name="k", scopes=["holds:write"])
    drop = make_drop(quantity=5)
    assert _place(client, key, drop).status_code == 201  # now remembered
    api_key_revoke(key_id=key_obj.pk)
    response = _place(client, key, drop, "other@example.com")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_a_key_revoked_by_another_process_is_refused_once_its_memory_lapses(client, monkeypatch):
    key_obj, key = api_key_create(partner=Partner.objects.create(name="P"), name="k", scopes=["holds:write"])
    drop = make_drop(quantity=5, per_customer_limit=5)
    clock = [1000.0]
    monkeypatch.setattr(memo.time, "monotonic", lambda: clock[0])
    assert _place(client, key, drop).status_code == 201
    ApiKey.objects.filter(pk=key_obj.pk).update(revoked_at=timezone.now())  # no signal: another web worker
    assert _place(client, key, drop).status_code == 201  # still remembered (at most API_KEY_CACHE_SECONDS)
    clock[0] += 5.1
    assert _place(client, key, drop).status_code == 401


def test_a_price_saved_by_staff_applies_to_the_next_hold_at_once():
    drop = make_drop(quantity=5, per_customer_limit=5)
    assert hold_place(drop_id=drop.pk, email="a@example.com", quantity=1).unit_price_minor == 4299
    drop.price_minor = 3900
    drop.save()
    assert hold_place(drop_id=drop.pk, email="b@example.com", quantity=1).unit_price_minor == 3900


def test_remembered_terms_never_override_the_window_stock_or_limit_in_the_database():
    drop = make_drop(quantity=3, per_customer_limit=2)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)  # the terms are now remembered
    now = timezone.now()
    # another process lowers the limit and closes the drop without a signal reaching this one
    Drop.objects.filter(pk=drop.pk).update(per_customer_limit=1)
    with pytest.raises(LimitExceeded) as limit:
        hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    assert limit.value.fields["limit"] == 1
    Drop.objects.filter(pk=drop.pk).update(closes_at=now - dt.timedelta(seconds=1))
    with pytest.raises(DropUnavailable) as closed:
        hold_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    assert closed.value.code == "closed"
    assert Drop.objects.get(pk=drop.pk).available == 2
    assert Hold.objects.filter(drop=drop).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_that_lost_the_prepared_hold_statement_prepares_it_again():
    drop = make_drop(quantity=5, per_customer_limit=5)
    hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler or DISCARD ALL does behind our back
    hold = hold_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    assert hold.pk and Drop.objects.get(pk=drop.pk).available == 3
