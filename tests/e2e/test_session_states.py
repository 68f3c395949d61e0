"""The session page in Chromium: a scheduled session counts down with no stream; going live switches it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from sessions_app.services import session_go_live
from tests.e2e.helpers import wait_js
from tests.factories import LiveSessionFactory, make_drop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_scheduled_session_counts_down_then_goes_live(live_server, page):
    # given a session scheduled in an hour, with a drop whose own window is already open
    session = LiveSessionFactory(
        status="scheduled",
        starts_at=timezone.now() + dt.timedelta(hours=1),
        stream_url="/static/demo/big_buck_bunny_5s_360p_vp9.webm",
    )
    drop = make_drop(session=session)
    page.goto(live_server.url + session.get_absolute_url())
    # then the countdown ticks in the browser (static JS), there is no video, and Buy now is disabled
    wait_js(page, "/^\\d+(:\\d\\d)+$/.test(document.querySelector('[data-session-countdown]').textContent)")
    assert page.locator("video").count() == 0
    card = page.locator(f'[data-drop="{drop.pk}"]')
    assert card.get_by_role("link", name="Buy now").get_attribute("aria-disabled") == "true"
    assert card.locator("[data-countdown]").inner_text() == "On sale when the session goes live"
    # when the host goes live, the polling page reloads into the live state with the stream
    with page.expect_navigation(timeout=20_000):
        session_go_live(session_id=session.pk)
    page.wait_for_load_state()
    wait_js(page, "document.querySelector('video') !== null")
    wait_js(page, f"document.querySelector('[data-drop=\"{drop.pk}\"]').dataset.state === 'live'")
    assert page.locator("[data-session-countdown]").count() == 0
