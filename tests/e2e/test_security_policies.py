"""Every page type under the real Content-Security-Policy and Permissions-Policy, in headless Chromium.

The `browser` fixture (conftest) fails a test on any policy violation and stubs other hosts; the
flows that cover checkout/cart/order, the pass and the door's QR decoder, the sampling pages and
the Chart.js dashboards are in the other e2e tests, which run under the same watch. This module
visits the remaining page types, checks the features that the policy could break, and proves that
the watch itself catches a violation.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from django.contrib.auth import get_user_model

from commerce.models import Drop, PickupBooking
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from sessions_app.models import LiveSession
from tests.e2e.helpers import wait_js
from tests.factories import (
    LiveSessionFactory,
    ProductFactory,
    SkuFactory,
    make_campaign,
    make_drop,
    make_pickup_drop,
    make_slot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-e2e-only-1"  # noqa: S105


def login(page, base, username, next_url):
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"**{next_url}")


def test_viewer_pages_stream_embed_images_and_polling(live_server, page, browser):
    product = ProductFactory(image_urls=["https://cdn.example.com/bracelet.jpg"])
    drop = make_drop(quantity=3, sku=SkuFactory(product=product))  # YouTube stream → youtube-nocookie iframe
    campaign = make_campaign(session=drop.session, quantity=5)
    video_session = LiveSessionFactory(stream_url="/static/demo/big_buck_bunny_5s_360p_vp9.webm")

    page.goto(live_server.url + "/")
    assert page.get_by_text(drop.session.title).is_visible()

    # the session page: the player iframe, the product placeholder (a catalog URL is fetched into our
    # storage in the background, never hotlinked), the micro-form, polling
    page.goto(live_server.url + drop.session.get_absolute_url())
    assert page.locator("iframe").get_attribute("src").startswith("https://www.youtube-nocookie.com/embed/")
    wait_js(page, "(i => i.complete && i.naturalWidth > 0)(document.querySelector('[data-drop] img'))")
    assert any(u.startswith("https://www.youtube-nocookie.com/") for u in browser.watch.external_requests)
    assert not any("cdn.example.com" in u for u in browser.watch.external_requests)
    assert page.locator("[data-sample-form]").is_visible()
    Drop.objects.filter(pk=drop.pk).update(available=1)
    wait_js(page, f"document.querySelector('[data-drop=\"{drop.pk}\"] [data-available]').textContent === '1'")

    # a session streaming a direct file plays it from our static files
    page.goto(live_server.url + video_session.get_absolute_url())
    wait_js(page, "document.querySelector('video').readyState >= 1")

    # the checkout form and the stand-alone sample form
    page.goto(live_server.url + f"/drops/{drop.pk}/checkout/")
    assert page.get_by_role("button", name="Reserve").is_visible()
    page.goto(live_server.url + f"/samples/{campaign.slug}/")
    assert page.locator("form[method=post] input[type=email]").is_visible()


def test_camera_only_on_the_check_in_door(live_server, page, browser):
    get_user_model().objects.create_user("door", password=PASSWORD, is_staff=True, is_superuser=True)
    drop = make_pickup_drop(quantity=5, per_customer_limit=2)
    slot = make_slot(drop.popup, starts_in=3600, capacity=3)
    hold = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, pickup_slot_id=slot.pk)
    order = checkout_start(hold_token=hold.token)
    assert PickupBooking.objects.filter(order=order).exists()

    # the door: the scanner really starts the (fake) camera
    login(page, live_server.url, "door", "/pickup/staff/checkin/")
    page.get_by_role("button", name="Scan pass with camera").click()
    page.get_by_text("Point the camera at the pass QR code.").wait_for()
    wait_js(page, "document.querySelector('[data-scan-video]').srcObject !== null")
    page.get_by_role("button", name="Stop camera").click()

    # the staff overview and the no-show list render under the policy (usage meters without inline styles)
    page.goto(live_server.url + "/pickup/staff/")
    assert page.locator("meter.meter").count() >= 1
    page.goto(live_server.url + f"/pickup/staff/popups/{drop.popup_id}/no-shows/")

    # anywhere else the camera is refused by Permissions-Policy, even with the device granted
    page.goto(live_server.url + order.get_absolute_url())
    answer = page.evaluate("navigator.mediaDevices.getUserMedia({video: true}).then(() => 'granted', (e) => e.name)")
    assert answer == "NotAllowedError"
    assert any("camera" in v.get("text", "") for v in browser.watch.violations)
    browser.watch.violations.clear()  # that refusal was the point

    # the pass page: cancelling asks first (a static script instead of an inline onsubmit)
    booking = PickupBooking.objects.get(order=order)
    page.goto(live_server.url + f"/pickup/pass/{order.token}/")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.get_by_role("button", name=re.compile("Cancel pickup")).click()
    assert dialogs == ["Cancel this pickup?"]
    booking.refresh_from_db()
    assert booking.cancelled_at is None  # dismissed: nothing happened


def test_back_office_pages_and_api_docs(live_server, page, browser):
    get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)
    campaign = make_campaign(quantity=3)
    session = LiveSessionFactory(status=LiveSession.Status.ENDED)

    login(page, live_server.url, "boss", "/admin/")
    for path in (
        "/admin/commerce/order/",
        "/admin/commerce/drop/add/",
        "/admin/sessions_app/livesession/",
        f"/admin/analytics/sessionkpis/session/{session.pk}/",
        "/admin/analytics/sessionkpis/cohorts/",
    ):
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
    # the campaign form's reach preview (a static script now) still asks the server
    page.goto(live_server.url + f"/admin/sampling/samplecampaign/{campaign.pk}/change/")
    page.locator("[data-reach]").filter(has_text=re.compile(r"\d+ known")).wait_for()

    # the API docs: Swagger UI from our static files, rendered offline, nothing from another host
    browser.watch.external_requests.clear()
    urls = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(live_server.url + "/api/v1/docs")
    page.locator(".swagger-ui .info .title").filter(has_text="Micromoments partner API").wait_for()
    page.locator(".opblock").first.wait_for()
    assert browser.watch.external_requests == []
    assert urls and all(u.startswith(live_server.url) or u.startswith("data:") for u in urls), urls
    assert any("/static/ninja/swagger-ui-bundle" in u for u in urls)


def test_the_watch_catches_an_inline_script(live_server, page, browser):
    """Control: the policy is enforced and a violation is reported (so zero violations elsewhere means something)."""
    drop = make_drop(quantity=1)
    page.goto(live_server.url + drop.session.get_absolute_url())
    with contextlib.suppress(Exception):  # Playwright may also raise for the refused script
        page.add_script_tag(content="window.__injected = true;")
    wait_js(page, "document.readyState === 'complete'")
    assert page.evaluate("window.__injected === undefined")
    wait_js(page, "new Promise((r) => setTimeout(() => r(true), 200))")
    reported = [v for v in browser.watch.violations if v.get("directive", "").startswith("script-src")]
    assert reported, browser.watch.violations
    browser.watch.violations.clear()
