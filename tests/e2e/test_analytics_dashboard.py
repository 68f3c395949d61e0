"""In real headless Chromium: a viewer's clicks are captured, and staff see the funnel chart drawn by Chart.js."""

from __future__ import annotations

import pytest

from analytics import services
from analytics.models import Event
from tests.factories import make_drop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Headless Chromium announces itself as "HeadlessChrome", which the bot filter rightly drops; this
# test plays a person, so it presents the desktop browser's user agent.
PERSON_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def test_viewer_events_reach_the_admin_funnel_chart(live_server, browser, django_user_model):
    drop = make_drop(quantity=5)
    viewer = browser.new_context(user_agent=PERSON_UA)
    page = viewer.new_page()
    # given a viewer who watches and clicks Buy now
    page.goto(live_server.url + drop.session.get_absolute_url())
    page.get_by_role("link", name="Buy now").click()
    page.wait_for_url("**/checkout/")
    viewer.close()
    services.events_flush_all()
    services.rollups_update()
    assert sorted(Event.objects.values_list("name", flat=True)) == ["click", "view", "view"]
    # when staff open the session's dashboard
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-e2e-only-1")
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    page = staff.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/analytics/sessionkpis/session/{drop.session_id}/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill("pw-for-e2e-only-1")
    page.get_by_role("button", name="Log in").click()
    # then Chart.js has drawn the funnel with the captured figures
    page.wait_for_selector('canvas[data-chart="chart-funnel"][data-rendered="true"]')
    data = page.evaluate("window.Chart.getChart(document.getElementById('canvas-funnel')).data.datasets[0].data")
    assert data == [1, 1, 0, 0, 0]
    size = page.evaluate(
        "[document.getElementById('canvas-funnel').width, document.getElementById('canvas-funnel').height]"
    )
    assert size[0] > 100
    assert size[1] > 100
    assert page.locator('[data-table="funnel"] tbody td').first.inner_text() == "1"
    staff.close()
