"""Memberships under real concurrency (PostgreSQL): signed Stripe webhooks delivered by racing threads to
dj-stripe's endpoint (the same event many times; different events of one subscription at once), joins
racing for one address, and sweeps racing each other. Each applies once; the newest state wins."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.test import Client
from django.utils import timezone

from commerce.memberships.models import Membership, MembershipEvent, MembershipPlan
from commerce.memberships.services_billing import membership_join, memberships_sweep, plan_stripe_setup
from commerce.services.stripe_setup import webhook_endpoint_register
from tests.commerce.conftest import WEBHOOK_SECRET, event_for, sign
from tests.commerce.test_races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = 86400


@pytest.fixture
def endpoint_path(db):
    _, url = webhook_endpoint_register(secret=WEBHOOK_SECRET, base_url="http://testserver")
    return url.removeprefix("http://testserver")


@pytest.fixture
def subscribed(stripe_api):
    plan = MembershipPlan.objects.create(slug="vip-weekly", name="VIP Weekly", price_minor=499, currency="USD")
    plan_stripe_setup(plan_id=plan.pk)
    m = membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now()).membership
    t0 = int(time.time()) - 600
    session, sub = stripe_api.complete_subscription(m.checkout_reference, period_start=t0, period_end=t0 + 7 * DAY)
    return m, session, sub, t0


def signed(obj: dict, event_type: str, event_id: str, created: int) -> tuple[str, str]:
    payload = event_for(obj, event_type, event_id, created)
    return payload, sign(payload)


def post(path: str, delivery: tuple[str, str]) -> int:
    payload, signature = delivery
    return (
        Client()
        .post(path, data=payload, content_type="application/json", headers={"Stripe-Signature": signature})
        .status_code
    )


def test_the_same_event_delivered_by_16_racing_threads_applies_once(endpoint_path, subscribed):
    m, session, sub, t0 = subscribed
    delivery = signed(sub, "customer.subscription.created", "evt_race", t0 + 1)
    codes = race(16, lambda i: post(endpoint_path, delivery))
    assert all(isinstance(c, int) for c in codes), codes
    assert post(endpoint_path, delivery) == 200  # Stripe's retry of anything that lost a race
    m.refresh_from_db()
    assert m.status == "active" and m.stripe_subscription_id == sub["id"]
    assert MembershipEvent.objects.filter(key="stripe:evt_race").count() == 1


def test_every_event_of_a_subscription_at_once_ends_in_the_newest_state(endpoint_path, stripe_api, subscribed):
    # given the whole life of a subscription: checkout, created, paid, renewal paid, cancel, deleted
    m, session, sub, t0 = subscribed
    renewal = stripe_api.invoice_for(sub["id"], period_start=t0 + 7 * DAY, period_end=t0 + 14 * DAY)
    renewed = stripe_api.subscription_set(
        sub["id"], current_period_start=t0 + 7 * DAY, current_period_end=t0 + 14 * DAY
    )
    cancelling = dict(renewed, cancel_at_period_end=True)
    deleted = dict(renewed, cancel_at_period_end=True, status="canceled", ended_at=t0 + 14 * DAY)
    deliveries = [
        signed(session, "checkout.session.completed", "evt_1", t0 + 1),
        signed(sub, "customer.subscription.created", "evt_2", t0 + 1),
        signed(
            stripe_api.invoice_for(sub["id"], period_start=t0, period_end=t0 + 7 * DAY), "invoice.paid", "evt_3", t0 + 2
        ),
        signed(renewal, "invoice.paid", "evt_4", t0 + 7 * DAY),
        signed(cancelling, "customer.subscription.updated", "evt_5", t0 + 8 * DAY),
        signed(deleted, "customer.subscription.deleted", "evt_6", t0 + 14 * DAY),
    ]
    # when they all arrive at once, each twice, in any order
    codes = race(12, lambda i: post(endpoint_path, deliveries[(i * 5) % 6]))
    assert all(isinstance(c, int) for c in codes), codes
    for delivery in deliveries:  # Stripe's retries
        assert post(endpoint_path, delivery) == 200
    # then the membership is in the newest state: ended, with the latest period kept
    m.refresh_from_db()
    assert m.status == "ended" and m.stripe_subscription_id == sub["id"]
    assert int(m.current_period_end.timestamp()) == t0 + 14 * DAY
    assert m.provider_state_at == t0 + 14 * DAY
    assert MembershipEvent.objects.filter(key__startswith="stripe:").count() == 6


def test_racing_joins_for_one_address_make_one_membership(settings):
    settings.PAYMENT_PROVIDER = "manual"
    plan = MembershipPlan.objects.create(slug="vip", name="VIP", price_minor=499, currency="USD")

    def join(i):
        return membership_join(plan_slug=plan.slug, email=f"ANN+{i}@example.com", now=timezone.now()).outcome

    outcomes = race(12, join)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(outcomes).count("created") == 1
    assert Membership.objects.filter(plan=plan).count() == 1


def test_racing_sweeps_renew_each_membership_once(settings):
    settings.PAYMENT_PROVIDER = "manual"
    plan = MembershipPlan.objects.create(slug="vip", name="VIP", price_minor=499, currency="USD")
    start = timezone.now() - dt.timedelta(days=7, minutes=5)
    members = [membership_join(plan_slug=plan.slug, email=f"m{i}@example.com", now=start).membership for i in range(10)]
    Membership.objects.filter(pk__in=[m.pk for m in members]).update(current_period_end=start + dt.timedelta(days=7))
    now = timezone.now()
    results = race(8, lambda i: memberships_sweep(now=now))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["renewed"] for r in results) == 10
    assert MembershipEvent.objects.filter(type="sweep.renew").count() == 10
    for m in Membership.objects.filter(plan=plan):
        assert m.current_period_end == start + dt.timedelta(days=14)
