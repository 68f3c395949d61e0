"""The edge hot set: the documented score, the top 10 %, and CDN calls through the outbox."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.models import FunnelRollup
from commerce.models import OutboxMessage
from commerce.services.outbox import outbox_drain
from sessions_app.assets import hotset
from sessions_app.assets.cdn import LoggingCdn
from sessions_app.assets.models import AssetDelivery, AssetObject
from tests.factories import LiveSessionFactory, make_drop

from .costing import at, make_clip, make_object

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)
NOW = at(TODAY, 23)


def _clips(n: int, views: list[int] | None = None) -> list[AssetObject]:
    session = LiveSessionFactory()
    objs = []
    for i in range(n):
        obj = make_object(size=1000, created=at(TODAY - dt.timedelta(days=3)))
        make_clip(session, obj, created=at(TODAY - dt.timedelta(days=3)), start_ms=i * 1000)
        if views and views[i]:
            AssetDelivery.objects.create(asset=obj, day=TODAY, views=views[i])
        objs.append(obj)
    return objs


@pytest.fixture
def cdn(settings):
    settings.ASSET_CDN_PROVIDER = "logging"
    LoggingCdn.calls.clear()
    return LoggingCdn.calls


def test_the_top_ten_percent_rounded_up_are_hot_and_the_cdn_is_told_after_commit(cdn):
    # given 21 clips with views 21, 20, …, 1
    objs = _clips(21, views=list(range(21, 0, -1)))
    # when the daily task runs
    result = hotset.hot_set_rank(now=NOW)
    # then ceil(2.1) = 3 are hot: the three most viewed
    assert result["hot"] == 3
    assert set(AssetObject.objects.filter(hot=True).values_list("pk", flat=True)) == {o.pk for o in objs[:3]}
    assert AssetObject.objects.get(pk=objs[0].pk).hot_score == pytest.approx(21)
    # and the CDN call waits in the outbox until drained
    assert cdn == []
    assert OutboxMessage.objects.filter(kind="asset.cdn").count() == 1
    outbox_drain()
    assert cdn == [("prefetch", [hotset.asset_public_url(o) for o in objs[:3]])]
    assert cdn[0][1][0] == f"/media/a/{objs[0].sha256}.mp4"

    # when the views move to a cold clip, the next ranking purges the one that left the hot set
    AssetDelivery.objects.filter(asset=objs[20], day=TODAY).update(views=100)
    cdn.clear()
    result = hotset.hot_set_rank(now=NOW + dt.timedelta(minutes=1))
    outbox_drain()
    assert result["made_hot"] == [objs[20].pk] and result["made_cold"] == [objs[2].pk]
    assert ("prefetch", [hotset.asset_public_url(objs[20])]) in cdn
    assert ("purge", [hotset.asset_public_url(objs[2])]) in cdn


def test_nothing_is_hot_without_views_and_one_is_hot_with_any(cdn):
    objs = _clips(3)
    assert hotset.hot_set_rank(now=NOW)["hot"] == 0
    assert not OutboxMessage.objects.filter(kind="asset.cdn").exists()
    AssetDelivery.objects.create(asset=objs[1], day=TODAY, views=1)
    assert hotset.hot_set_rank(now=NOW)["hot"] == 1
    assert AssetObject.objects.get(hot=True).pk == objs[1].pk


def test_old_views_decay_with_the_half_life(settings):
    settings.ASSET_HOT_HALF_LIFE_DAYS = 2
    old, new = _clips(2)
    AssetDelivery.objects.create(asset=old, day=TODAY - dt.timedelta(days=6), views=10)  # 10 × 2^-3 = 1.25
    AssetDelivery.objects.create(asset=new, day=TODAY, views=3)
    AssetDelivery.objects.create(asset=new, day=TODAY - dt.timedelta(days=7), views=1000)  # outside the 7 days
    scores = hotset.hot_set_scores(now=NOW)
    assert scores[old.pk] == pytest.approx(1.25)
    assert scores[new.pk] == pytest.approx(3)


def test_a_clip_that_sells_outranks_one_that_is_only_watched(settings):
    settings.ASSET_HOT_REVENUE_WEIGHT = 0.01
    drop = make_drop()
    watched, selling = _clips(2, views=[50, 5])
    make_clip(drop.session, selling, created=at(TODAY), drop=drop, start_ms=9000)
    FunnelRollup.objects.create(session_id=drop.session_id, drop_id=drop.pk, orders=2, revenue_minor=8598,
                                currency="USD")
    scores = hotset.hot_set_scores(now=NOW)
    assert scores[selling.pk] == pytest.approx(5 + 85.98)
    assert scores[watched.pk] == pytest.approx(50)
    # revenue in a currency without a rate is left out, not guessed
    FunnelRollup.objects.filter(drop_id=drop.pk).update(currency="SEK")
    assert hotset.hot_set_scores(now=NOW)[selling.pk] == pytest.approx(5)


class RecordingCdn:
    """A provider plugged in by dotted path, as a real CDN client would be."""

    seen: list = []

    def purge(self, urls):
        RecordingCdn.seen.append(("purge", urls))

    def prefetch(self, urls):
        RecordingCdn.seen.append(("prefetch", urls))


def test_a_provider_is_plugged_in_by_dotted_path_and_none_does_nothing(settings):
    from sessions_app.assets.cdn import NoCdn, cdn_provider

    assert isinstance(cdn_provider(), NoCdn)
    settings.ASSET_CDN_PROVIDER = "tests.sessions_app.assets.test_hotset.RecordingCdn"
    RecordingCdn.seen.clear()
    objs = _clips(2, views=[0, 4])
    hotset.hot_set_rank(now=NOW)
    outbox_drain()
    assert RecordingCdn.seen == [("prefetch", [hotset.asset_public_url(objs[1])])]
