"""The live control room in Chromium: a host on a phone pins a drop and fires a flash coupon, and a viewer's
session page (another browser context) features the drop and shows the coupon banner without reloading."""

from __future__ import annotations

import struct
import time

import pytest

from commerce.models import Coupon
from sessions_app.models import LiveSession
from tests.e2e.helpers import wait_js
from tests.factories import LiveSessionFactory, make_drop, make_staff

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
PASSWORD = "pw-host-e2e-1"  # noqa: S105 (a test account)


def _png_size(path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        header = fh.read(24)
    return struct.unpack(">II", header[16:24])


def test_host_pins_and_fires_a_flash_coupon_and_the_viewer_sees_both_live(live_server, browser, tmp_path):
    # given a live session with two drops, its viewer watching, and its host on a phone
    session = LiveSessionFactory(status="live", stream_url="/static/demo/big_buck_bunny_5s_360p_vp9.webm")
    first = make_drop(session=session, quantity=10, opens_in=-120, title="Anchor bracelet")
    second = make_drop(session=session, quantity=4, opens_in=-60, title="Silver ring")
    make_staff("host", role="host", password=PASSWORD)

    viewer_context = browser.new_context(viewport=PHONE)
    viewer = viewer_context.new_page()
    navigations = []
    viewer.on("framenavigated", lambda frame: frame == viewer.main_frame and navigations.append(frame.url))
    viewer.goto(live_server.url + session.get_absolute_url())
    viewer.evaluate("window.__sameDocument = 'yes'")
    order = "Array.from(document.querySelectorAll('[data-drop]')).map(e => e.dataset.drop).join(',')"
    assert viewer.evaluate(order) == f"{first.pk},{second.pk}"
    assert viewer.locator("[data-flash-banner]").is_hidden()
    assert viewer.evaluate("document.querySelector('[data-status-url]').dataset.pollMs") == "1500"
    loaded = len(navigations)

    host_context = browser.new_context(viewport=PHONE)
    host = host_context.new_page()
    host.goto(f"{live_server.url}/admin/login/?next=/admin/sessions_app/livesession/{session.pk}/control/")
    host.get_by_label("Username").fill("host")
    host.get_by_label("Password").fill(PASSWORD)
    host.get_by_role("button", name="Log in").click()
    host.wait_for_selector("[data-control-room]")

    # the page fits a 390 px phone: one column, no sideways scrolling, thumb-sized buttons
    assert host.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    pin_button = host.locator(f'[data-cr-drop="{second.pk}"] [data-cr-pin]')
    box = pin_button.bounding_box()
    assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    shot = tmp_path / "control_room_390.png"
    host.screenshot(path=str(shot), full_page=True)
    assert _png_size(shot)[0] == PHONE["width"]

    # when the host pins the second drop
    pinned_at = time.monotonic()
    pin_button.click()
    host.wait_for_selector(f'[data-cr-drop="{second.pk}"].pinned')
    # then within a few seconds the viewer's page features it first, highlighted, without reloading
    wait_js(viewer, f"document.querySelector('[data-drop]').dataset.drop === '{second.pk}'", timeout=6)
    pin_seen = time.monotonic() - pinned_at
    card = viewer.locator(f'[data-drop="{second.pk}"]')
    assert "pinned" in card.get_attribute("class")
    assert card.locator("[data-pinned-label]").is_visible()
    assert viewer.locator(f'[data-drop="{first.pk}"] [data-pinned-label]').is_hidden()

    # when the host fires a 20 % flash coupon for 5 minutes, capped at 10 uses
    host.get_by_label("Percent off").fill("20")
    host.get_by_label("For minutes").fill("5")
    host.get_by_label("Cap (uses)").fill("10")
    host.get_by_role("button", name="Fire flash coupon").click()
    host.wait_for_selector("[data-cr-flash]:not([hidden])")
    code = Coupon.objects.get(session=session).code
    assert host.locator("[data-flash-code]").inner_text() == code
    # then the viewer's banner shows the code, the percent and a ticking countdown, still without reloading
    wait_js(viewer, "!document.querySelector('[data-flash-banner]').hidden", timeout=6)
    banner = viewer.locator("[data-flash-banner]")
    assert banner.locator("[data-flash-code]").inner_text() == code
    assert banner.locator("[data-flash-percent]").inner_text() == "20"
    assert banner.locator("[data-flash-remaining]").inner_text() == "10"
    wait_js(viewer, "/^4:5\\d$/.test(document.querySelector('[data-flash-countdown]').textContent)")

    assert viewer.evaluate("window.__sameDocument") == "yes", "the viewer's page reloaded"
    assert len(navigations) == loaded, f"the viewer's page navigated: {navigations}"
    assert pin_seen < 4, f"the pin took {pin_seen:.1f}s to show"
    viewer.screenshot(path=str(tmp_path / "viewer_390.png"))

    # and the host's timeline lists both moments, newest first, in the session's zone
    wait_js(host, "document.querySelectorAll('[data-cr-timeline] li').length >= 2")
    items = host.locator("[data-cr-timeline] li").all_inner_texts()
    assert "Coupon fired" in items[0] and "Drop pinned" in items[1]
    assert LiveSession.objects.get(pk=session.pk).pinned_drop_id == second.pk
    viewer_context.close()
    host_context.close()
