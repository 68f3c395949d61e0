"""What a browser's js/view.js does on a shared page, for tests that drive pages with Django's client."""

from __future__ import annotations

import json
import re

_EVENT = re.compile(r'<script id="mm-view-event" type="application/json">(.*?)</script>', re.S)


def page_view_event(response) -> dict | None:
    """The `view` event a shared page carries for its script (json_script #mm-view-event), or None."""
    match = _EVENT.search(response.content.decode())
    return json.loads(match.group(1)) if match else None


def page_view_post(client, response, **headers):
    """Post the page's view event to the analytics beacon as js/view.js does; returns the beacon's response.

    Raises AssertionError when the page carries no view event (a personal page records its own)."""
    event = page_view_event(response)
    assert event is not None, "the page carries no view event for its script"
    return client.post("/a/e", json.dumps({"events": [event]}), content_type="application/json", headers=headers)
