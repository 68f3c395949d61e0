"""A viewer opens the live session page in Chromium and buys from its drop."""

from __future__ import annotations

import pytest

from commerce.models import Drop, Order
from tests.e2e.helpers import wait_js
from tests.factories import make_drop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_viewer_buys_from_live_drop(live_server, page):
    drop = make_drop(quantity=4, per_customer_limit=2)
    page.goto(live_server.url + drop.session.get_absolute_url())
    card = page.locator(f'[data-drop="{drop.pk}"]')
    assert card.locator("[data-available]").inner_text() == "4"
    # the countdown is ticking in the browser (filled by JavaScript)
    wait_js(page, "document.querySelector('[data-countdown]').textContent.startsWith('Closes in')")
    card.get_by_role("link", name="Buy now").click()
    page.get_by_label("Email").fill("viewer@example.com")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Reserve").click()
    page.wait_for_url("**/cart/**")
    assert page.locator("[data-total]").inner_text() == "$85.98"
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/**")
    order = Order.objects.get()
    assert order.number in page.content()
    assert page.locator("[data-order-total]").inner_text() == "$85.98"
    assert Drop.objects.get(pk=drop.pk).available == 2
    # back on the session page, polling shows the new stock without a reload
    page.goto(live_server.url + drop.session.get_absolute_url())
    Drop.objects.filter(pk=drop.pk).update(available=0)
    wait_js(page, f"document.querySelector('[data-drop=\"{drop.pk}\"] [data-badge]').textContent === 'Sold out'")
