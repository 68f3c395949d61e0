"""In Chromium: share-to-unlock (share.js) under the strict CSP. The sharer presses the button and gets a
personal link and "0 of 2 visits"; friends opening the link are counted by the server (a headless browser
is not: it says so in its user agent and navigator.webdriver); at 2 the sharer's panel shows the code."""

from __future__ import annotations

import time

import pytest

from commerce.referrals.models import ShareLink, ShareUnlock, ShareVisit
from tests.commerce.referrals.share_support import BROWSER, campaign

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HUMAN = "Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false });"


def _wait(predicate, timeout=10.0, pump=None):
    """Poll `predicate` until true or `timeout` s. `pump`: a page whose requests must keep flowing meanwhile:
    the harness routes every request through a Python URL matcher (external ones are stubbed), so while
    this thread only sleeps, a page's fetches wait; pages' scripts now make a few after load (the view
    beacon, then the share visit)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if pump is not None:
            pump.wait_for_timeout(100)
        else:
            time.sleep(0.1)
    return False


def test_sharing_counts_new_visitors_not_headless_ones_and_shows_the_code(
    live_server, page, browser, settings, django_user_model
):
    settings.SHARE_NETWORK_RULES = False  # every browser here comes from 127.0.0.1 (the network rules: unit tests)
    c = campaign(n=2, percent="15")
    url = live_server.url + c.session.get_absolute_url()
    # given the sharer on the session page, pressing the button
    page.goto(url)
    page.locator("[data-share-button]").click()
    page.locator("[data-share-panel]").wait_for(state="visible", timeout=10_000)
    link = ShareLink.objects.get()
    shared = page.locator("[data-share-url]").input_value()
    assert shared.endswith(f"?ref={link.token}")
    assert page.locator("[data-share-progress]").inner_text() == "0 of 2 visits"
    # a headless browser opening the link is not counted
    bot = browser.new_page()
    bot.goto(shared)
    assert not _wait(lambda: ShareVisit.objects.exists(), timeout=3, pump=bot)
    # two friends (ordinary browsers) open it: each counted once, and ?ref leaves their address bar
    for _ in range(2):
        friend = browser.new_context(user_agent=BROWSER)
        friend.add_init_script(HUMAN)
        tab = friend.new_page()
        answers = []
        tab.on("response", lambda r, answers=answers: answers.append(r) if "/share/visit" in r.url else None)
        before = ShareVisit.objects.count()
        tab.goto(shared)
        counted = _wait(lambda before=before: ShareVisit.objects.count() == before + 1, timeout=20, pump=tab)
        assert counted, [(a.status, a.text()) for a in answers]
        assert "ref=" not in tab.url
        friend.close()
    unlock = ShareUnlock.objects.get()
    # when the sharer comes back, the panel shows the personal code without pressing anything
    page.reload()
    code = page.locator("[data-share-code]")
    code.wait_for(state="visible", timeout=10_000)
    assert code.inner_text() == unlock.coupon.code
    assert "Unlocked" in page.locator("[data-share-progress]").inner_text()
    # and staff see the campaign's funnel drawn by Chart.js on the retention dashboard
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-e2e-only-1")
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = staff.new_page()
    admin.goto(f"{live_server.url}/admin/login/?next=/admin/analytics/sessionkpis/retention/")
    admin.get_by_label("Username").fill("boss")
    admin.get_by_label("Password").fill("pw-for-e2e-only-1")
    admin.get_by_role("button", name="Log in").click()
    admin.wait_for_selector('canvas[data-chart="chart-share"][data-rendered="true"]')
    funnel = admin.evaluate(
        "window.Chart.getChart(document.getElementById('canvas-share')).data.datasets.map(d => d.data[0])"
    )
    assert funnel == [1, 2, 1, 0]  # 1 link shared, 2 counted visits, 1 unlock, no purchase yet
    staff.close()
    assert not browser.watch.problems(), browser.watch.problems()
