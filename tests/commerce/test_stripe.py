"""Stripe Checkout through the provider seam, webhooks through dj-stripe, exactly once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from commerce import tasks
from commerce.models import Drop, Hold, Order, PaymentEvent, Refund
from commerce.services.holds import hold_place, holds_release_lapsed
from commerce.services.orders import checkout_start
from commerce.services.outbox import outbox_drain
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def start(drop, email="buyer@example.com", quantity=1, **kwargs):
    hold = hold_place(drop_id=drop.pk, email=email, quantity=quantity)
    return hold, checkout_start(hold_token=hold.token, **kwargs)


def test_checkout_session_carries_the_exact_total_and_outlives_the_hold(stripe_api):
    drop = make_drop(quantity=5, hold_seconds=300)
    hold, order = start(drop, quantity=2)
    assert order.status == Order.Status.PENDING and order.payment_provider == "stripe"
    session = stripe_api.sessions[order.payment_reference]
    assert order.payment_url == session["url"]
    assert (session["amount_total"], session["currency"]) == (order.total_minor, "usd") == (8598, "usd")
    assert session["metadata"]["order_id"] == str(order.pk)
    # Stripe needs at least 30 minutes; the hold (5 min) is shorter, so the session gets 31.
    assert session["expires_at"] >= int((timezone.now() + dt.timedelta(minutes=30)).timestamp())
    # checkout again for the same hold: same order, no second session
    assert checkout_start(hold_token=hold.token).pk == order.pk
    assert len(stripe_api.sessions) == 1


def test_zero_decimal_currency_goes_to_stripe_in_yen(stripe_api):
    drop = make_drop(quantity=5, price_minor=1500, currency="JPY")
    _, order = start(drop, quantity=2)
    session = stripe_api.sessions[order.payment_reference]
    assert (session["amount_total"], session["currency"]) == (3000, "jpy")


def test_completed_webhook_pays_once_despite_duplicates(client, stripe_api, webhook):
    drop = make_drop(quantity=5)
    hold, order = start(drop)
    paid = stripe_api.complete(order.payment_reference)
    assert webhook(client, paid, "checkout.session.completed", event_id="evt_A") == 200
    assert webhook(client, paid, "checkout.session.completed", event_id="evt_A") == 200  # same event again
    assert webhook(client, paid, "checkout.session.async_payment_succeeded", event_id="evt_B") == 200
    order.refresh_from_db()
    hold.refresh_from_db()
    assert order.status == Order.Status.PAID and hold.status == Hold.Status.CONVERTED
    assert order.provider_payment_id == paid["payment_intent"]
    assert PaymentEvent.objects.filter(order=order).count() == 1
    assert len(mail.outbox) == 1 and order.number in mail.outbox[0].subject
    assert Drop.objects.get(pk=drop.pk).available == 4


def test_bad_signature_is_refused_and_changes_nothing(client, stripe_api, webhook):
    drop = make_drop(quantity=5)
    _, order = start(drop)
    paid = stripe_api.complete(order.payment_reference)
    assert webhook(client, paid, "checkout.session.completed", secret="whsec_wrong") == 400
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert PaymentEvent.objects.count() == 0


def test_completed_but_unpaid_waits_for_async_success(client, stripe_api, webhook):
    drop = make_drop(quantity=5)
    _, order = start(drop)
    session = dict(stripe_api.sessions[order.payment_reference], status="complete", payment_status="unpaid")
    webhook(client, session, "checkout.session.completed")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.async_payment_succeeded")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_expired_session_releases_the_hold_and_a_late_expired_event_is_ignored(client, stripe_api, webhook):
    drop = make_drop(quantity=5)
    hold, order = start(drop, quantity=2)
    session = dict(stripe_api.sessions[order.payment_reference], status="expired")
    webhook(client, session, "checkout.session.expired")
    webhook(client, session, "checkout.session.expired")
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert Drop.objects.get(pk=drop.pk).available == 5
    # out of order: another paid order's expired event after its completion changes nothing
    hold2, order2 = start(drop, email="second@example.com")
    paid = stripe_api.complete(order2.payment_reference)
    webhook(client, paid, "checkout.session.completed")
    webhook(client, dict(paid, status="expired"), "checkout.session.expired")
    order2.refresh_from_db()
    assert order2.status == Order.Status.PAID
    assert Drop.objects.get(pk=drop.pk).available == 4


def test_lapsed_hold_expires_the_stripe_session_through_the_api(stripe_api):
    drop = make_drop(quantity=5, hold_seconds=60)
    hold, order = start(drop, quantity=2)
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    tasks.holds_expire()
    order.refresh_from_db()
    assert stripe_api.sessions[order.payment_reference]["status"] == "expired"
    assert order.status == Order.Status.CANCELLED
    assert Drop.objects.get(pk=drop.pk).available == 5
    assert any(p.endswith("/expire") for _m, p, _f in stripe_api.requests)


def test_late_payment_is_honoured_while_units_remain(client, stripe_api, webhook):
    drop = make_drop(quantity=5)
    hold, order = start(drop, quantity=2)
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    holds_release_lapsed(drop_id=drop.pk)
    assert Drop.objects.get(pk=drop.pk).available == 5
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.paid_late
    assert Drop.objects.get(pk=drop.pk).available == 3
    assert not stripe_api.refunds


def test_late_payment_when_sold_out_is_refunded_and_the_buyer_told(client, stripe_api, webhook):
    drop = make_drop(quantity=2, per_customer_limit=2)
    hold, order = start(drop, quantity=2)
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    # someone else buys the freed units (the sweep runs inside their hold placement)
    settings_provider_manual = checkout_start(
        hold_token=hold_place(drop_id=drop.pk, email="fast@example.com", quantity=2).token, provider_name="manual"
    )
    assert settings_provider_manual.status == Order.Status.AWAITING_PAYMENT
    outbox_drain()  # the other buyer's confirmation goes out first, as it would have after their commit
    mail.outbox.clear()
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed")
    order.refresh_from_db()
    refund = Refund.objects.get(order=order)
    assert refund.reason == Refund.Reason.LATE_PAYMENT and refund.status == Refund.Status.SUCCEEDED
    assert stripe_api.refunds[0]["amount"] == order.total_minor
    assert stripe_api.refunds[0]["payment_intent"] == order.provider_payment_id
    assert order.status == Order.Status.REFUNDED and order.refunded_minor == order.total_minor
    assert Drop.objects.get(pk=drop.pk).available == 0
    # the explanation, and the credit note of the refund once Stripe confirmed it (docs/receipts.md)
    assert sorted(m.subject for m in mail.outbox) == sorted(
        [f"Your order {order.number} was refunded", f"Your refund on order {order.number}: credit note"]
    )


def test_provider_outage_keeps_the_order_retryable(stripe_api):
    from commerce.exceptions import PaymentProviderError

    drop = make_drop(quantity=5)
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    stripe_api.fail_posts = 10  # more than the stripe library's retries
    with pytest.raises(PaymentProviderError):
        checkout_start(hold_token=hold.token)
    stripe_api.fail_posts = 0
    order = checkout_start(hold_token=hold.token)
    assert order.payment_url
    assert Order.objects.count() == 1
