"""Refunds at Stripe: dashboard refunds, every arrival order of refund events, reconciliation of dead submissions.

Webhooks are signed with the test secret and verified by dj-stripe for real; Stripe is the local
stand-in (tests/commerce/stripe_standin.py) answering with Stripe's own fixture objects.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone
from django_q.models import Schedule

from commerce.exceptions import PaymentProviderError
from commerce.models import Drop, Order, PaymentEvent, Refund
from commerce.payments import ProviderUnavailable, get_provider
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from commerce.services.refunds import RefundInvalid, order_line_fulfil, refund_create, refund_submit, refunds_reconcile
from tests.factories import make_drop

pytestmark = pytest.mark.django_db

LATER = dt.timedelta(hours=1)  # "now" for reconciliation: the pending refunds are stale by then


@pytest.fixture
def paid(client, stripe_api, webhook):
    """A Stripe order of 3 × 10.00 USD, paid through the real webhook path; the drop has 10 units."""
    drop = make_drop(quantity=10, per_customer_limit=3, price_minor=1000)
    hold = hold_place(drop_id=drop.pk, email="buyer@example.com", quantity=3)
    order = checkout_start(hold_token=hold.token)
    assert webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed") == 200
    order.refresh_from_db()
    assert (order.status, order.total_minor, Drop.objects.get(pk=drop.pk).available) == (Order.Status.PAID, 3000, 7)
    return order


def available(order) -> int:
    return Drop.objects.get(pk=order.lines.get().drop_id).available


def refund_events(order) -> int:
    return PaymentEvent.objects.filter(order=order, key__contains=":refund:").count()


def submit_lost(order, **create) -> Refund:
    """A refund recorded locally whose task never ran (worker killed before it started)."""
    return refund_create(order_id=order.pk, **create)  # on-commit task not executed: stays pending


# --- refunds made in the Stripe dashboard -------------------------------------------------------------


def test_dashboard_refund_partial_then_full_updates_the_order_once(client, stripe_api, webhook, paid):
    pi = paid.provider_payment_id
    # given a partial refund made in the dashboard (charge.refunded carries its refund list)
    first = stripe_api.dashboard_refund(pi, 1000)
    assert webhook(client, stripe_api.charge_for(pi, 3000), "charge.refunded") == 200
    assert webhook(client, stripe_api.charge_for(pi, 3000), "charge.refunded") == 200  # another delivery
    paid.refresh_from_db()
    refund = Refund.objects.get(order=paid)
    assert (refund.origin, refund.provider_reference, refund.status) == ("provider", first["id"], "succeeded")
    assert (paid.status, paid.refunded_minor) == (Order.Status.PAID, 1000)
    assert available(paid) == 7  # no units named: no stock guessed
    # when the rest is refunded in the dashboard (new API versions: no embedded list, so it is fetched)
    second = stripe_api.dashboard_refund(pi, 2000)
    assert webhook(client, stripe_api.charge_for(pi, 3000, embed_refunds=False), "charge.refunded") == 200
    assert webhook(client, second, "refund.created") == 200
    paid.refresh_from_db()
    # then the order is refunded in full, once, and its unfulfilled units are back on sale
    assert (paid.status, paid.refunded_minor) == (Order.Status.REFUNDED, 3000)
    assert Refund.objects.filter(order=paid, status="succeeded").count() == 2
    assert refund_events(paid) == 2
    assert available(paid) == 10
    assert paid.lines.get().refunded_quantity == 3
    assert any(m == "GET" and p == "/v1/refunds" for m, p, _ in stripe_api.requests)


def test_dashboard_full_refund_returns_only_unfulfilled_units(client, stripe_api, webhook, paid):
    order_line_fulfil(line_id=paid.lines.get().pk, quantity=1)  # one unit already picked up
    refund = stripe_api.dashboard_refund(paid.provider_payment_id, 3000)
    assert webhook(client, refund, "refund.updated") == 200
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor) == (Order.Status.REFUNDED, 3000)
    assert available(paid) == 9
    assert Refund.objects.get(order=paid).restocked_units == 2


def test_refund_in_full_from_the_admin_works_after_a_dashboard_partial(client, stripe_api, webhook, paid):
    webhook(client, stripe_api.dashboard_refund(paid.provider_payment_id, 500), "refund.created")
    with_units = refund_create(order_id=paid.pk)  # "Refund in full": what is left, money and units
    assert (with_units.amount_minor, with_units.lines) == (2500, {str(paid.lines.get().pk): 3})
    refund_submit(refund_id=with_units.pk)
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor, available(paid)) == (Order.Status.REFUNDED, 3000, 10)
    assert [r["amount"] for r in stripe_api.refunds] == [500, 2500]


def test_refund_of_a_payment_that_is_not_ours_is_ignored(client, stripe_api, webhook, paid):
    other = stripe_api.dashboard_refund("pi_someone_else", 700)
    assert webhook(client, other, "refund.created") == 200
    assert webhook(client, stripe_api.charge_for("pi_someone_else", 700), "charge.refunded") == 200
    assert not Refund.objects.exists()


# --- every arrival order, duplicates --------------------------------------------------------------------


def _snapshots(stripe_api, order, origin):
    """The three deliveries Stripe makes for one refund: created (pending), updated (succeeded), charge.refunded."""
    pi = order.provider_payment_id
    if origin == "ours":
        local = submit_lost(order, amount_minor=1200)
        stripe_api.refund_status = "pending"
        get_provider("stripe").refund(refund=local)  # Stripe has it; our task died before recording the answer
        refund = stripe_api.refunds[-1]
    else:
        refund = stripe_api.dashboard_refund(pi, 1200, status="pending")
    created = dict(refund)
    succeeded = stripe_api.refund_set(refund["id"], status="succeeded")
    charge = stripe_api.charge_for(pi, 3000)
    return [(created, "refund.created"), (succeeded, "refund.updated"), (charge, "charge.refunded")]


@pytest.mark.parametrize("origin", ["dashboard", "ours"])
@pytest.mark.parametrize("order_of_arrival", list(itertools.permutations(range(3))))
def test_refund_events_in_any_order_and_repeated_apply_once(
    client, stripe_api, webhook, paid, origin, order_of_arrival
):
    deliveries = _snapshots(stripe_api, paid, origin)
    for i in [*order_of_arrival, *order_of_arrival]:  # every event, then every event again (Stripe retries)
        obj, event_type = deliveries[i]
        assert webhook(client, obj, event_type, event_id=f"evt_{event_type}") == 200
        paid.refresh_from_db()
        assert paid.refunded_minor in (0, 1200)  # never counted twice, at any point
    refund = Refund.objects.get(order=paid)
    assert (refund.status, refund.amount_minor, refund.origin) == (
        "succeeded",
        1200,
        "shop" if origin == "ours" else "provider",
    )
    assert refund.provider_reference == stripe_api.refunds[-1]["id"]
    assert (paid.status, paid.refunded_minor) == (Order.Status.PAID, 1200)
    assert refund_events(paid) == 1
    assert len(stripe_api.refunds) == 1


@pytest.mark.parametrize("final", ["failed", "canceled"])
def test_a_failed_or_canceled_refund_after_a_pending_one_changes_no_money(client, stripe_api, webhook, paid, final):
    pending = stripe_api.dashboard_refund(paid.provider_payment_id, 3000, status="pending")
    webhook(client, pending, "refund.created")
    # while pending at Stripe, that money cannot be refunded again
    with pytest.raises(RefundInvalid):
        refund_create(order_id=paid.pk)
    ended = stripe_api.refund_set(pending["id"], status=final, failure_reason="expired_or_canceled_card")
    webhook(client, ended, "refund.failed" if final == "failed" else "refund.updated")
    webhook(client, pending, "refund.created", event_id="evt_late_replay")  # the old state, late: ignored
    refund = Refund.objects.get(order=paid)
    paid.refresh_from_db()
    assert refund.status == final and "expired_or_canceled_card" in refund.failure_message
    assert (paid.status, paid.refunded_minor, available(paid)) == (Order.Status.PAID, 0, 7)
    # and the whole amount can be refunded again
    assert refund_create(order_id=paid.pk).amount_minor == 3000


def test_a_refund_that_fails_after_succeeding_takes_the_money_back_off_the_order(client, stripe_api, webhook, paid):
    refund = stripe_api.dashboard_refund(paid.provider_payment_id, 3000)
    webhook(client, refund, "refund.created")
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED and available(paid) == 10
    webhook(client, stripe_api.refund_set(refund["id"], status="failed"), "refund.updated")
    webhook(client, dict(refund, status="succeeded"), "refund.updated", event_id="evt_replayed")  # cannot go back
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor) == (Order.Status.PAID, 0)
    assert "after it had succeeded" in Refund.objects.get(order=paid).failure_message
    assert available(paid) == 10  # units that went back on sale stay there
    # staff can refund the money again (no units are left to return)
    again = refund_create(order_id=paid.pk)
    assert (again.amount_minor, again.lines) == (3000, {})


# --- our submissions: safe to repeat, outages, refusals -------------------------------------------------


def test_refund_submit_is_safe_to_call_again(stripe_api, paid):
    refund = submit_lost(paid, amount_minor=1000)
    for _ in range(3):
        refund_submit(refund_id=refund.pk)
    paid.refresh_from_db()
    assert len(stripe_api.refunds) == 1 and paid.refunded_minor == 1000
    assert [p for m, p, _ in stripe_api.requests if m == "POST"].count("/v1/refunds") == 1


def test_an_unanswered_submission_stays_pending_and_is_settled_later(stripe_api, paid):
    refund = submit_lost(paid)
    stripe_api.fail_posts = 10  # Stripe answers 500, past the library's retries: outcome unknown
    with pytest.raises(ProviderUnavailable):
        refund_submit(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.PENDING  # not "failed": Stripe may have refunded
    stripe_api.fail_posts = 0
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor, len(stripe_api.refunds)) == (Order.Status.REFUNDED, 3000, 1)


def test_a_definite_refusal_marks_the_refund_failed(stripe_api, paid):
    refund = submit_lost(paid)
    stripe_api.refuse_refunds = "Charge ch_x has already been refunded."
    refund = refund_submit(refund_id=refund.pk)
    assert refund.status == Refund.Status.FAILED and "already been refunded" in refund.failure_message
    paid.refresh_from_db()
    assert paid.refunded_minor == 0


def test_a_refund_stripe_answers_pending_settles_by_webhook(client, stripe_api, webhook, paid):
    stripe_api.refund_status = "pending"
    refund = refund_submit(refund_id=submit_lost(paid).pk)
    assert refund.status == Refund.Status.PENDING and refund.provider_reference
    with pytest.raises(RefundInvalid):
        refund_create(order_id=paid.pk, amount_minor=1)
    webhook(client, stripe_api.refund_set(refund.provider_reference, status="succeeded"), "refund.updated")
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor, available(paid)) == (Order.Status.REFUNDED, 3000, 10)


# --- reconciliation of dead submissions -----------------------------------------------------------------


def test_killed_after_stripe_refunded_is_reconciled_not_resubmitted(stripe_api, paid):
    # given: the worker died after Stripe refunded 1 unit, before the answer was recorded
    line = paid.lines.get()
    lost = submit_lost(paid, lines={line.pk: 1})
    get_provider("stripe").refund(refund=lost)
    assert Refund.objects.get(pk=lost.pk).status == Refund.Status.PENDING
    # a partial refund still works meanwhile (the pending one is counted), and so does full once it settled
    assert refunds_reconcile(now=timezone.now()) == {}  # not stale yet: left to the running submission
    # when reconciliation runs
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    lost.refresh_from_db()
    paid.refresh_from_db()
    # then the local refund is settled from Stripe's record, and Stripe was not asked to refund twice
    assert (lost.status, lost.provider_reference) == ("succeeded", stripe_api.refunds[0]["id"])
    assert (paid.refunded_minor, available(paid), len(stripe_api.refunds)) == (1000, 8, 1)
    rest = refund_create(order_id=paid.pk)  # "Refund in full" works again
    refund_submit(refund_id=rest.pk)
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_minor, available(paid)) == (Order.Status.REFUNDED, 3000, 10)


def test_killed_before_stripe_saw_it_is_resubmitted_with_the_same_key(stripe_api, paid):
    lost = submit_lost(paid)
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    posts = [(m, p) for m, p, _ in stripe_api.requests if m == "POST" and p == "/v1/refunds"]
    assert len(posts) == 1 and f"refund-{lost.pk}" in stripe_api.idempotent
    assert stripe_api.refunds[0]["metadata"]["refund_id"] == str(lost.pk)
    paid.refresh_from_db()
    assert paid.status == Order.Status.REFUNDED
    assert refunds_reconcile(now=timezone.now() + LATER) == {}  # nothing pending any more


def test_reconciliation_skips_an_unreachable_stripe_and_retries_next_run(stripe_api, paid, settings):
    lost = submit_lost(paid)
    settings.STRIPE_API_HOST = "http://127.0.0.1:9"  # Stripe unreachable
    assert refunds_reconcile(now=timezone.now() + LATER) == {"unavailable": 1}
    assert Refund.objects.get(pk=lost.pk).status == Refund.Status.PENDING


def test_manual_refunds_left_pending_are_resubmitted(django_capture_on_commit_callbacks):
    from commerce.services.orders import order_mark_paid, order_place

    drop = make_drop(quantity=5, price_minor=1000)
    order = order_place(drop_id=drop.pk, email="m@example.com", quantity=2)
    order_mark_paid(order_id=order.pk)
    lost = refund_create(order_id=order.pk)
    assert refunds_reconcile(now=timezone.now() + LATER) == {"succeeded": 1}
    lost.refresh_from_db()
    assert lost.provider_reference == f"manual-{lost.pk}"
    assert Drop.objects.get(pk=drop.pk).available == 5


def test_reconciliation_is_scheduled_by_migration():
    schedule = Schedule.objects.get(name="commerce.refunds_reconcile")
    assert (schedule.func, schedule.minutes, schedule.repeats) == ("commerce.tasks.refunds_reconcile", 5, -1)


def test_provider_errors_are_typed():
    assert issubclass(ProviderUnavailable, PaymentProviderError)
