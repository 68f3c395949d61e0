"""Dedup and reference counting raced on PostgreSQL: threads on their own connections.

Invariants after the dust settles (docs/assets.md "Race protocol"): the bytes exist iff
ref_count > 0; ref_count equals the references handed out minus those given back; bytes of one
hash are written once however many puts race.
"""

from __future__ import annotations

import threading
import time

import pytest

from commerce.services.outbox import outbox_drain
from sessions_app.assets import cas
from sessions_app.assets.cas import asset_put_bytes, asset_release
from sessions_app.assets.models import AssetObject
from tests.commerce.test_races import race

from .storage_fixtures import fs_store, moto_endpoint, s3_store  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DATA = b"\xff\xd8\xff\xe0" + b"race-bytes " * 5000


@pytest.fixture
def count_writes(monkeypatch):
    """Counts cas._write calls across threads."""
    calls = []
    lock = threading.Lock()
    real = cas._write

    def counted(obj, path):
        with lock:
            calls.append(obj.sha256)
        time.sleep(0.02)  # a slow write widens the window in which a second writer could slip in
        return real(obj, path)

    monkeypatch.setattr(cas, "_write", counted)
    return calls


def test_n_concurrent_puts_of_the_same_bytes_store_one_object_with_n_references(fs_store, count_writes):  # noqa: F811
    n = 24
    results = race(n, lambda i: asset_put_bytes(data=DATA, kind="clip"))

    assert [r for r in results if not isinstance(r, AssetObject)] == []
    assert {r.pk for r in results} == {results[0].pk}
    obj = AssetObject.objects.get()
    assert obj.ref_count == n
    assert len(count_writes) == 1
    assert cas.asset_bytes_present(obj)


def test_on_s3_n_concurrent_puts_write_once(s3_store, count_writes):  # noqa: F811
    client, bucket = s3_store
    n = 12
    results = race(n, lambda i: asset_put_bytes(data=DATA, kind="clip"))
    assert [r for r in results if not isinstance(r, AssetObject)] == []
    obj = AssetObject.objects.get()
    assert (obj.ref_count, len(count_writes)) == (n, 1)
    assert client.head_object(Bucket=bucket, Key=obj.key)["ContentLength"] == len(DATA)


def _settle():
    """Run every pending collect (the outbox's on_commit kick may already have)."""
    outbox_drain()


def _assert_bytes_iff_referenced(sha: str, expected_refs: int):
    obj = AssetObject.objects.filter(sha256=sha).first()
    refs = obj.ref_count if obj else 0
    assert refs == expected_refs
    if obj is not None:
        assert cas.asset_bytes_present(obj) == (refs > 0)
    if refs == 0:
        probe = AssetObject(sha256=sha, tier="fast", size_bytes=len(DATA))
        assert not cas.asset_bytes_present(probe)


@pytest.mark.parametrize("round_", range(8))
def test_two_deletes_and_an_upload_at_once_lose_nothing(fs_store, monkeypatch, round_):  # noqa: F811
    """Two holders release (and collect at once) while a third uploads the same bytes."""
    real_delete = cas._delete_bytes

    def slow_delete(obj):  # hold the row lock a while as S3 deletes do, so the upload has to wait on it
        time.sleep(0.01 * (round_ % 4))
        real_delete(obj)

    monkeypatch.setattr(cas, "_delete_bytes", slow_delete)
    first = asset_put_bytes(data=DATA, kind="clip")
    asset_put_bytes(data=DATA, kind="clip")

    def act(i):
        if i < 2:
            left = asset_release(asset_id=first.pk)
            cas.asset_collect(asset_id=first.pk)  # collect at once (the outbox may run it again)
            return left
        time.sleep(0.003 * (round_ % 3))
        return asset_put_bytes(data=DATA, kind="clip")

    results = race(3, act)
    assert [r for r in results if isinstance(r, Exception)] == []
    _settle()
    _assert_bytes_iff_referenced(first.sha256, expected_refs=1)


@pytest.mark.parametrize("round_", range(4))
def test_releases_and_puts_interleaved_keep_the_count_equal_to_the_references(fs_store, round_):  # noqa: F811
    """10 holders release while 10 newcomers put: 10 references remain, with their bytes."""
    seed = [asset_put_bytes(data=DATA, kind="clip") for _ in range(10)]

    def act(i):
        if i % 2:
            asset_release(asset_id=seed[0].pk)
            return cas.asset_collect(asset_id=seed[0].pk)
        return asset_put_bytes(data=DATA, kind="clip")

    results = race(20, act)
    assert [r for r in results if isinstance(r, Exception)] == []
    _settle()
    _assert_bytes_iff_referenced(seed[0].sha256, expected_refs=10)


def test_the_last_two_deletes_at_once_remove_the_bytes_once(fs_store):  # noqa: F811
    first = asset_put_bytes(data=DATA, kind="clip")
    asset_put_bytes(data=DATA, kind="clip")

    def act(i):
        asset_release(asset_id=first.pk)
        return cas.asset_collect(asset_id=first.pk)

    results = race(2, act)
    # at most one deletes (the outbox's own drain, kicked on commit, may have been first)
    assert all(isinstance(r, bool) for r in results) and sum(results) <= 1
    _settle()
    _assert_bytes_iff_referenced(first.sha256, expected_refs=0)


def test_on_s3_two_deletes_and_an_upload_at_once_lose_nothing(s3_store):  # noqa: F811
    client, bucket = s3_store
    for _ in range(4):
        first = asset_put_bytes(data=DATA, kind="clip")
        asset_put_bytes(data=DATA, kind="clip")

        def act(i, first=first):
            if i < 2:
                asset_release(asset_id=first.pk)
                return cas.asset_collect(asset_id=first.pk)
            return asset_put_bytes(data=DATA, kind="clip")

        results = race(3, act)
        assert [r for r in results if isinstance(r, Exception)] == []
        _settle()
        obj = AssetObject.objects.get(sha256=first.sha256)
        assert obj.ref_count == 1
        assert client.head_object(Bucket=bucket, Key=obj.key)["ContentLength"] == len(DATA)
        asset_release(asset_id=obj.pk)
        _settle()
        assert not AssetObject.objects.filter(sha256=first.sha256).exists()
        assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
