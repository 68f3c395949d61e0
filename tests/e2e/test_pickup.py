"""In real headless Chromium: buy for pickup during a live session, open the pass, check in at the door."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.models import Order, OrderLine, PickupBooking, PickupSlot
from commerce.services.pickup import pickup_pass_token
from tests.e2e.helpers import wait_js
from tests.factories import make_pickup_drop, make_slot, make_staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DECODE_SVG = """async (svg) => {
  if (!svg.includes('xmlns=')) svg = svg.replace('<svg', '<svg xmlns="http://www.w3.org/2000/svg"');
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
  await img.decode();
  return window.MMPickupScan.decodeCanvas(img, 400, 400);
}"""


def test_buy_for_pickup_open_the_pass_and_check_in(live_server, page, browser, django_user_model):
    # given a live drop sold for pickup, a slot with 3 places and a full one
    drop = make_pickup_drop(quantity=5, per_customer_limit=2)
    slot = make_slot(drop.popup, starts_in=2 * 3600, capacity=3)
    full = make_slot(drop.popup, starts_in=3 * 3600, capacity=1)
    PickupSlot.objects.filter(pk=full.pk).update(available=0)
    make_staff("door", role="fulfilment", password="door-pass-123", first_name="Dana")

    # the viewer buys from the session page and picks the slot in the pop-up's local time
    page.goto(live_server.url + drop.session.get_absolute_url())
    page.locator(f'[data-drop="{drop.pk}"]').get_by_role("link", name="Buy now").click()
    page.wait_for_url("**/pickup/")
    local = timezone.localtime(slot.starts_at, drop.popup.tz).strftime("%H:%M")
    slot_row = page.locator(f'[data-slot="{slot.pk}"]')
    assert local in slot_row.inner_text()
    assert "3 of 3 left" in slot_row.inner_text()
    assert page.locator(f'[data-slot="{full.pk}"] input').is_disabled()
    assert "Full" in page.locator(f'[data-slot="{full.pk}"]').inner_text()
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Quantity").fill("2")
    slot_row.locator("input").check()
    page.get_by_role("button", name="Reserve").click()
    page.wait_for_url("**/cart/**")
    assert local in page.locator("[data-pickup-slot]").inner_text()
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/**")
    order = Order.objects.get()
    assert PickupSlot.objects.get(pk=slot.pk).available == 2

    # the pass: QR code, slot, calendar entry
    page.locator("[data-pickup-pass-link]").click()
    page.wait_for_url("**/pickup/pass/**")
    assert page.locator("[data-order-number]").inner_text() == order.number
    assert local in page.locator("[data-slot-label]").inner_text()
    svg = page.locator("[data-pass-qr] svg").evaluate("el => el.outerHTML")
    assert page.locator("[data-ics]").get_attribute("href").endswith("pickup.ics")

    # staff at the door, on a phone: log in, read the pass QR with the vendored decoder, check in
    staff_context = browser.new_context(viewport={"width": 390, "height": 844})
    door = staff_context.new_page()
    try:
        door.goto(live_server.url + "/pickup/staff/checkin/")
        door.wait_for_url("**/admin/login/**")
        door.fill("#id_username", "door")
        door.fill("#id_password", "door-pass-123")
        door.locator("input[type=submit]").click()
        door.wait_for_url("**/pickup/staff/checkin/")
        wait_js(door, "!!(window.MMPickupScan && window.jsQR)")
        token = door.evaluate(DECODE_SVG, svg)
        assert token == pickup_pass_token(PickupBooking.objects.get(order=order))
        door.get_by_label("Pass code or order number").fill(token)
        door.get_by_role("button", name="Check in", exact=True).click()
        result = door.locator("[data-checkin-result]")
        assert result.get_attribute("data-checkin-result") == "payment"  # pay at pickup: take the money first
        door.get_by_role("button", name="Payment received").click()
        assert door.locator("[data-checkin-result]").get_attribute("data-checkin-result") == "ok"
        assert "viewer@example.com" in door.locator("[data-checkin-result]").inner_text()
        assert f"2 × {drop.display_title}" in door.locator("[data-checkin-result]").inner_text()
        # a second scan of the same pass says when and by whom
        door.get_by_label("Pass code or order number").fill(token)
        door.get_by_role("button", name="Check in", exact=True).click()
        assert door.locator("[data-checkin-result]").get_attribute("data-checkin-result") == "already"
        assert "Dana" in door.locator("[data-checkin-message]").inner_text()
    finally:
        staff_context.close()

    booking = PickupBooking.objects.get(order=order)
    assert booking.checked_in_by.username == "door"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert OrderLine.objects.get(order=order).fulfilled_quantity == 2
    # the buyer's pass now says it was picked up
    page.reload()
    assert page.locator("[data-picked-up]").is_visible()
