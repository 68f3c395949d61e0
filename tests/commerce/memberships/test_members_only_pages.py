"""Members-only pages: the session page never carries the stream for non-members; exclusive drops on pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from commerce.memberships.identity import MEMBER_COOKIE
from commerce.memberships.models import Membership
from commerce.models import Hold
from sessions_app.models import LiveSession
from tests.commerce.memberships.members_support import STREAM_ID, as_member, make_member, member_cookie_value
from tests.factories import LiveSessionFactory, SkuFactory, make_drop

pytestmark = pytest.mark.django_db


def members_session(**kwargs):
    return LiveSessionFactory(members_only=True, **kwargs)


def page(client, session):
    return client.get(session.get_absolute_url())


def non_members():
    """Every kind of viewer without access: no cookie, forged, ended, past due after grace, lapsed period."""
    now = timezone.now()
    return {
        "no_cookie": None,
        "forged": "forged",
        "tampered": "tampered",
        "ended": lambda: make_member("ended@example.com", status=Membership.Status.ENDED),
        "past_due_after_grace": lambda: make_member(
            "late@example.com", status=Membership.Status.PAST_DUE, grace_until=now - dt.timedelta(hours=1)
        ),
        "period_over": lambda: make_member("over@example.com", period_end=now - dt.timedelta(hours=1)),
    }


def give_cookie(client, kind, maker):
    if maker is None:
        return client
    if maker == "forged":
        return as_member(client, raw="not-a-signed-value")
    if maker == "tampered":
        genuine = make_member("real@example.com")
        value = member_cookie_value(genuine.pass_token)
        return as_member(client, raw=("y" if value[0] == "x" else "x") + value[1:])  # a pass may start with x
    return as_member(client, maker())


@pytest.mark.parametrize("kind", list(non_members()))
def test_non_members_get_a_join_call_to_action_and_never_the_stream(client, kind):
    # given a live members-only session with a stream
    session = members_session()
    give_cookie(client, kind, non_members()[kind])
    # when this viewer opens its page
    response = page(client, session)
    html = response.content.decode()
    # then the title and the join link, and no trace of the stream URL or embed
    assert response.status_code == 200
    assert session.title in html
    assert 'href="/members/"' in html and "data-members-gate" in html
    assert STREAM_ID not in html
    assert "<iframe" not in html and "<video" not in html


def test_a_member_gets_the_same_gated_html_and_the_stream_from_me_json(client):
    """The page is one shared copy, members included: the stream reaches a member only through me.json."""
    member = make_member()
    session = members_session()
    html = page(as_member(client, member), session).content.decode()
    assert STREAM_ID not in html and "<iframe" not in html
    assert "data-members-gate" in html and f'data-me-url="{session.get_absolute_url()}me.json"' in html
    me = client.get(f"{session.get_absolute_url()}me.json").json()
    assert me["member"] is True and STREAM_ID in me["stream"]["embed_src"]


def test_status_json_has_no_stream_url(client):
    session = members_session()
    body = client.get(f"{session.get_absolute_url()}status.json")
    assert body.status_code == 200
    assert STREAM_ID not in body.content.decode()


def test_ended_members_only_session_shows_no_original_stream_link_to_non_members(client):
    session = members_session(status=LiveSession.Status.ENDED, ended_at=timezone.now())
    html = page(client, session).content.decode()
    assert STREAM_ID not in html
    assert "data-members-gate" in html


def test_public_session_is_unchanged_for_everyone(client):
    session = LiveSessionFactory()
    assert STREAM_ID in page(client, session).content.decode()


def test_exclusive_drop_on_the_session_page_shows_members_only_and_member_price(client):
    # given a public session featuring an exclusive drop with a member price
    session = LiveSessionFactory()
    drop = make_drop(session=session, sku=SkuFactory(members_only=True), member_price_minor=3500)
    # when anyone looks: "Members only" and the join link; the buy link is there but hidden (the hold
    # service refuses non-members anyway), the member-price line empty and hidden, no price in it
    html = page(client, session).content.decode()
    assert "data-members-only" in html and 'href="/members/"' in html
    assert re.search(r"<a [^>]*data-buy[^>]* hidden>Buy now</a>", html)
    assert re.search(r"<details [^>]*data-qr[^>]* hidden>", html)
    assert "data-member-price hidden" in html and "$35.00" not in html
    # when a member asks me.json: the buy link opens and their price, formatted
    member = make_member()
    me = as_member(client, member).get(f"{session.get_absolute_url()}me.json").json()
    assert me == {
        "member": True,
        "stream": me["stream"],
        "drops": {str(drop.pk): {"member_price": "$35.00", "exclusive_open": True}},
    }
    assert page(client, session).content.decode() == html  # and the page itself is the same bytes


def test_drop_page_shows_non_members_the_join_link_and_refuses_their_post_with_403(client):
    drop = make_drop(members_only=True)
    url = f"/drops/{drop.pk}/checkout/"
    get = client.get(url)
    html = get.content.decode()
    assert get.status_code == 200
    assert "data-join-link" in html and 'name="quantity"' not in html
    post = client.post(url, {"email": "x@example.com", "quantity": 1})
    assert post.status_code == 403
    assert not Hold.objects.exists()


def test_drop_page_lets_a_member_reserve_at_the_member_price(client):
    member = make_member("vip@example.com")
    drop = make_drop(members_only=True, member_price_minor=3500)
    url = f"/drops/{drop.pk}/checkout/"
    as_member(client, member)
    html = client.get(url).content.decode()
    assert 'name="quantity"' in html and "data-member-price" in html
    response = client.post(url, {"email": "vip@example.com", "quantity": 1})
    assert response.status_code == 302
    hold = Hold.objects.get()
    assert hold.unit_price_minor == 3500 and hold.customer_id == member.customer_id


def test_the_replay_recording_of_a_members_only_session_is_for_members_only(client):
    """The whole recording is the stream after the fact: a non-member gets the join link, a member the video."""
    from django.test import Client
    from django.urls import reverse

    from tests.sessions_app.assets.pages_world import ended_session_with_clip

    # given an ended members-only session with a ready recording
    clip = ended_session_with_clip()
    session = clip.session
    session.members_only = True
    session.save(update_fields=["members_only"])
    url = reverse("sessions_app:replay", args=[session.public_id])
    sha = clip.recording.asset.sha256
    # when a non-member (no cookie, then a forged one) opens the replay
    for viewer in (Client(), as_member(Client(), raw="forged")):
        whole = viewer.get(url).content.decode().split("The whole session")[-1]
        # then the join call to action where the recording would be, and no recording URL
        assert "data-members-gate" in whole and sha not in whole and "<video" not in whole
    # and a member gets the recording (a private copy, not the shared non-member one)
    whole = as_member(client, make_member()).get(url).content.decode().split("The whole session")[-1]
    assert sha in whole and "data-members-gate" not in whole


def test_not_you_and_forget_this_device_drop_the_member_pass(client):
    """On a shared device the next person must not inherit the member: "Not you?" forgets the pass too."""
    from django.urls import reverse

    membership = make_member()
    as_member(client, membership)
    assert "data-forget-device" in client.get(reverse("members:me")).content.decode()
    response = client.post(reverse("analytics:visitor_reset"), {"next": reverse("members:me")})
    assert response.status_code == 303
    assert client.cookies[MEMBER_COOKIE].value == ""  # deleted (expired, empty)
    assert "data-member-none" in client.get(reverse("members:me")).content.decode()
