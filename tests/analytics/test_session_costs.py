"""ROI per minute subtracts the computed asset cost and the real sample cost (metrics.md §2)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import selectors
from analytics.models import FunnelRollup, SessionCost
from commerce.models import Partner
from commerce.services.api_keys import api_key_create
from sampling.models import SampleRequest
from sessions_app.assets.costs import asset_cost_ledger_record
from sessions_app.assets.models import AssetDelivery
from tests.factories import make_campaign, make_drop
from tests.sessions_app.assets.costing import at, make_object, make_recording

pytestmark = pytest.mark.django_db
GiB = 2**30
DAY = dt.date(2026, 11, 10)


@pytest.fixture
def session_with_costs():
    """Revenue $100.00, 3 samples shipped at $3.50, assets costing 98 ¢ (see test_costs), 10 minutes."""
    drop = make_drop()
    session = drop.session
    FunnelRollup.objects.create(session_id=session.pk, drop_id=0, orders=2, revenue_minor=10000, currency="USD")
    campaign = make_campaign(session=session, unit_cost_minor=350)
    now = timezone.now()
    for i, status in enumerate(["shipped", "delivered", "shipped", "approved", "cancelled"]):
        SampleRequest.objects.create(
            campaign=campaign, email=f"p{i}@example.com", email_normalized=f"p{i}@example.com", use_case="A gift",
            consent_at=now, created_at=now, status=status, session=session if i != 2 else None,
        )
    obj = make_object(size=100 * GiB, created=at(DAY))
    make_recording(session, obj, created=at(DAY))
    AssetDelivery.objects.create(asset=obj, day=DAY, requests=1000, bytes_origin=10 * GiB)
    asset_cost_ledger_record(day=DAY)
    return session


def test_roi_per_minute_subtracts_shipped_samples_and_the_ledger(session_with_costs):
    kpis = selectors.session_kpis(session_id=session_with_costs.pk)
    # 3 shipped or delivered (one through the campaign's session) × 350; approved/cancelled cost nothing yet
    assert kpis["sample_cost_minor"] == 1050
    assert (kpis["asset_cost_minor"], kpis["storage_cost_minor"], kpis["delivery_cost_minor"]) == (98, 8, 90)
    assert kpis["cost_adjustment_minor"] == 0 and kpis["cost_notes"] == []
    assert kpis["roi_per_minute_minor"] == round((10000 - 1050 - 98) / 10)


def test_a_manual_adjustment_is_added_and_shown_apart(session_with_costs):
    SessionCost.objects.create(session_id=session_with_costs.pk, sample_cost_minor=100, asset_cost_minor=2,
                               currency="USD")
    kpis = selectors.session_kpis(session_id=session_with_costs.pk)
    assert kpis["cost_adjustment_minor"] == 102
    assert kpis["asset_cost_minor"] == 98  # the computed figure is not mixed with the manual one
    assert kpis["roi_per_minute_minor"] == round((10000 - 1050 - 98 - 102) / 10)


def test_costs_without_an_exchange_rate_are_not_subtracted_and_say_so(session_with_costs):
    FunnelRollup.objects.filter(session_id=session_with_costs.pk).update(currency="SEK")
    kpis = selectors.session_kpis(session_id=session_with_costs.pk)
    assert kpis["asset_cost_minor"] is None
    assert kpis["sample_cost_minor"] == 0
    assert any("USD→SEK" in note for note in kpis["cost_notes"])
    assert kpis["roi_per_minute_minor"] == round(10000 / 10)


def test_the_session_dashboard_shows_costs_next_to_revenue_and_the_what_if(admin_client, session_with_costs):
    url = reverse("admin:analytics_session", args=[session_with_costs.pk])
    response = admin_client.get(url)
    html = response.content.decode()
    assert "Storage cost" in html and "Delivery cost" in html
    marker = '<script id="chart-costs" type="application/json">'
    chart = json.loads(html.split(marker, 1)[1].split("</script>", 1)[0])
    assert chart["data"]["labels"][:4] == ["Revenue", "Sample cost", "Storage", "Delivery"]
    assert chart["data"]["datasets"][0]["data"][:4] == [100.0, 10.5, 0.08, 0.9]
    what_if = admin_client.get(url, {"csv": "what_if"}).content.decode().splitlines()
    assert what_if[0] == "scenario,total_minor,vs_actual_minor,currency"
    assert what_if[1].endswith(",98,0,USD")
    tiers = admin_client.get(url, {"csv": "asset_costs"}).content.decode()
    assert "total,8,90,0,0,98,USD" in tiers
    index = admin_client.get(reverse("admin:analytics_dashboards")).content.decode()
    assert "What if: asset cost of these sessions (overall)" in index


def test_the_partner_api_returns_the_cost_parts(client, session_with_costs):
    key = api_key_create(partner=Partner.objects.create(name="BI"), name="k", scopes=["analytics:read", "shop"])[1]
    body = client.get(
        f"/api/v1/analytics/sessions/{session_with_costs.public_id}", headers={"X-API-Key": key}
    ).json()
    assert (body["sample_cost_minor"], body["asset_cost_minor"], body["cost_currency"]) == (1050, 98, "USD")
    assert body["storage_cost_minor"] == 8 and body["cost_notes"] == []


def test_the_hand_entered_costs_are_labelled_as_manual_adjustments(admin_client):
    html = admin_client.get(reverse("admin:analytics_sessioncost_changelist")).content.decode()
    assert "Manual cost adjustments (added on top of the computed sample and asset costs)" in html
