"""The session page's member parts by script (issue #15): one shared HTML for members and non-members,
the personal parts from the uncached me.json, the member's view counted once with their customer id."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from analytics.models import BufferedEvent
from commerce.memberships.models import Membership
from sessions_app import views
from sessions_app.models import LiveSession
from tests.commerce.memberships.members_support import STREAM_ID, STREAM_URL, as_member, make_member
from tests.commerce.memberships.test_members_only_pages import give_cookie, non_members
from tests.factories import LiveSessionFactory, SkuFactory, make_drop
from tests.pageview import page_view_event, page_view_post

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture
def vip():
    """A live members-only session with an exclusive drop (member price 35.00) and a public member-priced one."""
    cache.clear()
    session = LiveSessionFactory(members_only=True)
    exclusive = make_drop(session=session, sku=SkuFactory(members_only=True), member_price_minor=3500)
    public = make_drop(session=session, member_price_minor=100)
    return session, exclusive, public


def me_url(session) -> str:
    return reverse("sessions_app:session_me", args=[session.public_id])


def test_a_member_and_a_non_member_get_byte_identical_html_from_one_rendering(vip, monkeypatch):
    session, _exclusive, _public = vip
    renders = []
    real = views.render
    monkeypatch.setattr(views, "render", lambda *a, **k: renders.append(1) or real(*a, **k))
    member_page = as_member(Client(), make_member()).get(session.get_absolute_url())
    other_page = Client().get(session.get_absolute_url())
    assert member_page.status_code == other_page.status_code == 200
    assert member_page.content == other_page.content
    assert renders == [1]  # the non-member got the copy the member's request made
    assert "public" in member_page["Cache-Control"] and "mm_member" not in member_page.cookies
    html = member_page.content.decode()
    # the shared HTML never holds the members-only stream, whoever made it
    assert STREAM_ID not in html and STREAM_URL not in html and "<iframe" not in html
    assert "data-members-gate" in html and "$35.00" not in html and "$1.00" not in html


@pytest.mark.parametrize("status", ["live", "ended"])
def test_the_shared_html_of_a_members_only_session_never_holds_its_stream_url(status):
    cache.clear()
    session = LiveSessionFactory(members_only=True, status=status)
    for client in (Client(), as_member(Client(), make_member(f"{status}@example.com"))):
        html = client.get(session.get_absolute_url()).content.decode()
        assert STREAM_ID not in html


def test_me_json_gives_a_member_the_stream_and_member_prices_and_is_never_cached(vip):
    session, exclusive, public = vip
    member = make_member()
    response = as_member(Client(), member).get(me_url(session))
    assert response.status_code == 200
    cc = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cc and "public" not in cc
    assert response.json() == {
        "member": True,
        "stream": {
            "kind": "iframe",
            "embed_src": f"https://www.youtube-nocookie.com/embed/{STREAM_ID}?autoplay=1&mute=1",
            "url": STREAM_URL,
        },
        "drops": {
            str(exclusive.pk): {"member_price": "$35.00", "exclusive_open": True},
            # not exclusive, member price below the public one
            str(public.pk): {"member_price": "$1.00", "exclusive_open": False},
        },
    }


@pytest.mark.parametrize("kind", list(non_members()))
def test_me_json_gives_a_non_member_nothing(vip, kind):
    session, _exclusive, _public = vip
    client = give_cookie(Client(), kind, non_members()[kind])
    response = client.get(me_url(session))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert response.json() == {"member": False, "stream": None, "drops": {}}
    assert STREAM_ID not in response.content.decode()


def test_me_json_is_404_for_a_private_or_unknown_session_and_get_only(vip):
    session, _exclusive, _public = vip
    client = as_member(Client(), make_member())
    assert client.post(me_url(session)).status_code == 405
    session.is_private = True
    session.save(update_fields=["is_private"])
    assert client.get(me_url(session)).status_code == 404
    assert client.get("/s/00000000-0000-0000-0000-000000000000/me.json").status_code == 404


def test_a_scheduled_session_gives_a_member_no_stream_yet(vip):
    session, _exclusive, _public = vip
    LiveSession.objects.filter(pk=session.pk).update(status=LiveSession.Status.SCHEDULED)
    me = as_member(Client(), make_member()).get(me_url(session)).json()
    assert me["member"] is True and me["stream"] is None


def test_only_pages_with_member_parts_ask_me_json():
    cache.clear()
    ordinary = make_drop().session  # public session, no exclusive or member-priced drop
    html = Client().get(ordinary.get_absolute_url()).content.decode()
    assert "data-me-url" not in html and "js/member.js" not in html
    priced = make_drop(member_price_minor=100).session
    html = Client().get(priced.get_absolute_url()).content.decode()
    assert f'data-me-url="{me_url(priced)}"' in html and "js/member.js" in html


def _views() -> list[tuple]:
    return list(BufferedEvent.objects.filter(name="view").values_list("session_id", "visitor_id", "customer_id"))


def test_a_members_view_is_counted_once_with_their_customer_id(vip, django_capture_on_commit_callbacks):
    session, _exclusive, _public = vip
    member = make_member()
    client = as_member(Client(), member)
    client.cookies["mm_vid"] = "e" * 32
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(session.get_absolute_url(), headers={"User-Agent": BROWSER})
        client.get(me_url(session), headers={"User-Agent": BROWSER})  # me.json records nothing
        assert _views() == []  # the shared page records nothing itself
        beacon = page_view_post(client, page, **{"User-Agent": BROWSER})
    assert beacon.status_code == 202
    assert _views() == [(session.pk, "e" * 32, member.customer_id)]


def test_a_forged_or_lapsed_pass_gives_the_beacon_view_no_customer(vip):
    session, _exclusive, _public = vip
    lapsed = make_member("lapsed@example.com", status=Membership.Status.ENDED)
    for client in (as_member(Client(), raw="forged"), as_member(Client(), lapsed)):
        page = client.get(session.get_absolute_url(), headers={"User-Agent": BROWSER})
        assert page_view_post(client, page, **{"User-Agent": BROWSER}).status_code == 202
    assert [row[2] for row in _views()] == [None, None]
    # and a client cannot claim a customer id itself
    body = json.dumps({"events": [{**page_view_event(page), "customer_id": lapsed.customer_id}]})
    assert Client().post("/a/e", body, content_type="application/json").status_code == 422


def test_a_personal_rendering_still_records_the_members_view_itself_once(vip, django_capture_on_commit_callbacks):
    session, _exclusive, _public = vip
    member = make_member()
    client = as_member(Client(), member)
    client.cookies["messages"] = "x"  # personal for another reason: recorded here, no view event to post
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(session.get_absolute_url(), headers={"User-Agent": BROWSER})
    assert page_view_event(page) is None
    assert [row[2] for row in _views()] == [member.customer_id]
