"""The ordered funnel: the rule itself, the live flow end to end, identity merge, incremental = rebuilt = raw."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics import selectors, services
from analytics.models import BufferedEvent, Event, FunnelActor, FunnelRollup, VisitorAlias
from analytics.services.funnel import ordered_funnel
from commerce.exceptions import DropUnavailable
from commerce.models import Customer, Hold, Order
from commerce.services.orders import order_mark_paid, order_place
from tests.analytics.test_capture import BROWSER
from tests.factories import LiveSessionFactory, make_drop
from tests.pageview import page_view_post

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_step_counts_only_after_the_previous_one():
    events = [("click", at(0), 1), ("view", at(1), 2), ("checkout", at(2), 3), ("click", at(3), 4)]
    assert list(ordered_funnel(events)) == ["view", "click"]  # the first click came before the view
    assert ordered_funnel(events)["click"] == at(3)


def test_skipping_a_step_stops_the_funnel_there():
    events = [("view", at(0), 1), ("click", at(1), 2), ("checkout", at(2), 3), ("purchase", at(3), 4)]
    assert list(ordered_funnel(events)) == ["view", "click"]  # no cart: checkout and purchase do not count


def test_ties_at_the_same_timestamp_order_by_sequence():
    same = at(5)
    assert list(ordered_funnel([("click", same, 2), ("view", same, 1)])) == ["view", "click"]
    assert list(ordered_funnel([("click", same, 1), ("view", same, 2)])) == ["view"]


def test_events_outside_the_window_reach_nothing():
    events = [("view", at(0), 1), ("click", at(100), 2)]
    assert list(ordered_funnel(events, window=(at(0), at(50)))) == ["view"]
    assert list(ordered_funnel(events, window=(at(1), at(500)))) == []


def test_live_flow_end_to_end_counts_one_person_through_every_step(committed, process):
    # given a viewer who watches, clicks Buy now, checks out and later pays at pickup
    drop = make_drop(quantity=5)
    client = Client(headers={"User-Agent": BROWSER})
    with committed():
        page_view_post(client, client.get(drop.session.get_absolute_url()))  # the page's script posts the view
        client.get(reverse("analytics:click", args=[drop.pk]), follow=True)  # click + checkout page view
        client.post(reverse("commerce:checkout", args=[drop.pk]), {"email": "ann@example.com", "quantity": 2})
        hold = Hold.objects.get()  # cart: the units are held; then Place order on the cart page
        client.post(reverse("commerce:hold", args=[hold.token]), {"coupon_code": "", "pay": "1"})
    # the anonymous steps were flushed before identification happened in the same batch
    process()
    order = Order.objects.get()
    with committed():
        order_mark_paid(order_id=order.pk)
    process()
    # then the session's KPI stack shows one person at every step, merged into the customer
    kpis = selectors.session_kpis(session_id=drop.session_id)
    assert kpis["visitors"] == {"view": 1, "click": 1, "cart": 1, "checkout": 1, "purchase": 1}
    assert (kpis["v2c"], kpis["c2c"], kpis["c2p"]) == (1.0, 1.0, 1.0)
    assert (kpis["orders"], kpis["revenue_minor"], kpis["currency"], kpis["aov_minor"]) == (1, 8598, "USD", 8598)
    customer = Customer.objects.get()
    assert set(Event.objects.values_list("actor", flat=True)) == {f"c:{customer.pk}"}
    assert VisitorAlias.objects.get().customer_id == customer.pk
    assert kpis["acquisition"]["customers"] == 1
    assert kpis["drops"][0]["drop_id"] == drop.pk
    assert kpis["drops"][0]["visitors"]["purchase"] == 1
    # ROI per minute: (revenue − costs) / the planned 10 minutes
    assert kpis["roi_per_minute_minor"] == round(8598 / 10)


def test_identification_in_a_later_batch_moves_earlier_steps_to_the_customer(committed, process):
    drop = make_drop()
    with committed():
        services.event_capture(name="view", visitor_id="vis1", session_id=drop.session_id)
        services.event_capture(name="click", visitor_id="vis1", session_id=drop.session_id, drop_id=drop.pk)
    process()
    assert FunnelRollup.objects.get(session_id=drop.session_id, drop_id=0).visitors_click == 1
    assert FunnelActor.objects.filter(actor="v:vis1").exists()
    # when the same browser checks out as a customer
    with committed():
        order_place(drop_id=drop.pk, email="bo@example.com", quantity=1, visitor_id="vis1")
    process()
    # then there is still one person, now the customer, who reached checkout
    row = FunnelRollup.objects.get(session_id=drop.session_id, drop_id=0)
    assert (row.visitors_view, row.visitors_click, row.visitors_cart, row.visitors_checkout) == (1, 1, 1, 1)
    assert not FunnelActor.objects.filter(actor="v:vis1").exists()


def test_a_rolled_back_order_records_no_checkout(committed, process):
    drop = make_drop(quantity=1, per_customer_limit=1)
    with committed():
        order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
        with pytest.raises(DropUnavailable):
            order_place(drop_id=drop.pk, email="b@example.com", quantity=1)
    process()
    assert Event.objects.filter(name="checkout").count() == 1


def random_events(session_ids, drops, n_actors=40, seed=7):
    rng = random.Random(seed)
    events = []
    for a in range(n_actors):
        visitor = f"r{a}"
        customer = 1000 + a if rng.random() < 0.3 else None
        session = rng.choice(session_ids)
        for _ in range(rng.randint(1, 9)):
            name = rng.choices(["view", "click", "cart", "checkout", "purchase", "share"], [5, 3, 2, 2, 1, 1])[0]
            event = {
                "name": name,
                "visitor_id": visitor,
                "customer_id": customer,
                "session_id": session,
                "drop_id": rng.choice(drops) if name != "view" else None,
                # some outside the attribution window, shuffled so batches arrive out of order
                "occurred_at": timezone.now() - dt.timedelta(seconds=rng.choice([10, 20, 30, 40, 30 * 86400])),
            }
            if name == "purchase":
                event.update(
                    amount_minor=rng.randint(0, 5000), currency="USD", order_id=a * 100 + rng.randint(1, 3)
                )  # an order has one buyer; Stripe may repeat it
            events.append(event)
    rng.shuffle(events)
    return events


def test_incremental_rollups_equal_a_rebuild_and_the_raw_reference(committed, process):
    # given events for two sessions arriving in five batches, out of order
    session_a = LiveSessionFactory(starts_at=timezone.now() - dt.timedelta(minutes=5))
    session_b = LiveSessionFactory(starts_at=timezone.now() - dt.timedelta(minutes=5))
    events = random_events([session_a.pk, session_b.pk], drops=[11, 12])
    for start in range(0, len(events), len(events) // 5 + 1):
        services.events_capture_many(events[start : start + len(events) // 5 + 1])
        process()
    incremental = {
        (r.session_id, r.drop_id): (
            r.visitors_view,
            r.visitors_click,
            r.visitors_cart,
            r.visitors_checkout,
            r.visitors_purchase,
            r.orders,
            r.revenue_minor,
        )
        for r in FunnelRollup.objects.all()
    }
    # then each session equals the figures computed straight from raw events
    for session in (session_a, session_b):
        raw = selectors.session_funnel_from_events(session_id=session.pk)
        kpis = selectors.session_kpis(session_id=session.pk)
        assert kpis["visitors"] == raw["visitors"]
        assert (kpis["orders"], kpis["revenue_minor"]) == (raw["orders"], raw["revenue_minor"])
    assert incremental[(session_a.pk, 0)][0] > 0
    # and a rebuild from raw events changes nothing
    services.funnel_rebuild()
    rebuilt = {
        (r.session_id, r.drop_id): (
            r.visitors_view,
            r.visitors_click,
            r.visitors_cart,
            r.visitors_checkout,
            r.visitors_purchase,
            r.orders,
            r.revenue_minor,
        )
        for r in FunnelRollup.objects.all()
    }
    assert rebuilt == incremental


def test_unknown_session_ids_from_the_beacon_leave_no_rollup(process):
    services.events_capture_many([{"name": "view", "visitor_id": "x", "session_id": 987654}])
    process()
    assert Event.objects.count() == 1
    assert not FunnelRollup.objects.filter(session_id=987654).exists()


def test_a_flush_that_dies_loses_nothing_and_the_retry_moves_each_event_once(process, monkeypatch):
    # given acknowledged events in the buffer
    services.events_capture_many([{"name": "view", "visitor_id": f"v{i}", "session_id": 1} for i in range(50)])
    assert BufferedEvent.objects.count() == 50

    from analytics.services import ingest

    def crash_after_writing(real):
        def run(*args):
            real(*args)  # everything written, then the worker dies before the commit
            raise RuntimeError("worker killed")

        return run

    monkeypatch.setattr(ingest, "_flush_postgresql", crash_after_writing(ingest._flush_postgresql))
    monkeypatch.setattr(ingest, "_flush_python", crash_after_writing(ingest._flush_python))
    with pytest.raises(RuntimeError):
        services.events_flush()
    # then the buffer still holds all of them (the transaction rolled back) …
    assert BufferedEvent.objects.count() == 50
    assert Event.objects.count() == 0
    monkeypatch.undo()
    # … and the next flush moves each exactly once, keeping the acknowledgement order as seq
    assert process() == 50
    assert process() == 0
    assert Event.objects.count() == 50
    assert list(Event.objects.values_list("visitor_id", flat=True)) == [f"v{i}" for i in range(50)]
