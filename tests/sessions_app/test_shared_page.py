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
