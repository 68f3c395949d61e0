"""Back office: campaign form (create, reach preview, KPIs), review queue actions with reasons, tracking upload."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from commerce.services.orders import order_place
from sampling.models import SampleCampaign, SampleRequest
from tests.factories import ADDRESS_DE, SkuFactory, make_campaign, make_drop

from .helpers import approved_request

pytestmark = pytest.mark.django_db
S = SampleRequest.Status


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return user


def campaign_form(**overrides):
    now = timezone.now()
    return {
        "name": "Ring trial",
        "slug": "ring-trial",
        "sku": SkuFactory().pk,
        "description": "",
        "is_active": "on",
        "opens_at_0": now.strftime("%Y-%m-%d"),
        "opens_at_1": "00:00:00",
        "closes_at_0": (now + dt.timedelta(days=7)).strftime("%Y-%m-%d"),
        "closes_at_1": "00:00:00",
        "quantity": 25,
        "unit_cost_minor": "3.00",  # typed in major units (commerce.admin_money)
        "declared_value_minor": "15.00",
        "currency": "EUR",
        "use_cases": '["Everyday wear", "A gift"]',
        "purchase_rule": "new",
        "allowed_use_cases": "[]",
        "preferred_use_cases": '["A gift"]',
        "countries": '["de", "at"]',
        "accept_min_score": 0,
        "address_hours": 72,
        "vetting_threshold": 60,
        "offer_percent_off": "15",
        "offer_hours_after": 48,
        **overrides,
    }


def test_create_campaign_in_the_admin_sets_available(client, staff):
    response = client.post(reverse("admin:sampling_samplecampaign_add"), campaign_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign = SampleCampaign.objects.get()
    assert (campaign.quantity, campaign.available, campaign.countries) == (25, 25, ["DE", "AT"])


def test_campaign_form_refuses_unknown_use_cases_and_bad_countries(client, staff):
    response = client.post(
        reverse("admin:sampling_samplecampaign_add"),
        campaign_form(preferred_use_cases='["Skiing"]', countries='["Germany"]'),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not among the use cases: Skiing." in html
    assert "Give ISO country codes" in html
    assert SampleCampaign.objects.count() == 0


def test_change_page_shows_reach_and_kpis(client, staff):
    campaign = make_campaign()
    url = reverse("admin:sampling_samplecampaign_change", args=[campaign.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "data-reach-url" in page.content.decode()
    assert "data-kpis" in page.content.decode()


def test_reach_preview_endpoint(client, staff):
    drop = make_drop(quantity=5)
    order_place(drop_id=drop.pk, email="buyer@example.com", quantity=1)
    url = reverse("admin:sampling_campaign_reach")
    assert client.get(url, {"purchase_rule": "buyers"}).json() == {
        "known": 1,
        "open_to_new": False,
        "analytics_connected": True,
    }
    assert client.get(url, {"purchase_rule": "new"}).json()["known"] == 0
    assert client.get(url, {"purchase_rule": "new"}).json()["open_to_new"] is True


def test_kpis_in_the_changelist(client, staff):
    campaign = make_campaign(unit_cost_minor=350)
    approved_request(campaign)
    html = client.get(reverse("admin:sampling_samplecampaign_changelist")).content.decode()
    assert campaign.name in html
    assert "Sample → purchase" in html


def test_reject_from_the_review_queue_asks_for_a_reason(client, staff):
    campaign = make_campaign(vetting_threshold=0)
    req = approved_request(campaign)
    assert req.status == S.REVIEW
    url = reverse("admin:sampling_reviewqueueitem_changelist")
    assert req.email in client.get(url).content.decode()
    ask = client.post(url, {"action": "reject", "_selected_action": [req.pk]})
    assert "give a reason" in ask.content.decode()
    client.post(
        url, {"action": "reject", "_selected_action": [req.pk], "apply": "1", "reason": "Looks like a reseller"}
    )
    req.refresh_from_db()
    assert (req.status, req.decision_reason) == (S.REJECTED, "Looks like a reseller")
    event = req.events.last()
    assert (event.actor, event.actor_label, event.reason) == (staff, "staff:staff", "Looks like a reseller")
    assert req.email not in client.get(url).content.decode()
    detail = client.get(reverse("admin:sampling_samplerequest_change", args=[req.pk])).content.decode()
    assert "staff:staff" in detail  # the audit trail, who and why
    assert "Looks like a reseller" in detail


def test_approve_action_only_moves_requests_in_review(client, staff):
    campaign = make_campaign()
    req = approved_request(campaign)  # already approved automatically
    url = reverse("admin:sampling_samplerequest_changelist")
    response = client.post(url, {"action": "approve", "_selected_action": [req.pk]}, follow=True)
    assert "Only requests in review can be approved" in response.content.decode()


def test_tracking_upload_reports_rows(client, staff):
    campaign = make_campaign()
    req = approved_request(campaign, address=ADDRESS_DE)
    url = reverse("admin:sampling_samplerequest_import_tracking")
    bad = client.post(url, {"file": SimpleUploadedFile("t.csv", b"request_id,tracking_number\n999,X\n")})
    assert "no sample request" in bad.content.decode()
    good = client.post(
        url, {"file": SimpleUploadedFile("t.csv", f"request_id,tracking_number\n{req.pk},X1\n".encode())}
    )
    assert "1 shipped" in good.content.decode()
    req.refresh_from_db()
    assert req.status == S.SHIPPED
    assert req.events.last().actor == staff


def test_export_action_downloads_the_3pl_csv(client, staff):
    campaign = make_campaign()
    req = approved_request(campaign)
    response = client.post(
        reverse("admin:sampling_samplecampaign_changelist"),
        {"action": "export_shipments", "_selected_action": [campaign.pk]},
    )
    assert response["Content-Type"].startswith("text/csv")
    assert f"\r\n{req.pk}," in response.content.decode()


def test_changing_quantity_in_the_admin_keeps_reserved_samples(client, staff):
    client.post(reverse("admin:sampling_samplecampaign_add"), campaign_form(quantity=5))
    campaign = SampleCampaign.objects.get()
    approved_request(campaign, "a@example.com")
    approved_request(campaign, "b@example.com", address={**ADDRESS_DE, "street_address": "Gontardstraße 2"})
    form = campaign_form(quantity=8, sku=campaign.sku_id, name="Renamed")
    response = client.post(reverse("admin:sampling_samplecampaign_change", args=[campaign.pk]), form)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.quantity, campaign.available) == ("Renamed", 8, 6)
    refused = client.post(reverse("admin:sampling_samplecampaign_change", args=[campaign.pk]), {**form, "quantity": 1})
    assert "2 samples are already reserved." in refused.content.decode()


def test_demo_campaign_command(catalog):
    from django.core.management import call_command

    from sessions_app.models import Series, SessionFormat

    Series.objects.create(
        name="Friday",
        slug="weekly-jewellery-drop",
        format=SessionFormat.objects.get(slug="drop-demo"),
        host_name="Host",
        weekday=4,
        local_time=dt.time(18, 0),
        starts_on=dt.date(2026, 1, 1),
    )
    call_command("seed_sampling_demo")
    call_command("seed_sampling_demo")  # safe to run again
    campaign = SampleCampaign.objects.get()
    assert (campaign.quantity, campaign.available, campaign.sku.code) == (25, 25, "gemstone-blue")
