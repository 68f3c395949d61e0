"""Schedules exist and repair themselves; tasks and the rebuild command call the services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from analytics import tasks
from analytics.models import Event, FunnelRollup
from analytics.schedules import SCHEDULES
from analytics.services import events_capture_many
from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db


def test_schedules_are_created_by_the_migration_and_repaired_by_the_command():
    from importlib import import_module

    from django.apps import apps

    names = {name for name, _f, _m in SCHEDULES}
    Schedule.objects.filter(name__in=names).delete()  # transactional tests may have flushed them
    import_module("analytics.migrations.0002_schedules").ensure(apps, None)
    assert set(Schedule.objects.filter(name__in=names).values_list("func", flat=True)) == {
        "analytics.tasks.events_flush",
        "analytics.tasks.rollups_update",
    }
    Schedule.objects.filter(name__in=names).delete()
    out = StringIO()
    call_command("analytics_schedule", stdout=out)
    call_command("analytics_schedule", stdout=out)
    assert Schedule.objects.filter(name__in=names, schedule_type="I", minutes=1).count() == 2
    assert "2 created" in out.getvalue()


def test_tasks_flush_and_roll_up_and_the_command_rebuilds(django_capture_on_commit_callbacks):
    session = LiveSessionFactory()
    events_capture_many([{"name": "view", "visitor_id": "a", "session_id": session.pk}])
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.events_flush() == 1
    # the flush queued rollups_update (django-q2 runs it inline in tests)
    assert FunnelRollup.objects.get(session_id=session.pk, drop_id=0).visitors_view == 1
    FunnelRollup.objects.filter(session_id=session.pk).update(visitors_view=99)  # a corrupted roll-up
    out = StringIO()
    call_command("analytics_rebuild", stdout=out)
    assert FunnelRollup.objects.get(session_id=session.pk, drop_id=0).visitors_view == 1
    assert Event.objects.count() == 1
    assert tasks.rollups_update() == {"actors": 0, "customers": 0}
