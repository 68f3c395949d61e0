"""Watch evidence from status polls (sessions_app.watch): what watch-gated coupons and "viewers now" rely on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from sessions_app.watch import MAX_GAP_SECONDS, viewers_now, watch_poll_record, watched_seconds
from tests.factories import LiveSessionFactory
from tests.watching import evidence

pytestmark = pytest.mark.django_db
VID = "a" * 32


def _poll(session, at, vid=VID, status="live"):
    return watch_poll_record(session_id=session.pk, session_status=status, visitor_id=vid, now=at)


def test_polls_of_a_live_session_add_up_with_gaps_capped(now):
    session = LiveSessionFactory(status="live")
    assert _poll(session, now)
    assert _poll(session, now + dt.timedelta(seconds=12))
    assert _poll(session, now + dt.timedelta(seconds=24))
    assert watched_seconds(session_id=session.pk, visitor_id=VID) == 24
    # away for ten minutes: credited MAX_GAP_SECONDS, not 600
    _poll(session, now + dt.timedelta(seconds=624))
    assert watched_seconds(session_id=session.pk, visitor_id=VID) == 24 + MAX_GAP_SECONDS


def test_throttled_to_one_write_per_visitor_within_the_window(now):
    session = LiveSessionFactory(status="live")
    assert watch_poll_record(session_id=session.pk, session_status="live", visitor_id=VID, now=now)
    for i in range(1, 5):
        assert not watch_poll_record(
            session_id=session.pk, session_status="live", visitor_id=VID, now=now + dt.timedelta(seconds=i)
        )
    assert evidence().get().polls == 1


@pytest.mark.parametrize("status", ["scheduled", "ended", "cancelled"])
def test_polls_outside_live_are_not_evidence(now, status):
    session = LiveSessionFactory(status=status)
    assert not _poll(session, now, status=status)
    assert not evidence().exists()


@pytest.mark.parametrize("vid", [None, "", "not-a-visitor", "A" * 32, "a" * 31])
def test_no_or_forged_cookie_is_not_evidence(now, vid):
    session = LiveSessionFactory(status="live")
    assert not _poll(session, now, vid=vid)


def test_viewers_now_counts_recent_pollers_only(now):
    session = LiveSessionFactory(status="live")
    _poll(session, now - dt.timedelta(seconds=90), vid="b" * 32)
    _poll(session, now - dt.timedelta(seconds=5), vid="c" * 32)
    _poll(session, now, vid="d" * 32)
    assert viewers_now(session_id=session.pk, now=now) == 2


def test_status_endpoint_records_the_cookie_holder(client):
    session = LiveSessionFactory(status="live")
    client.cookies["mm_vid"] = VID
    url = f"/s/{session.public_id}/status.json"
    assert client.get(url).status_code == 200
    row = evidence().get()
    assert (row.session_id, row.visitor_id) == (session.pk, VID)
    # a served-from-cache poll is evidence too (the payload is shared; the evidence is per visitor)
    client.cookies["mm_vid"] = "e" * 32
    assert client.get(url).status_code == 200
    assert viewers_now(session_id=session.pk, now=timezone.now()) == 2
