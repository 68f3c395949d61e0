"""The audience signals analytics gives sampling's targeting: watched and clicked, per series."""

from __future__ import annotations

import pytest

from analytics import selectors
from analytics.models import Event
from commerce.services.customers import customer_get_or_create
from sampling import audience
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def _event(seq, name, customer, drop):
    Event.objects.create(
        seq=seq,
        name=name,
        occurred_at=drop.opens_at,
        received_at=drop.opens_at,
        customer_id=customer.pk,
        actor=f"c:{customer.pk}",
        session_id=drop.session_id,
        drop_id=drop.pk,
    )


def test_watchers_and_clickers_by_series(django_user_model):
    from sessions_app.models import Series

    drop = make_drop()
    other = make_drop()
    series = Series.objects.create(
        name="S",
        slug="s",
        format=drop.session.format,
        host_name="h",
        weekday=0,
        local_time="09:00",
        starts_on=drop.opens_at.date(),
    )
    drop.session.series = series
    drop.session.save()
    ann = customer_get_or_create(email="Ann+live@Example.com")
    bob = customer_get_or_create(email="bob@example.com")
    _event(1, "view", ann, drop)
    _event(2, "click", ann, drop)
    _event(3, "view", bob, other)
    assert selectors.audience_attendees(series_id=series.pk) == {"ann@example.com"}
    assert selectors.audience_drop_clickers(series_id=series.pk) == {"ann@example.com"}
    assert selectors.audience_attendees(series_id=None) == {"ann@example.com", "bob@example.com"}
    assert audience.audience_connected()
