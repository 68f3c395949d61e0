"""The delivery counters under concurrency on PostgreSQL: the first requests of a UTC day race for
the row's insert; every increment lands."""

from __future__ import annotations

import datetime as dt

import pytest

from sessions_app.assets.cas import asset_put_bytes
from sessions_app.assets.delivery import asset_delivery_record
from sessions_app.assets.models import AssetDelivery
from tests.commerce.test_races import race

from .storage_fixtures import fs_store  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_first_requests_of_a_day_all_count(fs_store):  # noqa: F811
    obj = asset_put_bytes(data=b"\xff\xd8\xff" + b"d" * 1000, kind="thumbnail")
    day = dt.date(2026, 12, 1)
    n = 30
    results = race(n, lambda i: asset_delivery_record(asset_id=obj.pk, requests=1, bytes_origin=100, views=i % 2, day=day))
    assert [r for r in results if r is not None] == []
    row = AssetDelivery.objects.get(asset=obj, day=day)
    assert (row.requests, row.bytes_origin, row.views) == (n, 100 * n, n // 2)
