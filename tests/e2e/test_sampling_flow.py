"""A viewer asks for a sample on the session page in Chromium; staff approve it in the admin's review queue and
import the 3PL's tracking; the scheduled task sends the follow-up offer; the viewer redeems it at checkout."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.utils import timezone

from commerce.models import Order
from commerce.services.drops import drop_create
from sampling.models import FollowUpOffer, SampleRequest
from sampling.tasks import followup_offers_issue
from sessions_app.models import LiveSession
from tests.e2e.helpers import wait_js
from tests.factories import LiveSessionFactory, SkuFactory, make_campaign
from tests.sampling.helpers import make_series

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sample_to_follow_up_purchase(live_server, page, browser):
    cache.clear()
    series = make_series()
    session = LiveSessionFactory(series=series, status=LiveSession.Status.LIVE)
    sku = SkuFactory(price_minor=4299)
    campaign = make_campaign(
        series=series,
        sku=sku,
        quantity=2,
        countries=["DE"],
        vetting_threshold=0,
        offer_percent_off=Decimal("20"),
        offer_hours_after=24,
        description="Try it before the next session.",
    )

    # 1. the micro-form on the session page, one thumb on a phone
    mail.outbox.clear()
    page.goto(live_server.url + session.get_absolute_url())
    card = page.locator(f'[data-sample-campaign="{campaign.slug}"]')
    card.get_by_label("Email").fill("Viewer.One+live@example.com")
    card.get_by_text("A gift").click()
    card.get_by_label("E-mail me about this sample").check()
    card.get_by_role("button", name="Get my free sample").click()
    answer = card.locator('[data-sample-answer][data-answer="check_inbox"]')
    answer.wait_for()
    assert "Check your inbox" in answer.inner_text()
    assert answer.get_by_role("link").count() == 0  # a private link is never shown, only e-mailed
    assert page.url.endswith(session.get_absolute_url())  # the stream was never left

    # 2. the short address step, from the link in the e-mail sent to the address on file
    (reserved,) = [m for m in mail.outbox if m.to == ["Viewer.One+live@example.com"]]
    link = re.search(r"http\S+(/samples/r/\S+/)", reserved.body).group(1)
    page.goto(live_server.url + link)
    page.get_by_label("Full name").fill("Viewer One")
    page.get_by_label("Street address").fill("Gontardstraße 7")
    page.get_by_label("Postcode").fill("10178")
    page.get_by_label("City").fill("Berlin")
    page.get_by_role("button", name="Send my sample here").click()
    page.locator('[data-request-status="review"]').wait_for()
    req = SampleRequest.objects.get()
    assert req.status == SampleRequest.Status.REVIEW

    # 3. staff approve it from the review queue, then import the 3PL's tracking file
    get_user_model().objects.create_superuser("staff", "staff@example.com", "correct horse battery")
    staff = browser.new_page()
    staff.goto(live_server.url + "/admin/login/?next=/admin/sampling/reviewqueueitem/")
    staff.get_by_label("Username").fill("staff")
    staff.get_by_label("Password").fill("correct horse battery")
    staff.get_by_role("button", name="Log in").click()
    staff.locator("input[name=_selected_action]").first.check()
    staff.locator("select[name=action]").select_option("approve")
    staff.get_by_role("button", name="Go").click()
    staff.get_by_text("Approved 1 request(s).").wait_for()
    staff.goto(live_server.url + "/admin/sampling/samplerequest/import-tracking/")
    staff.locator("input[name=file]").set_input_files(
        files=[
            {
                "name": "tracking.csv",
                "mimeType": "text/csv",
                "buffer": f"request_id,tracking_number,carrier,status\n{req.pk},JD014600003SE,DHL,shipped\n".encode(),
            }
        ]
    )
    staff.get_by_role("button", name="Import").click()
    assert "1 shipped" in staff.locator("[data-import-ok]").inner_text()
    req.refresh_from_db()
    assert (req.status, req.tracking_number) == (SampleRequest.Status.SHIPPED, "JD014600003SE")
    assert [e.to_status for e in req.events.all()] == ["requested", "review", "approved", "shipped"]
    staff.close()

    # 4. the next session of the series starts with a drop; the scheduled task sends the offer
    starts_at = req.shipped_at + dt.timedelta(seconds=1)
    next_session = LiveSessionFactory(series=series, starts_at=starts_at, status=LiveSession.Status.LIVE)
    drop = drop_create(
        session=next_session, sku=sku, quantity=5, opens_at=starts_at, closes_at=timezone.now() + dt.timedelta(hours=2)
    )
    time.sleep(max(0.0, (starts_at - timezone.now()).total_seconds()) + 0.2)
    mail.outbox.clear()
    assert followup_offers_issue() == 1
    offer = FollowUpOffer.objects.get()
    link = re.search(r"http\S+/samples/offer/\S+/", mail.outbox[0].body).group(0)
    assert link.endswith(offer.get_absolute_url())

    # 5. the offer page counts down; the viewer redeems it at checkout
    page.goto(live_server.url + offer.get_absolute_url())
    wait_js(page, "document.querySelector('[data-offer-countdown]').textContent.startsWith('Closes in')")
    page.locator(f'[data-drop-offer="{drop.pk}"]').get_by_role("link", name="Buy with my offer").click()
    assert page.get_by_label("Email").input_value() == "Viewer.One+live@example.com"
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/**")
    order = Order.objects.get()
    assert page.locator("[data-order-total]").inner_text() == "$34.39"  # 42.99 − 20 % (8.598 → 8.60)
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (4299, 860, 3439)
    offer.refresh_from_db()
    assert offer.order == order
    assert offer.redeemed_at is not None
