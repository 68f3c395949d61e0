"""Ingestion under real concurrency on PostgreSQL: parallel capture, flushers and rollup workers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count
from django.utils import timezone

from analytics import selectors, services
from analytics.models import BufferedEvent, Event, FunnelRollup, PendingActor
from tests.commerce.test_races import race
from tests.factories import LiveSessionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_parallel_flushers_and_rollup_workers_move_every_event_exactly_once():
    session = LiveSessionFactory(starts_at=timezone.now() - dt.timedelta(minutes=5))
    steps = ["view", "click", "cart", "checkout", "purchase"]

    # given 40 writers acknowledging 100 events each, racing
    def capture(i):
        events = [
            {
                "name": steps[min(k % 7, 4)],
                "visitor_id": f"w{i}-{k % 10}",
                "session_id": session.pk,
                "drop_id": 1 + k % 3,
                **({"amount_minor": 100, "currency": "USD", "order_id": i * 1000 + k} if min(k % 7, 4) == 4 else {}),
            }
            for k in range(100)
        ]
        return services.events_capture_many(events)[0]

    assert sum(race(40, capture)) == 4000
    assert BufferedEvent.objects.count() == 4000

    # when 8 workers flush in small batches and update rollups at the same time
    def work(i):
        moved = 0
        while True:
            batch = services.events_flush(batch_size=137)
            moved += batch
            services.rollups_update()
            if not batch and not BufferedEvent.objects.exists():
                return moved

    moved = race(8, work)
    assert [m for m in moved if not isinstance(m, int)] == []
    services.rollups_update()
    # then each acknowledged event was written once, none lost, none doubled
    assert sum(moved) == 4000
    assert Event.objects.count() == 4000
    assert Event.objects.values("seq").annotate(n=Count("pk")).filter(n__gt=1).count() == 0
    assert not PendingActor.objects.exists()
    # and the incrementally maintained rollup equals the raw-event reference
    raw = selectors.session_funnel_from_events(session_id=session.pk)
    kpis = selectors.session_kpis(session_id=session.pk)
    assert kpis["visitors"] == raw["visitors"]
    assert kpis["visitors"]["view"] == 400
    assert (kpis["orders"], kpis["revenue_minor"]) == (raw["orders"], raw["revenue_minor"])
    before = {(r.session_id, r.drop_id, r.visitors_purchase, r.revenue_minor) for r in FunnelRollup.objects.all()}
    services.funnel_rebuild(session_id=session.pk)
    assert {
        (r.session_id, r.drop_id, r.visitors_purchase, r.revenue_minor) for r in FunnelRollup.objects.all()
    } == before
