"""In Chromium, the shared session page records its view and the viewer's watching by script (issue #15).

The page's HTML is one copy for everyone (a cache in front may serve it without Django seeing the
request), so js/view.js posts the view event it carries and js/session.js beats to
/s/<id>/watching while the session is live. Both must reach the server from a real browser, under
the page's Content-Security-Policy, and be credited to the visitor cookie the beacon gave.
"""

from __future__ import annotations

import time

import pytest

from analytics.models import BufferedEvent
from tests.analytics.test_capture import BROWSER
from tests.factories import make_drop
from tests.watching import evidence

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait(page, predicate, seconds: float = 10.0):
    # page.wait_for_timeout, not sleep: the harness routes the page's requests through Python
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        page.wait_for_timeout(100)
    return predicate()


def test_a_first_visit_records_one_view_and_watch_evidence_for_the_cookie_the_beacon_gave(live_server, browser):
    # headless Chromium's own user agent says "HeadlessChrome" and is rightly not counted: a person's
    page = browser.new_context(user_agent=BROWSER).new_page()
    drop = make_drop(quantity=4)  # a live session
    session = drop.session
    assert session.status == "live"
    page.goto(live_server.url + session.get_absolute_url())
    views = _wait(page, lambda: list(BufferedEvent.objects.filter(name="view", session_id=session.pk)))
    assert len(views) == 1
    # the row is written before the beacon's response (and its Set-Cookie) reaches the browser
    cookie = _wait(page, lambda: next((c for c in page.context.cookies() if c["name"] == "mm_vid"), None))
    assert cookie is not None, "the view beacon's response set no mm_vid cookie"
    assert views[0].visitor_id == cookie["value"]
    watched = _wait(page, lambda: evidence().filter(session_id=session.pk).first())
    assert watched is not None and watched.visitor_id == cookie["value"]
