"""A viewer opens a shared clip page in Chromium: the player loads with its poster, the drop the
clip sells shows a Buy button that leads to the drop's checkout; no CSP violation on the way.
A screenshot goes to var/e2e-clip-page.png."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.conf import settings

from sessions_app.assets import selectors
from tests.e2e.helpers import wait_js
from tests.factories import LiveSessionFactory, make_drop
from tests.sessions_app.assets.pages_world import ended_session_with_clip, poster_jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def served_assets(monkeypatch):
    """Asset bytes the live server can serve: STORAGE's delivery view once merged; before that, the clip
    is pointed at the demo video whitenoise serves (the page is what this test is about, not delivery)."""
    if selectors._asset_url is None:
        poster = "data:image/jpeg;base64," + base64.b64encode(poster_jpeg()).decode()
        monkeypatch.setattr(
            selectors,
            "_asset_url",
            lambda obj, download_name=None: poster if obj.kind == "thumbnail" else "/static/demo/big_buck_bunny_5s_360p_vp9.webm",
        )


def test_viewer_opens_a_clip_page_sees_the_player_and_buys(live_server, browser, served_assets):
    clip = ended_session_with_clip()
    drop = make_drop(session=LiveSessionFactory(title="Tonight's drop"), sku=clip.drop.sku, quantity=4)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + f"/c/{clip.public_id}/")
    assert page.locator("h1").inner_text() == "The bunny wakes up"
    video = page.locator("video[data-clip-video]")
    assert video.get_attribute("poster")
    # the browser fetched the media's metadata (or at least drew the poster)
    state = wait_js(
        page,
        "(() => { const v = document.querySelector('video[data-clip-video]');"
        " if (v.readyState >= 1) return 'media'; return false; })()",
        timeout=15,
    )
    assert state == "media"
    buy = page.locator("[data-buy]")
    assert buy.is_visible() and buy.get_attribute("aria-disabled") == "false"
    assert page.locator(f'[data-drop="{drop.pk}"]').is_visible()
    shot = Path(settings.VAR_DIR) / "e2e-clip-page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    buy.click()
    page.wait_for_url(f"**/drops/{drop.pk}/checkout/")
    # the session's replay page lists the clip with the same offer
    page.goto(live_server.url + f"/s/{clip.session.public_id}/replay/")
    assert page.locator(f'[data-clip="{clip.public_id}"] video').count() == 1
    assert page.locator("[data-recording] video").count() == 1
    page.screenshot(path=str(shot.with_name("e2e-replay-page.png")), full_page=True)
    context.close()
