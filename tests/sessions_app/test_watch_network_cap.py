"""Made-up visitor cookies cannot each buy a WatchEvidence row: first records are capped per network."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import make_drop
from tests.watching import evidence, seconds_later

pytestmark = pytest.mark.django_db


def _beat(client, session, visitor: str, ip: str):
    client.cookies["mm_vid"] = visitor
    return client.post(reverse("sessions_app:session_watching", args=[session.public_id]), REMOTE_ADDR=ip)


def test_new_watchers_are_capped_per_network_and_known_ones_never(client, settings, monkeypatch):
    settings.WATCH_NEW_VISITORS_PER_NETWORK = 3
    settings.RATE_LIMIT_STORE = "database"
    session = make_drop().session  # live
    for n in range(5):  # one address inventing five visitors
        assert _beat(client, session, f"{n:032x}", "203.0.113.9").status_code == 204
    assert evidence().filter(session=session).count() == 3
    assert _beat(client, session, "f" * 32, "198.51.100.7").status_code == 204  # another network is not affected
    assert evidence().filter(session=session).count() == 4
    # an already recorded visitor keeps counting on the capped network (its next beat, 10 s later)
    row = evidence().get(session=session, visitor_id=f"{0:032x}")
    seconds_later(monkeypatch, 20)
    assert _beat(client, session, f"{0:032x}", "203.0.113.9").status_code == 204
    assert evidence().get(pk=row.pk).polls == row.polls + 1


def test_a_capped_newcomer_is_recorded_on_a_beat_after_the_window(client, settings, monkeypatch):
    from commerce import ratelimit

    settings.WATCH_NEW_VISITORS_PER_NETWORK = 1
    settings.RATE_LIMIT_STORE = "database"
    session = make_drop().session
    clock = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    _beat(client, session, "a" * 32, "203.0.113.9")
    _beat(client, session, "b" * 32, "203.0.113.9")
    assert list(evidence().values_list("visitor_id", flat=True)) == ["a" * 32]
    clock[0] += 61  # the next window
    _beat(client, session, "b" * 32, "203.0.113.9")
    assert sorted(evidence().values_list("visitor_id", flat=True)) == ["a" * 32, "b" * 32]
