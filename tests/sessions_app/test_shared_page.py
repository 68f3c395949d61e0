"""The live session page stays one shared copy whatever it carries (issue #15, docs/deployment.md).

The page carries the sampling micro-form. Its CSRF token used to be rendered into the HTML, which made
every viewer's page personal and switched the shared page cache off. Now the form has an empty slot
filled by script from /csrf.json, so two visitors get the same bytes, and Django still refuses a post
whose token does not match the sender's csrftoken cookie.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from sessions_app import views
from tests.factories import make_campaign, make_drop
from tests.watching import evidence

pytestmark = pytest.mark.django_db


@pytest.fixture
def page():
    """A live session with a drop and a sampling campaign whose micro-form shows on its page."""
    drop = make_drop(quantity=5)
    session = drop.session
    session.status = "live"
    session.save(update_fields=["status"])
    campaign = make_campaign(session=session)
    cache.clear()
    return session, campaign


def _visitor(vid: str) -> Client:
    client = Client()
    client.cookies["mm_vid"] = vid
    return client


def test_two_visitors_get_byte_identical_html_for_the_same_session(page, monkeypatch):
    session, campaign = page
    renders = []
    real = views.render
    monkeypatch.setattr(views, "render", lambda *a, **k: renders.append(1) or real(*a, **k))
    url = session.get_absolute_url()

    first = _visitor("a" * 32)
    first.get(reverse("sessions_app:csrf_token"))  # visitor A already has a csrftoken cookie
    a = first.get(url)
    b = _visitor("b" * 32).get(url)

    assert a.status_code == b.status_code == 200
    assert a.content == b.content  # the same bytes for both
    assert renders == [1]  # B got A's rendering from the shared cache: nothing personal was in it
    html = a.content.decode()
    assert f'action="/samples/{campaign.slug}/"' in html  # the micro-form is on the page
    assert 'name="csrfmiddlewaretoken" value="" data-csrf-slot' in html
    assert not re.search(r'name="csrfmiddlewaretoken" value="[^"]+', html)  # no token in the shared HTML
    assert first.cookies["csrftoken"].value not in html
    assert "a" * 32 not in html


def test_csrf_json_is_personal_and_never_cached(client):
    response = client.get(reverse("sessions_app:csrf_token"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response.json()["token"]
    assert client.cookies["csrftoken"].value


def _form(session, campaign, **extra):
    return {
        "session": str(session.public_id),
        "email": "ann@example.com",
        "use_case": "A gift",
        "consent": "on",
        **extra,
    }


def test_a_post_without_the_scripted_token_is_refused(page):
    session, campaign = page
    strict = Client(enforce_csrf_checks=True)
    strict.get(session.get_absolute_url())
    response = strict.post(f"/samples/{campaign.slug}/", _form(session, campaign), HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert not campaign.requests.exists()


def test_a_token_from_another_browser_is_refused(page):
    """Forged: the attacker's own valid token, posted from the victim's browser (the victim's cookie)."""
    session, campaign = page
    attacker = Client(enforce_csrf_checks=True)
    token = attacker.get(reverse("sessions_app:csrf_token")).json()["token"]
    victim = Client(enforce_csrf_checks=True)
    victim.get(reverse("sessions_app:csrf_token"))  # the victim has a csrftoken cookie of their own
    response = victim.post(
        f"/samples/{campaign.slug}/",
        _form(session, campaign, csrfmiddlewaretoken=token),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403
    assert not campaign.requests.exists()


@pytest.mark.parametrize("source", ["cookie", "csrf.json"])
def test_the_scripted_token_with_its_own_cookie_is_accepted(page, source):
    """csrf.js posts the browser's own csrftoken cookie (double submit); /csrf.json's token works too."""
    session, campaign = page
    viewer = Client(enforce_csrf_checks=True)
    viewer.get(session.get_absolute_url())
    token = viewer.get(reverse("sessions_app:csrf_token")).json()["token"]
    if source == "cookie":
        token = viewer.cookies["csrftoken"].value
    response = viewer.post(
        f"/samples/{campaign.slug}/",
        _form(session, campaign, csrfmiddlewaretoken=token),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.json()["answer"] != "error"
    assert campaign.requests.count() == 1


def test_the_campaign_page_itself_keeps_djangos_token_for_browsers_without_script(page):
    session, campaign = page
    html = Client().get(f"/samples/{campaign.slug}/").content.decode()
    assert re.search(r'name="csrfmiddlewaretoken" value="[^"]+"', html)
    assert "data-csrf-slot" not in html


def test_the_home_page_is_one_shared_rendering_but_staff_get_their_own(page, monkeypatch, admin_client):
    renders = []
    real = views.render
    monkeypatch.setattr(views, "render", lambda *a, **k: renders.append(1) or real(*a, **k))
    a = _visitor("a" * 32).get("/")
    b = _visitor("b" * 32).get("/")
    assert a.content == b.content and renders == [1]
    staff = admin_client.get("/")  # logged in: the "Back office" link is personal
    assert renders == [1, 1]
    assert b"Back office" in staff.content and b"Back office" not in a.content


def _cdn_cacheable(response, seconds: int) -> bool:
    """What a CDN or nginx's proxy_cache needs to keep a response: public max-age, no cookie, no Vary: Cookie."""
    cc = {part.strip() for part in response["Cache-Control"].split(",")}
    return (
        {"public", f"max-age={seconds}"} <= cc
        and not response.cookies
        and "cookie" not in response.get("Vary", "").lower()
        and "Set-Cookie" not in response.serialize_headers().decode()
    )


@pytest.mark.parametrize("path", ["session", "home"])
def test_shared_copies_tell_a_cdn_it_may_keep_them_two_seconds(page, path):
    session, _campaign = page
    url = session.get_absolute_url() if path == "session" else "/"
    first_visit = Client().get(url)  # no cookie at all: rendered now (and stored)
    from_cache = _visitor("c" * 32).get(url)  # served from the shared copy
    assert first_visit.content == from_cache.content
    assert _cdn_cacheable(first_visit, views.PAGE_CACHE_SECONDS)
    assert _cdn_cacheable(from_cache, views.PAGE_CACHE_SECONDS)


@pytest.mark.parametrize("cookie", ["sessionid", "messages"])
@pytest.mark.parametrize("path", ["session", "home"])
def test_personal_requests_get_a_private_page_no_cache_may_keep(page, path, cookie):
    session, _campaign = page
    url = session.get_absolute_url() if path == "session" else "/"
    Client().get(url)  # a shared copy exists
    client = Client()
    client.cookies[cookie] = "x"
    response = client.get(url)
    cc = {part.strip() for part in response["Cache-Control"].split(",")}
    assert "private" in cc and "max-age=0" in cc and "public" not in cc


@pytest.mark.parametrize("path", ["session", "home"])
def test_a_member_pass_alone_gets_the_shared_copy(page, path):
    """Nothing on these pages depends on membership (the session page's member parts come from me.json)."""
    session, _campaign = page
    url = session.get_absolute_url() if path == "session" else "/"
    shared = Client().get(url)
    client = Client()
    client.cookies["mm_member"] = "x"
    response = client.get(url)
    assert response.content == shared.content
    assert _cdn_cacheable(response, views.PAGE_CACHE_SECONDS)


def test_the_watch_heartbeat_is_evidence_when_the_status_json_comes_from_a_cache(page):
    session, _campaign = page
    viewer = _visitor("d" * 32)
    # the page tells its script where and how often to beat
    html = viewer.get(session.get_absolute_url()).content.decode()
    url = reverse("sessions_app:session_watching", args=[session.public_id])
    assert f'data-watch-url="{url}"' in html and 'data-watch-ms="20000"' in html
    beat = viewer.post(url)
    assert beat.status_code == 204 and "no-store" in beat["Cache-Control"]
    row = evidence().get()
    assert (row.session_id, row.visitor_id) == (session.pk, "d" * 32)
    assert viewer.get(url).status_code == 405  # a GET (a prefetch, a crawler) is no evidence
    # a first visitor gets the cookie from the beat and is not credited before they have it
    newcomer = Client()
    first = newcomer.post(url)
    assert first.status_code == 204 and len(first.cookies["mm_vid"].value) == 32
    assert evidence().count() == 1
    # bots are not viewers
    bot = _visitor("e" * 32)
    bot.post(url, headers={"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})
    assert evidence().count() == 1


@pytest.mark.parametrize("status", ["scheduled", "ended", "cancelled"])
def test_a_heartbeat_outside_live_is_no_evidence(page, status):
    session, _campaign = page
    session.status = status
    session.save(update_fields=["status"])
    assert _visitor("d" * 32).post(reverse("sessions_app:session_watching", args=[session.public_id])).status_code == 204
    assert not evidence().exists()


def test_a_heartbeat_for_an_unknown_or_private_session_is_404(page):
    import uuid

    session, _campaign = page
    assert _visitor("d" * 32).post(reverse("sessions_app:session_watching", args=[uuid.uuid4()])).status_code == 404
    session.is_private = True
    session.save(update_fields=["is_private"])
    cache.clear()
    assert _visitor("d" * 32).post(reverse("sessions_app:session_watching", args=[session.public_id])).status_code == 404


def test_a_page_that_turned_personal_after_rendering_counts_its_view_once(page, monkeypatch):
    # a malformed csrftoken cookie makes Django's CSRF middleware ask for a new cookie: the rendering is
    # then personal (private), but its HTML carries the view event its script posts, so the server
    # records nothing itself
    from analytics.models import BufferedEvent
    from tests.pageview import page_view_event

    session, _campaign = page
    client = _visitor("d" * 32)
    client.cookies["csrftoken"] = "short"
    response = client.get(session.get_absolute_url())
    assert page_view_event(response) == {"name": "view", "session_id": session.pk}
    assert not BufferedEvent.objects.filter(name="view").exists()


@pytest.mark.parametrize("path", ["session", "status"])
def test_a_session_made_private_stops_being_served_from_the_shared_copy(page, path):
    session, _campaign = page
    url = session.get_absolute_url() if path == "session" else reverse(
        "sessions_app:session_status", args=[session.public_id]
    )
    assert Client().get(url).status_code == 200  # a shared copy exists
    session.is_private = True
    session.save(update_fields=["is_private"])
    key = f"{'session-page' if path == 'session' else 'session-status'}:{session.public_id}"
    fresh_until, value = cache.get(key)
    cache.set(key, (0, value), 60)  # the copy went stale: the next request rebuilds it
    assert Client().get(url).status_code == 404
    assert [Client().get(url).status_code for _ in range(3)] == [404, 404, 404]  # not the stale copy


def test_a_non_member_heartbeat_on_a_members_only_session_is_no_evidence(page):
    session, _campaign = page
    session.members_only = True
    session.save(update_fields=["members_only"])
    url = reverse("sessions_app:session_watching", args=[session.public_id])
    assert _visitor("d" * 32).post(url).status_code == 204
    forged = _visitor("e" * 32)
    forged.cookies["mm_member"] = "not-a-signed-pass"
    assert forged.post(url).status_code == 204
    assert not evidence().exists()
