"""A viewer in Chromium subscribes (manual demo provider), opens the members-only session and buys the exclusive SKU."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from commerce.memberships.models import Membership, MembershipPlan
from commerce.models import Order
from commerce.services.outbox import outbox_drain
from tests.e2e.helpers import wait_js
from tests.factories import LiveSessionFactory, SkuFactory, make_drop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STREAM_ID = "aqz-KE-bpKQ"  # LiveSessionFactory's stream


def test_subscribe_then_watch_the_members_only_session_and_buy_the_exclusive_sku(live_server, browser, page, settings):
    # given the manual provider, a VIP plan, and a live members-only session with an exclusive SKU at a member price
    settings.PAYMENT_PROVIDER = "manual"
    settings.SITE_URL = live_server.url  # the join redirects to the absolute welcome link
    plan = MembershipPlan.objects.create(slug="vip-weekly", name="VIP Weekly", price_minor=499, currency="USD")
    session = LiveSessionFactory(members_only=True, title="VIP 10 minutes")
    drop = make_drop(session=session, sku=SkuFactory(members_only=True), quantity=4, member_price_minor=3500)
    session_url = live_server.url + session.get_absolute_url()

    # when a non-member opens the session: the title and a join call to action, no stream anywhere in the page
    page.goto(session_url)
    assert page.get_by_role("heading", name="VIP 10 minutes").is_visible()
    assert page.locator("[data-members-gate]").is_visible()
    wait_js(page, "window.mmMember && window.mmMember.then(function (me) { window.__me = me; }) && window.__me")
    assert page.evaluate("window.__me.member") is False  # the page asked me.json, which said no
    assert STREAM_ID not in page.content() and page.locator("iframe").count() == 0
    card = page.locator(f'[data-drop="{drop.pk}"]')
    assert card.locator("[data-members-only]").is_visible()
    assert not card.locator("[data-buy]").is_visible() and not card.locator("[data-member-price]").is_visible()
    non_member_html = page.evaluate("fetch(location.href).then(function (r) { return r.text(); })")

    # when they follow the join link and join with the manual demo provider
    page.locator("[data-members-gate] [data-join-link]").click()
    page.wait_for_url("**/members/")
    page.goto(f"{live_server.url}/members/join/{plan.slug}/")
    assert page.locator("[data-manual-demo]").is_visible()  # clearly labelled: no payment
    page.get_by_label("Email").fill("vip@example.com")
    page.get_by_role("button", name="Join (demo: no payment)").click()
    page.locator("[data-member-check-email]").wait_for()  # the address is proved first (docs/memberships.md)
    outbox_drain()
    confirm = [m for m in mail.outbox if m.to == ["vip@example.com"] and "Confirm to join" in m.subject][-1]
    page.goto(re.search(r"https?://\S+/confirm/\S+/", confirm.body).group(0))
    page.get_by_role("button", name="Confirm and join (demo: no payment)").click()
    page.wait_for_url("**/members/me/")
    membership = Membership.objects.get(customer__email="vip@example.com")
    assert membership.grants_access(membership.current_period_start)

    # then the session page (the very HTML a non-member gets) shows them, once its script ran, the
    # stream (the iframe the CSP's frame-src allows: the browser fixture fails on a violation) and their price
    page.goto(session_url)
    assert page.evaluate("fetch(location.href).then(function (r) { return r.text(); })") == non_member_html
    page.locator(".stream iframe").wait_for()
    assert page.locator("[data-members-gate]").count() == 0
    assert page.locator(".stream iframe").count() == 1 and STREAM_ID in page.content()
    assert page.locator(".stream iframe").get_attribute("allow") == "autoplay; encrypted-media; picture-in-picture"
    wait_js(page, f"""document.querySelector('[data-drop="{drop.pk}"] [data-member-price]').offsetParent !== null""")
    card = page.locator(f'[data-drop="{drop.pk}"]')
    assert "$35.00" in card.locator("[data-member-price]").inner_text()
    assert card.locator("[data-members-only]").count() == 0 and card.locator("[data-buy]").is_visible()
    wait_js(page, "true")  # pump Playwright's router so the frame's request is recorded
    assert any(u.startswith(f"https://www.youtube-nocookie.com/embed/{STREAM_ID}") for u in browser.watch.external_requests)

    # when they buy the exclusive SKU (the form is prefilled with their address)
    card.get_by_role("link", name="Buy now").click()
    page.wait_for_url("**/checkout/")
    assert page.get_by_label("Email").input_value() == "vip@example.com"
    page.get_by_label("Quantity").fill("1")
    page.get_by_role("button", name="Reserve").click()
    page.wait_for_url("**/cart/**")
    assert page.locator("[data-total]").inner_text() == "$35.00"
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url("**/orders/**")

    # then one order for the member's own customer at the member price
    order = Order.objects.get()
    assert order.customer_id == membership.customer_id
    assert order.total_minor == 3500 and order.lines.get().unit_price_minor == 3500
    assert page.locator("[data-order-total]").inner_text() == "$35.00"
    wait_js(page, "true")
