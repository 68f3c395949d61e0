"""In Chromium: the session page's watch reward panel (watch_reward.js) under the strict CSP.

A viewer who has watched enough (server evidence for their visitor cookie) gets their personal code on the
page without reloading; a second, harder reward shows how many minutes are still missing."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.models import WatchCode
from tests.commerce.watch_support import new_visitor, programme, watch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_panel_claims_the_code_once_the_server_counts_enough(live_server, page, browser):
    easy = programme(seconds=60, percent="15")
    programme(session=easy.session, seconds=600, percent="30")
    vid = new_visitor()
    watch(easy.session, vid, seconds=60, start=timezone.now())
    page.context.add_cookies([{"name": "mm_vid", "value": vid, "url": live_server.url}])
    page.goto(live_server.url + easy.session.get_absolute_url())
    code = page.locator("[data-watch-reward-code]")
    code.wait_for(timeout=10_000)
    issued = WatchCode.objects.get(visitor_id=vid)
    assert code.inner_text() == issued.code and issued.coupon_id == easy.pk
    panel = page.locator("[data-watch-reward]").inner_text()
    assert "Unlocked 15 % off" in panel
    assert "Watch 9 more minutes to unlock 30 % off" in panel
    assert not browser.watch.problems(), browser.watch.problems()
