"""Content-Security-Policy and Permissions-Policy on every kind of response (the browser tests prove the pages pass)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from sessions_app.embed import stream_embed
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


@pytest.fixture
def drop():
    return make_drop(quantity=2)


def test_pages_json_and_api_carry_both_headers(client, drop):
    for url in (
        "/",
        drop.session.get_absolute_url(),
        f"/s/{drop.session.public_id}/status.json",
        "/api/v1/openapi.json",
        "/no-such-page/",
    ):
        response = client.get(url)
        assert "Content-Security-Policy" in response, url
        assert "camera=()" in response["Permissions-Policy"], url


def test_the_policy_is_strict_for_scripts_and_styles(client):
    csp = directives(client.get("/")["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in s for sources in csp.values() for s in sources)
    assert set(csp["frame-src"]) == set(settings.STREAM_EMBED_ORIGINS)


def test_admin_allows_inline_styles_but_never_inline_scripts(admin_client):
    csp = directives(admin_client.get("/admin/")["Content-Security-Policy"])
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["script-src"] == ["'self'"]


def test_every_stream_player_the_session_page_embeds_is_allowed_to_frame():
    urls = [
        "https://www.youtube.com/watch?v=aqz-KE-bpKQ",
        "https://youtu.be/aqz-KE-bpKQ",
        "https://www.youtube.com/live/aqz-KE-bpKQ",
        "https://vimeo.com/76979871",
        "https://player.vimeo.com/video/76979871",
    ]
    for url in urls:
        embed = stream_embed(url)
        assert embed["kind"] == "iframe"
        origin = re.match(r"^https://[^/]+", embed["src"]).group(0)
        assert origin in settings.STREAM_EMBED_ORIGINS, url


def test_camera_only_on_the_check_in_door(admin_client, drop):
    door = admin_client.get("/pickup/staff/checkin/")
    assert door.status_code == 200
    assert "camera=(self)" in door["Permissions-Policy"]
    for url in ("/pickup/staff/", "/", drop.session.get_absolute_url(), "/admin/"):
        assert "camera=()" in admin_client.get(url)["Permissions-Policy"], url
    policy = admin_client.get("/")["Permissions-Policy"]
    for feature in ("microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy


def test_api_docs_use_our_own_static_swagger(client):
    html = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "/static/ninja/swagger-ui.css" in html
    hosts = re.findall(r"(?:src|href)=\"(https?://[^\"]+)\"", html)
    assert hosts == []
    assert "cdn.jsdelivr" not in html
    assert '"validatorUrl": null' in html
