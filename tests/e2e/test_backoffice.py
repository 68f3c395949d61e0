"""In real headless Chromium at a 1366×768 laptop screen: the list pages show their key columns without
scrolling sideways, and the landing page draws its revenue chart (strict CSP: no inline script)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.models import Coupon
from commerce.services.orders import order_mark_paid, order_place
from tests.factories import SkuFactory, make_campaign, make_drop
from tests.sampling.helpers import approved_request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1366, 768
# list page → the columns (list_display names) a shop owner must see at once
KEY_COLUMNS = {
    "/admin/commerce/order/": ["status", "total"],
    "/admin/commerce/drop/": ["stock_now", "price_now"],
    "/admin/commerce/coupon/": ["is_active", "value"],
    "/admin/sampling/samplerequest/": ["status", "campaign"],
}


def _world():
    now = timezone.now()
    for i in range(3):
        drop = make_drop(
            quantity=10,
            per_customer_limit=5,
            price_minor=129900,
            sku=SkuFactory(currency="EUR", code=f"LONG-SKU-CODE-WITH-VARIANT-{i}"),
            title=f"A rather long drop title for a limited-edition leather anchor bracelet, No. {i}",
        )
        order = order_place(
            drop_id=drop.pk, email=f"a-very-long-customer-address-{i}@an-example-domain.example.com", quantity=2
        )
        order_mark_paid(order_id=order.pk)
        Coupon.objects.create(
            code=f"SPRING-SALE-2026-{i}",
            kind="fixed",
            amount_off_minor=500,
            currency="EUR",
            valid_from=now,
            valid_until=now + dt.timedelta(days=30),
            note="Goodwill for the spring session's early viewers",
        )
    campaign = make_campaign(quantity=10, name="Ring sizing samples for the spring session")
    approved_request(campaign, email="someone.with.a.long.address@an-example-domain.example.com")


def _login(browser, live_server, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-e2e-only-1")
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("pw-for-e2e-only-1")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#panel-revenue")
    return context, page


def test_list_pages_show_their_key_columns_at_1366_px(live_server, browser, django_user_model):
    _world()
    context, page = _login(browser, live_server, django_user_model)
    for path, columns in KEY_COLUMNS.items():
        page.goto(live_server.url + path)
        page.wait_for_selector("#result_list")
        for column in columns:
            header = page.locator(f"#result_list th.column-{column}")
            assert header.count() == 1, f"{path}: no {column} column"
            box = header.bounding_box()
            assert box and box["width"] > 0, f"{path}: {column} has no width"
            assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, f"{path}: {column} is outside the viewport {box}"
            cell = page.locator(f"#result_list td.field-{column}").first
            cell_box = cell.bounding_box()
            assert cell_box and cell_box["x"] + cell_box["width"] <= WIDTH, f"{path}: {column} cell is cut off"
            assert cell.inner_html().strip(), f"{path}: {column} cell is empty"  # text, or the yes/no icon
        # and nothing makes the list scroll sideways
        widths = page.evaluate(
            "[...document.querySelectorAll('#result_list thead th')].map(th => th.className + ':' + th.offsetWidth)"
        )
        scroll, client = page.evaluate(
            "(() => { const r = document.querySelector('#changelist .results'); return [r.scrollWidth, r.clientWidth]; })()"
        )
        assert scroll <= client + 1, f"{path} scrolls sideways: {widths}"
    context.close()


def test_landing_page_draws_the_revenue_chart_in_major_units(live_server, browser, django_user_model):
    _world()
    context, page = _login(browser, live_server, django_user_model)
    page.wait_for_selector('canvas[data-chart="chart-revenue-eur"][data-rendered="true"]')
    data = page.evaluate("window.Chart.getChart(document.getElementById('canvas-revenue-eur')).data.datasets[0].data")
    assert sum(data) == pytest.approx(3 * 2 * 1299.0)  # three orders of two units at 1,299.00 EUR
    assert "7,794.00 EUR" in page.locator("#panel-revenue").inner_text()
    context.close()
