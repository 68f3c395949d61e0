"""The price table, the cost ledger and a session's asset cost (docs/asset-costs.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from sessions_app.assets import costs
from sessions_app.assets.models import AssetCostDay, AssetDelivery
from tests.factories import LiveSessionFactory

from .costing import at, make_clip, make_object, make_recording

pytestmark = pytest.mark.django_db
GiB = 2**30
DAY = dt.date(2026, 11, 10)  # November: 30 days


def test_the_default_price_table_is_aws_us_east_1_and_settings_override_a_field(settings):
    table = costs.price_table("s3")
    assert table["currency"] == "USD"
    assert table["tiers"]["fast"]["storage_gb_month"] == Decimal("0.023")
    assert table["tiers"]["mid"]["min_object_bytes"] == 128 * 1024
    assert table["tiers"]["archive"]["min_days"] == 90
    settings.ASSET_PRICES = {"s3": {"tiers": {"fast": {"storage_gb_month": "0.021"}}}}
    table = costs.price_table("s3")
    assert table["tiers"]["fast"]["storage_gb_month"] == Decimal("0.021")
    assert table["tiers"]["fast"]["get_per_1000"] == Decimal("0.0004")  # untouched fields stay
    assert costs.price_table("filesystem")["tiers"]["archive"]["storage_gb_month"] == Decimal("0.08")
    with pytest.raises(costs.CostError) as exc:
        costs.price_table("nowhere")
    assert exc.value.code == "unknown_provider"


def test_a_shared_object_is_charged_to_the_session_that_first_referenced_it():
    # given a clip object first used by session A, later by session B (dedup)
    a, b = LiveSessionFactory(), LiveSessionFactory()
    obj = make_object(size=10 * GiB, created=at(DAY - dt.timedelta(days=2)))
    make_clip(a, obj, created=at(DAY - dt.timedelta(days=2)))
    make_clip(b, obj, created=at(DAY - dt.timedelta(days=1)))
    # when the day is recorded
    assert costs.asset_cost_ledger_record(day=DAY) == 1
    # then only A holds the bytes
    row = AssetCostDay.objects.get()
    assert (row.session_id, row.tier, row.byte_days) == (a.pk, "fast", 10 * GiB)
    assert costs.session_asset_cost(session_id=b.pk)["total_minor"] == 0
    # and B's own references say what dedup saved it: nothing stored, one clip referenced
    assert costs.session_reference_bytes(session_id=b.pk) == {"logical": 10 * GiB, "stored": 0}


def test_recording_a_day_twice_replaces_it():
    session = LiveSessionFactory()
    obj = make_object(size=GiB, created=at(DAY))
    make_recording(session, obj, created=at(DAY))
    costs.asset_cost_ledger_record(day=DAY)
    AssetDelivery.objects.create(asset=obj, day=DAY, requests=3, bytes_origin=5, bytes_edge=7)
    costs.asset_cost_ledger_record(day=DAY)
    row = AssetCostDay.objects.get()
    assert (row.byte_days, row.bytes_delivered, row.requests) == (GiB, 12, 3)


def test_small_objects_in_infrequent_access_are_billed_as_128_kb_and_early_deletion_is_charged():
    session = LiveSessionFactory()
    thumb = make_object(size=10_000, tier="mid", kind="thumbnail", created=at(DAY - dt.timedelta(days=40)),
                        tier_changed_at=at(DAY - dt.timedelta(days=9)))
    make_recording(session, thumb, created=at(DAY - dt.timedelta(days=40)))
    costs.asset_cost_ledger_record(day=DAY)
    row = AssetCostDay.objects.get()
    assert (row.byte_days, row.billable_byte_days) == (10_000, 128 * 1024)
    # when the object is released on its 10th day in IA, the remaining 20 days of the 30-day minimum are charged
    thumb.unreferenced_at = at(DAY)
    thumb.save()
    costs.asset_cost_ledger_record(day=DAY)
    row = AssetCostDay.objects.get()
    assert row.billable_byte_days == 128 * 1024 * (1 + 20)


def test_the_tier_before_a_move_is_used_for_days_before_it():
    session = LiveSessionFactory()
    obj = make_object(size=GiB, tier="mid", created=at(DAY - dt.timedelta(days=10)), tier_changed_at=at(DAY))
    make_recording(session, obj, created=at(DAY - dt.timedelta(days=10)))
    costs.asset_cost_ledger_record(day=DAY - dt.timedelta(days=1))
    costs.asset_cost_ledger_record(day=DAY)
    assert dict(AssetCostDay.objects.values_list("day", "tier")) == {DAY - dt.timedelta(days=1): "fast", DAY: "mid"}
    # the day before the object existed has no row
    costs.asset_cost_ledger_record(day=DAY - dt.timedelta(days=11))
    assert not AssetCostDay.objects.filter(day=DAY - dt.timedelta(days=11)).exists()


def _priced_session():
    """100 GiB in fast for one November day, 10 GiB delivered from the origin in 1,000 GETs."""
    session = LiveSessionFactory()
    obj = make_object(size=100 * GiB, created=at(DAY))
    make_recording(session, obj, created=at(DAY))
    AssetDelivery.objects.create(asset=obj, day=DAY, requests=1000, bytes_origin=10 * GiB)
    costs.asset_cost_ledger_record(day=DAY)
    return session


def test_session_asset_cost_prices_the_ledger_and_rounds_the_total_once():
    session = _priced_session()
    cost = costs.session_asset_cost(session_id=session.pk)
    # storage 100 GiB-days / 30 × $0.023 = $0.0766…; egress 10 GiB × $0.09 = $0.90;
    # requests 1,000 GETs × $0.0004/1,000 + one PUT × $0.005/1,000 = $0.000405 → total $0.977072 → 98 ¢
    assert cost["total_minor"] == 98
    assert (cost["storage_minor"], cost["delivery_minor"], cost["requests_minor"]) == (8, 90, 0)
    assert cost["currency"] == "USD"
    assert cost["by_tier"]["fast"]["total_minor"] == 98
    assert cost["bytes"]["delivered"] == 10 * GiB


def test_session_asset_cost_converts_with_the_fixed_rate_or_refuses(settings):
    session = _priced_session()
    # $0.977072 × 0.90 = €0.8793… → 88 cents; × 150 = ¥146.56 → 147 (JPY has no minor unit)
    assert costs.session_asset_cost(session_id=session.pk, currency="EUR")["total_minor"] == 88
    assert costs.session_asset_cost(session_id=session.pk, currency="JPY")["total_minor"] == 147
    with pytest.raises(costs.CostError) as exc:
        costs.session_asset_cost(session_id=session.pk, currency="SEK")
    assert exc.value.code == "no_fx_rate"


def test_a_cdn_bills_delivered_bytes_at_its_egress_price(settings):
    settings.ASSET_CDN_PROVIDER = "logging"
    session = _priced_session()
    # 10 GiB × $0.085 = $0.85 (origin → CloudFront is free)
    assert costs.session_asset_cost(session_id=session.pk)["delivery_minor"] == 85


def test_what_if_shows_what_tiers_and_dedup_save():
    session = LiveSessionFactory()
    start = DAY - dt.timedelta(days=100)
    archived = make_object(size=200 * GiB, tier="archive", kind="recording", created=at(start),
                           tier_changed_at=at(DAY - dt.timedelta(days=60)))
    make_recording(session, archived, created=at(start))
    clip = make_object(size=30 * GiB, created=at(DAY))
    for i in range(3):  # the same clip three times: stored once
        make_clip(session, clip, created=at(DAY), start_ms=i * 1000)
    costs.asset_cost_ledger_record(day=DAY)
    w = costs.session_asset_what_if(session_id=session.pk)
    assert w["bytes"]["dedup_saved"] == 60 * GiB
    assert w["no_tiers"] > w["actual"]  # 200 GiB at Standard instead of Glacier
    assert w["no_dedup"] > w["actual"]
    assert w["no_tiers_no_dedup"] >= max(w["no_tiers"], w["no_dedup"])


def test_backfill_command_records_each_day_with_progress(capsys):
    session = LiveSessionFactory()
    obj = make_object(size=GiB, created=at(DAY - dt.timedelta(days=5)))
    make_recording(session, obj, created=at(DAY - dt.timedelta(days=5)))
    call_command("asset_costs_backfill", "--from", (DAY - dt.timedelta(days=6)).isoformat(), "--to", DAY.isoformat())
    out = capsys.readouterr()
    assert "recorded 7 day(s)" in out.out
    assert "7/7" in out.err  # tqdm's bar
    assert AssetCostDay.objects.count() == 6  # the object existed on 6 of the 7 days
    with pytest.raises(CommandError):
        call_command("asset_costs_backfill", "--from", DAY.isoformat(), "--to", (DAY - dt.timedelta(days=1)).isoformat())
    with pytest.raises(CommandError):
        call_command("asset_costs_backfill", "--from", "yesterday", "--to", DAY.isoformat())


def test_without_the_hot_set_every_edge_byte_would_be_an_origin_read():
    # given a clip in infrequent access: 1 GiB read from the origin, 9 GiB served by the edge
    session = LiveSessionFactory()
    obj = make_object(size=GiB, tier="mid", created=at(DAY - dt.timedelta(days=40)),
                      tier_changed_at=at(DAY - dt.timedelta(days=33)))
    make_clip(session, obj, created=at(DAY - dt.timedelta(days=40)))
    AssetDelivery.objects.create(asset=obj, day=DAY, requests=100, bytes_origin=GiB, bytes_edge=9 * GiB)
    costs.asset_cost_ledger_record(day=DAY)
    assert AssetCostDay.objects.get().bytes_retrieved == GiB
    w = costs.session_asset_what_if(session_id=session.pk)
    # then the edge bytes would pay IA retrieval too: 9 GiB × $0.01 = 9 ¢ (+ 900 GETs ≈ $0.0009)
    assert w["no_hot_set"] - w["actual"] == 9


def test_the_daily_schedules_run_the_ledger_and_the_ranking():
    from django_q.models import Schedule

    from sessions_app.assets import tasks

    names = dict(Schedule.objects.filter(name__startswith="sessions_app.").values_list("name", "func"))
    assert names["sessions_app.asset_cost_ledger"] == "sessions_app.assets.tasks.asset_cost_ledger_task"
    assert names["sessions_app.hot_set_rank"] == "sessions_app.assets.tasks.hot_set_rank_task"
    session = LiveSessionFactory()
    obj = make_object(size=GiB, created=at(DAY))
    make_recording(session, obj, created=at(DAY))
    assert tasks.asset_cost_ledger_task(DAY.isoformat()) == 1
    assert tasks.hot_set_rank_task()["ranked"] == 0  # a recording is not a clip
