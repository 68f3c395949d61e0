"""Memberships on Stripe Billing: Checkout in subscription mode, webhooks through dj-stripe's endpoint
(duplicated, out of order), self-service through the API, the customer portal, plan set-up."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core import mail
from django.utils import timezone

from commerce.memberships.models import Membership, MembershipEvent, MembershipPlan
from commerce.memberships.services_billing import (
    membership_cancel_at_period_end,
    membership_end_now,
    membership_join,
    plan_stripe_setup,
)
from commerce.services.outbox import outbox_drain

pytestmark = pytest.mark.django_db

DAY = 86400


@pytest.fixture
def plan(stripe_api):
    plan = MembershipPlan.objects.create(slug="vip-weekly", name="VIP Weekly", price_minor=499, currency="USD")
    return plan_stripe_setup(plan_id=plan.pk)


@pytest.fixture
def subscribed(stripe_api, plan):
    """A membership whose checkout completed at Stripe (no webhook delivered yet): (membership, session, sub)."""
    result = membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now())
    t0 = int(time.time()) - 60
    session, sub = stripe_api.complete_subscription(
        result.membership.checkout_reference, period_start=t0, period_end=t0 + 7 * DAY
    )
    return result.membership, session, sub, t0


def test_plan_setup_creates_a_recurring_price_and_join_opens_a_subscription_checkout(stripe_api, plan):
    assert plan.stripe_product_id.startswith("prod_") and plan.stripe_price_id.startswith("price_")
    price = stripe_api.prices[plan.stripe_price_id]
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (499, "usd", "week")
    result = membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now())
    m = result.membership
    session = stripe_api.sessions[m.checkout_reference]
    assert result.redirect_url == session["url"] and m.status == "incomplete" and m.provider == "stripe"
    assert session["mode"] == "subscription" and session["customer_email"] == "ann@example.com"
    assert session["metadata"]["membership_id"] == str(m.pk)
    assert session["_subscription_metadata"] == {"membership_id": str(m.pk), "plan": "vip-weekly"}
    assert session["success_url"].endswith(f"/members/welcome/{m.pass_token}/?session_id={{CHECKOUT_SESSION_ID}}")


def test_webhooks_activate_once_despite_duplicates(client, webhook, subscribed):
    m, session, sub, t0 = subscribed
    assert webhook(client, session, "checkout.session.completed", event_id="evt_co", created=t0 + 1) == 200
    assert webhook(client, session, "checkout.session.completed", event_id="evt_co", created=t0 + 1) == 200
    assert webhook(client, sub, "customer.subscription.created", event_id="evt_sc", created=t0 + 1) == 200
    assert webhook(client, sub, "customer.subscription.created", event_id="evt_sc", created=t0 + 1) == 200
    m.refresh_from_db()
    assert m.status == "active" and m.stripe_subscription_id == sub["id"]
    assert int(m.current_period_end.timestamp()) == t0 + 7 * DAY  # read from items.data[0]
    assert MembershipEvent.objects.filter(key__startswith="stripe:").count() == 2
    outbox_drain()
    assert [x.to for x in mail.outbox] == [["ann@example.com"]]  # one welcome e-mail


def test_updated_before_created_keeps_the_newer_state(client, webhook, stripe_api, subscribed):
    m, session, sub, t0 = subscribed
    cancelling = stripe_api.subscription_set(sub["id"], cancel_at_period_end=True)
    # the newer "updated" (cancel at period end) arrives first, the older "created" second
    webhook(client, cancelling, "customer.subscription.updated", event_id="evt_up", created=t0 + 50)
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    m.refresh_from_db()
    assert m.status == "active" and m.cancel_at_period_end
    assert MembershipEvent.objects.get(key="stripe:evt_cr").outcome == "stale"


def test_deleted_before_updated_stays_ended(client, webhook, stripe_api, subscribed):
    m, session, sub, t0 = subscribed
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    deleted = dict(sub, status="canceled", ended_at=t0 + 100)
    webhook(client, deleted, "customer.subscription.deleted", event_id="evt_del", created=t0 + 100)
    webhook(client, dict(sub, status="past_due"), "customer.subscription.updated", event_id="evt_up", created=t0 + 90)
    m.refresh_from_db()
    assert m.status == "ended" and not m.grants_access(timezone.now())
    assert MembershipEvent.objects.get(key="stripe:evt_up").outcome == "stale"


def test_an_old_invoice_paid_after_a_newer_one_does_not_roll_back_the_period(client, webhook, stripe_api, subscribed):
    m, session, sub, t0 = subscribed
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    first = stripe_api.invoice_for(sub["id"], period_start=t0, period_end=t0 + 7 * DAY)
    second = stripe_api.invoice_for(sub["id"], period_start=t0 + 7 * DAY, period_end=t0 + 14 * DAY)
    webhook(client, second, "invoice.paid", event_id="evt_in2", created=t0 + 7 * DAY)
    webhook(client, first, "invoice.paid", event_id="evt_in1", created=t0 + 2)
    m.refresh_from_db()
    assert int(m.current_period_end.timestamp()) == t0 + 14 * DAY
    assert MembershipEvent.objects.get(key="stripe:evt_in1").outcome == "old_period"
    assert MembershipEvent.objects.get(key="stripe:evt_in2").amount_minor == 499


def test_payment_failed_starts_the_grace_period_and_invoice_paid_ends_it(client, webhook, stripe_api, subscribed):
    m, session, sub, t0 = subscribed
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    renewal = stripe_api.invoice_for(sub["id"], period_start=t0 + 7 * DAY, period_end=t0 + 14 * DAY, paid=False)
    failed_at = t0 + 7 * DAY + 10
    webhook(client, renewal, "invoice.payment_failed", event_id="evt_fail", created=failed_at)
    m.refresh_from_db()
    assert m.status == "past_due" and int(m.grace_until.timestamp()) == failed_at + m.plan.grace_days * DAY
    # Stripe's own past_due snapshot, sent a second later, does not extend the grace period
    past_due = stripe_api.subscription_set(sub["id"], status="past_due")
    webhook(client, past_due, "customer.subscription.updated", event_id="evt_pd", created=failed_at + 1)
    m.refresh_from_db()
    assert int(m.grace_until.timestamp()) == failed_at + m.plan.grace_days * DAY
    paid = dict(renewal, status="paid", amount_paid=499)
    webhook(client, paid, "invoice.paid", event_id="evt_paid", created=failed_at + 3600)
    m.refresh_from_db()
    assert (m.status, m.grace_until) == ("active", None)
    assert int(m.current_period_end.timestamp()) == t0 + 14 * DAY


def test_return_from_checkout_activates_before_the_webhook(client, subscribed):
    m, session, sub, t0 = subscribed
    response = client.get(f"/members/welcome/{m.pass_token}/?session_id={session['id']}")
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.status == "active" and m.stripe_customer_id == session["customer"]
    page = client.get("/members/me/").content.decode()
    assert "Manage billing" in page


def test_self_service_cancel_goes_through_stripe_and_a_late_older_webhook_does_not_undo_it(
    client, webhook, stripe_api, subscribed
):
    m, session, sub, t0 = subscribed
    webhook(client, session, "checkout.session.completed", event_id="evt_co", created=t0 + 1)
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    client.get(f"/members/welcome/{m.pass_token}/")
    client.post("/members/me/cancel/")
    assert stripe_api.subscriptions[sub["id"]]["cancel_at_period_end"] is True
    m.refresh_from_db()
    assert m.cancel_at_period_end
    # an "updated" Stripe sent before our change, delivered late, is stale
    webhook(client, sub, "customer.subscription.updated", event_id="evt_old", created=t0 + 2)
    m.refresh_from_db()
    assert m.cancel_at_period_end
    # resume
    membership_cancel_at_period_end(membership_id=m.pk, cancel=False, now=timezone.now())
    assert stripe_api.subscriptions[sub["id"]]["cancel_at_period_end"] is False
    # the customer portal
    portal = client.get("/members/me/billing/")
    assert portal.status_code == 302 and portal["Location"].startswith("https://billing.stripe.com/")
    assert any(
        p == "/v1/billing_portal/sessions" and f["customer"] == m.stripe_customer_id for _, p, f in stripe_api.requests
    )


def test_staff_end_now_cancels_the_subscription_at_stripe(client, webhook, stripe_api, subscribed):
    m, session, sub, t0 = subscribed
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    membership_end_now(membership_id=m.pk, now=timezone.now())
    assert stripe_api.subscriptions[sub["id"]]["status"] == "canceled"
    m.refresh_from_db()
    assert m.status == "ended"


def test_expired_checkout_ends_the_incomplete_membership_and_allows_a_new_join(client, webhook, stripe_api, plan):
    m = membership_join(plan_slug=plan.slug, email="bob@example.com", now=timezone.now()).membership
    expired = dict(stripe_api.sessions[m.checkout_reference], status="expired")
    webhook(client, expired, "checkout.session.expired", event_id="evt_exp")
    m.refresh_from_db()
    assert m.status == "ended"
    assert membership_join(plan_slug=plan.slug, email="bob@example.com", now=timezone.now()).outcome == "created"
    assert Membership.objects.filter(status="incomplete").count() == 1


def test_stripe_outage_at_join_keeps_nothing_and_says_so(client, stripe_api, plan):
    # given Stripe answering 500 to every try (the library retries)
    stripe_api.fail_posts = 10
    from tests.commerce.memberships.test_billing import join_and_confirm

    response = join_and_confirm(client, plan, "ann@example.com")
    # then a page with the error (502), not a 500, and no membership left behind
    assert response.status_code == 502 and "Stripe" in response.content.decode()
    assert not Membership.objects.exists()
    stripe_api.fail_posts = 0
    assert membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now()).outcome == "created"


def test_an_unknown_subscription_is_recorded_and_changes_nothing(client, webhook, subscribed):
    m, session, sub, t0 = subscribed
    stranger = dict(sub, id="sub_elsewhere", metadata={})
    assert webhook(client, stranger, "customer.subscription.updated", event_id="evt_x") == 200
    assert MembershipEvent.objects.get(key="stripe:evt_x").outcome == "unknown"
    m.refresh_from_db()
    assert m.status == "incomplete"


def test_grace_over_ends_the_membership_and_cancels_at_stripe_through_the_outbox(
    client, webhook, stripe_api, subscribed
):
    from commerce.memberships.services_billing import memberships_sweep

    m, session, sub, t0 = subscribed
    webhook(client, sub, "customer.subscription.created", event_id="evt_cr", created=t0 + 1)
    renewal = stripe_api.invoice_for(sub["id"], period_start=t0 + 7 * DAY, period_end=t0 + 14 * DAY, paid=False)
    webhook(client, renewal, "invoice.payment_failed", event_id="evt_fail", created=t0 + 7 * DAY)
    m.refresh_from_db()
    after_grace = m.grace_until + dt.timedelta(seconds=1)
    # given Stripe down when the sweep runs: the membership still ends, the cancellation waits in the outbox
    stripe_api.fail_posts = 100
    assert memberships_sweep(now=after_grace)["grace_over"] == 1
    m.refresh_from_db()
    assert m.status == "ended" and stripe_api.subscriptions[sub["id"]]["status"] == "active"
    stripe_api.fail_posts = 0
    outbox_drain()
    from commerce.models import OutboxMessage

    OutboxMessage.objects.update(available_at=timezone.now())  # the retry's backoff has passed
    outbox_drain()
    assert stripe_api.subscriptions[sub["id"]]["status"] == "canceled"


def test_admin_creates_the_stripe_price_and_the_sweep_is_scheduled(client, stripe_api):
    from django_q.models import Schedule

    from tests.factories import make_staff

    plan = MembershipPlan.objects.create(
        slug="monthly", name="Monthly", price_minor=1500, currency="JPY", interval="month"
    )
    client.force_login(make_staff("owner", role="owner"))
    response = client.post("/admin/commerce/membershipplan/", {"action": "stripe_setup", "_selected_action": [plan.pk]})
    assert response.status_code == 302
    plan.refresh_from_db()
    price = stripe_api.prices[plan.stripe_price_id]
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (1500, "jpy", "month")
    assert Schedule.objects.get(name="commerce.memberships_sweep").func.endswith("memberships_sweep_task")
