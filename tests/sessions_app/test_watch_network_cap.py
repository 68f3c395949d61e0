"""Made-up visitor cookies cannot each buy a WatchEvidence row: first records are capped per network."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from sessions_app.models import WatchEvidence
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def _beat(client, session, visitor: str, ip: str):
    client.cookies["mm_vid"] = visitor
    return client.post(reverse("sessions_app:session_watching", args=[session.public_id]), REMOTE_ADDR=ip)


def test_new_watchers_are_capped_per_network_and_known_ones_never(client, settings):
    settings.WATCH_NEW_VISITORS_PER_NETWORK = 3
    settings.RATE_LIMIT_STORE = "database"
    session = make_drop().session  # live
    for n in range(5):  # one address inventing five visitors
        assert _beat(client, session, f"{n:032x}", "203.0.113.9").status_code == 204
    assert WatchEvidence.objects.filter(session=session).count() == 3
    assert _beat(client, session, "f" * 32, "198.51.100.7").status_code == 204  # another network is not affected
    assert WatchEvidence.objects.filter(session=session).count() == 4
    # an already recorded visitor keeps counting on the capped network (its next beat, 10 s later)
    row = WatchEvidence.objects.get(session=session, visitor_id=f"{0:032x}")
    cache.delete(f"watch:{session.pk}:{0:032x}")
    assert _beat(client, session, f"{0:032x}", "203.0.113.9").status_code == 204
    assert WatchEvidence.objects.get(pk=row.pk).polls == row.polls + 1


def test_a_capped_newcomer_is_recorded_on_a_beat_after_the_window(client, settings, monkeypatch):
    from commerce import ratelimit

    settings.WATCH_NEW_VISITORS_PER_NETWORK = 1
    settings.RATE_LIMIT_STORE = "database"
    session = make_drop().session
    clock = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    _beat(client, session, "a" * 32, "203.0.113.9")
    _beat(client, session, "b" * 32, "203.0.113.9")
    assert list(WatchEvidence.objects.values_list("visitor_id", flat=True)) == ["a" * 32]
    clock[0] += 61  # the next window
    _beat(client, session, "b" * 32, "203.0.113.9")  # not held back by the 10 s write throttle either
    assert sorted(WatchEvidence.objects.values_list("visitor_id", flat=True)) == ["a" * 32, "b" * 32]
