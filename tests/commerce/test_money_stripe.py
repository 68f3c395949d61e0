"""Stripe's currency rules (zero-decimal, three-decimal ending in 0) for lines, discounts, shipping and refunds,
and the late-payment rule decided in the webhook itself with no worker running (docs/money.md, docs/refunds.md)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import Event
from analytics.services import events_flush_all
from commerce.exceptions import PaymentProviderError
from commerce.models import Drop, Hold, Order, OrderLine, PaymentEvent
from commerce.money import (
    MoneyError,
    from_stripe_amount,
    minor_step,
    round_to_step,
    stripe_amount,
    stripe_exponent,
)
from commerce.payments.stripe_checkout import checkout_amounts
from commerce.pricing import line_discount
from commerce.services.coupons import coupon_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_mark_paid, order_place
from commerce.services.outbox import outbox_drain
from commerce.services.refunds import RefundInvalid, refund_create
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


def window():
    now = timezone.now()
    return {"valid_from": now - dt.timedelta(minutes=1), "valid_until": now + dt.timedelta(hours=1)}


# --- the helper ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "sent"),
    [
        (1500, "JPY", 1500),  # zero-decimal: yen, not "15.00"
        (990, "KRW", 990),
        (4299, "USD", 4299),
        (12350, "KWD", 12350),  # three-decimal, ends in 0
        (5, "ISK", 500),  # ISK: two decimals in the API, whole krónur only
        (1000, "HUF", 100000),  # CLDR says 0 decimals, Stripe counts fillér
    ],
)
def test_stripe_amount_follows_stripes_units(minor, currency, sent):
    assert stripe_amount(minor, currency) == sent
    assert from_stripe_amount(sent, currency) == minor


@pytest.mark.parametrize("minor", [12345, 1, 9])
def test_a_three_decimal_amount_not_ending_in_0_is_refused_before_stripe_sees_it(minor):
    with pytest.raises(MoneyError, match="steps of"):
        stripe_amount(minor, "KWD")


def test_steps_and_rounding():
    assert [stripe_exponent(c) for c in ("JPY", "USD", "KWD", "ISK")] == [0, 2, 3, 2]
    assert {c: minor_step(c) for c in ("BHD", "JOD", "KWD", "OMR", "TND")} == dict.fromkeys(
        ("BHD", "JOD", "KWD", "OMR", "TND"), 10
    )
    assert [minor_step(c) for c in ("USD", "JPY", "ISK", "EUR")] == [1, 1, 1, 1]
    assert [round_to_step(n, "KWD") for n in (4004, 4005, 4006, 0, 10)] == [4000, 4010, 4010, 0, 10]
    assert [round_to_step(n, "KWD", down=True) for n in (4009, 4000)] == [4000, 4000]
    assert round_to_step(4005, "USD") == 4005


# --- discounts round so the line is payable ----------------------------------------------------------


class _Coupon:
    class Kind:
        PERCENT, FIXED = "percent", "fixed"

    def __init__(self, kind, percent_off=None, amount_off_minor=None, currency=""):
        self.kind, self.percent_off, self.amount_off_minor, self.currency = (
            kind,
            percent_off,
            amount_off_minor,
            currency,
        )


def test_15_percent_off_a_kwd_line_rounds_the_discounted_line_to_a_multiple_of_10():
    coupon = _Coupon("percent", Decimal("15"))
    # 15 % of 12.350 = 1.8525 → 1.853 half-up → line 10.497 → 10.500: the discount shown is 1.850
    assert line_discount(coupon=coupon, unit_price_minor=12350, quantity=1, currency="KWD") == 1850
    # other currencies keep the plain per-line half-up rule
    assert line_discount(coupon=coupon, unit_price_minor=1999, quantity=1, currency="USD") == 300


@pytest.mark.parametrize("percent", ["1", "7.5", "12.5", "15", "33.33", "50", "99", "100"])
@pytest.mark.parametrize("unit", [10, 120, 1230, 12350, 99990])
@pytest.mark.parametrize("quantity", [1, 3])
def test_every_discounted_three_decimal_line_is_payable(percent, unit, quantity):
    line = unit * quantity
    discount = line_discount(
        coupon=_Coupon("percent", Decimal(percent)), unit_price_minor=unit, quantity=quantity, currency="KWD"
    )
    assert 0 <= discount <= line
    assert (line - discount) % 10 == 0
    stripe_amount(line - discount, "KWD")  # does not raise
    fixed = line_discount(
        coupon=_Coupon("fixed", amount_off_minor=1234, currency="KWD"),
        unit_price_minor=unit,
        quantity=quantity,
        currency="KWD",
    )
    assert (line - fixed) % 10 == 0 and 0 <= fixed <= line


def test_step_down_prices_of_a_kwd_drop_end_in_0():
    from commerce.pricing import drop_price_quote

    drop = make_drop(
        quantity=5,
        price_minor=12350,
        currency="KWD",
        pricing="step_down",
        step_seconds=60,
        step_percent=Decimal("7"),
        floor_price_minor=1000,
    )
    for step in range(6):
        quote = drop_price_quote(drop, now=drop.opens_at + dt.timedelta(seconds=60 * step + 1))
        assert quote.unit_price_minor % 10 == 0


# --- Checkout, shipping, refunds --------------------------------------------------------------------


def test_kwd_coupon_checkout_sends_stripe_the_stored_total(stripe_api):
    drop = make_drop(quantity=5, price_minor=12350, currency="KWD")
    coupon_create(code="KW15", kind="percent", percent_off=Decimal("15"), **window())
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    order = checkout_start(hold_token=hold.token, coupon_code="KW15")
    session = stripe_api.sessions[order.payment_reference]
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (12350, 1850, 10500)
    assert (session["amount_total"], session["currency"]) == (10500, "kwd")
    assert session["amount_total"] % 10 == 0


def test_zero_decimal_coupon_checkout_is_sent_in_yen(stripe_api):
    drop = make_drop(quantity=5, price_minor=1999, currency="JPY")
    coupon_create(code="YEN15", kind="percent", percent_off=Decimal("15"), **window())
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    order = checkout_start(hold_token=hold.token, coupon_code="YEN15")
    # 15 % of ¥1,999 = 299.85 → ¥300; ¥1,699 charged, in yen
    assert stripe_api.sessions[order.payment_reference]["amount_total"] == order.total_minor == 1699


def test_shipping_goes_as_a_fixed_amount_option_and_the_amounts_must_add_up():
    drop = make_drop(quantity=5, price_minor=12350, currency="KWD")
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    Order.objects.filter(pk=order.pk).update(shipping_minor=1500, total_minor=12350 + 1500)
    order.refresh_from_db()
    params = checkout_amounts(order)
    option = params["shipping_options"][0]["shipping_rate_data"]
    assert option["fixed_amount"] == {"amount": 1500, "currency": "kwd"}
    assert params["line_items"][0]["price_data"]["unit_amount"] == 12350
    # a shipping amount Stripe would refuse is refused here, with a message, not sent
    Order.objects.filter(pk=order.pk).update(shipping_minor=1505, total_minor=12350 + 1505)
    order.refresh_from_db()
    with pytest.raises(PaymentProviderError, match="cannot be paid by card"):
        checkout_amounts(order)


def test_a_staff_typed_kwd_price_not_ending_in_0_is_a_clear_error_not_a_stripe_400(stripe_api):
    drop = make_drop(quantity=5, price_minor=12345, currency="KWD")
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1)
    with pytest.raises(PaymentProviderError, match="steps of KWD"):
        checkout_start(hold_token=hold.token)
    assert stripe_api.sessions == {}


@pytest.fixture
def kwd_order():
    # 2 × KWD 6.175 = KWD 12.350: the total is payable, half of each unit is not a multiple of 10
    drop = make_drop(quantity=10, per_customer_limit=3, price_minor=6175, currency="KWD")
    order = order_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    order_mark_paid(order_id=order.pk)
    return Order.objects.get(pk=order.pk)


def test_a_half_refund_of_a_kwd_order_is_an_amount_stripe_accepts(kwd_order, django_capture_on_commit_callbacks):
    line = kwd_order.lines.get()
    with django_capture_on_commit_callbacks(execute=True):
        first = refund_create(order_id=kwd_order.pk, lines={line.pk: 1})
    assert first.amount_minor == 6170 and stripe_amount(first.amount_minor, "KWD") == 6170
    with django_capture_on_commit_callbacks(execute=True):
        rest = refund_create(order_id=kwd_order.pk)
    assert first.amount_minor + rest.amount_minor == kwd_order.total_minor == 12350
    assert rest.amount_minor % 10 == 0
    kwd_order.refresh_from_db()
    assert kwd_order.status == Order.Status.REFUNDED


def test_a_typed_kwd_refund_amount_must_end_in_0(kwd_order):
    with pytest.raises(RefundInvalid, match="steps of KWD") as exc:
        refund_create(order_id=kwd_order.pk, amount_minor=6175)
    assert "6.170" in exc.value.message
    assert refund_create(order_id=kwd_order.pk, amount_minor=6170).amount_minor == 6170


def test_stripe_refund_of_half_a_kwd_order_is_sent_ending_in_0(client, stripe_api, webhook, settings):
    drop = make_drop(quantity=10, per_customer_limit=3, price_minor=6175, currency="KWD")
    hold = hold_place(drop_id=drop.pk, email="a@example.com", quantity=2)
    order = checkout_start(hold_token=hold.token)
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    line = order.lines.get()
    refund_create(order_id=order.pk, lines={line.pk: 1})
    outbox_drain()
    assert [r["amount"] for r in stripe_api.refunds] == [6170]


# --- late payment decided in the webhook, no worker --------------------------------------------------


def test_payment_after_the_hold_lapsed_with_no_worker_is_marked_late_and_recorded(
    client, stripe_api, webhook, django_user_model
):
    # a step-down drop: 10 % every minute; the buyer holds at step 1 and pays after the hold lapsed
    drop = make_drop(
        quantity=5,
        price_minor=5000,
        pricing="step_down",
        step_seconds=60,
        step_percent=Decimal("10"),
        floor_price_minor=1000,
        hold_seconds=120,
        opens_in=-90,
    )
    hold = hold_place(drop_id=drop.pk, email="late@example.com", quantity=1)
    assert (hold.price_step, hold.unit_price_minor) == (1, 4500)
    order = checkout_start(hold_token=hold.token)
    # no worker: the hold is still "active" in the database, but its time is up
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=30))
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.ACTIVE
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and order.paid_late
    assert order.total_minor == 4500  # the price the buyer paid, not today's
    assert PaymentEvent.objects.get(order=order).outcome == "paid_late"
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.CONVERTED
    assert Drop.objects.get(pk=drop.pk).available == 4  # returned and taken again: one unit sold
    line = OrderLine.objects.get(order=order)
    assert (line.price_step, line.list_price_minor, line.unit_price_minor) == (1, 5000, 4500)
    events_flush_all()
    purchase = Event.objects.get(name="purchase", order_id=order.pk)
    assert purchase.props["price_step"] == 1 and purchase.props["step_percent"] == "-10.00"
    assert purchase.props["list_price_minor"] == 5000 and purchase.props["paid_late"] is True
    # the buyer's page says so, and the admin's order page shows the step that applied
    assert "data-paid-late" in client.get(order.get_absolute_url()).content.decode()
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests-only")
    client.force_login(admin)
    html = client.get(reverse("admin:commerce_order_change", args=[order.pk])).content.decode()
    assert "step 1 (-10.00 % of list $50.00)" in html


def test_payment_made_in_time_but_delivered_late_is_not_late(client, stripe_api, webhook):
    drop = make_drop(quantity=5, hold_seconds=120)
    hold = hold_place(drop_id=drop.pk, email="ontime@example.com", quantity=1)
    order = checkout_start(hold_token=hold.token)
    paid_at = int(time.time()) - 60
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=30))
    # Stripe's event says the buyer paid 60 s ago, before the hold's expiry 30 s ago
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed", created=paid_at)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID and not order.paid_late
    assert Drop.objects.get(pk=drop.pk).available == 4


def test_late_payment_with_no_worker_when_the_units_were_sold_meanwhile_is_refunded(client, stripe_api, webhook):
    drop = make_drop(quantity=1, hold_seconds=60)
    hold = hold_place(drop_id=drop.pk, email="slow@example.com", quantity=1)
    order = checkout_start(hold_token=hold.token)
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=5))
    # the next buyer's hold placement sweeps the lapsed hold and takes the unit (no worker needed)
    other = checkout_start(
        hold_token=hold_place(drop_id=drop.pk, email="fast@example.com", quantity=1).token, provider_name="manual"
    )
    assert other.status == Order.Status.AWAITING_PAYMENT
    webhook(client, stripe_api.complete(order.payment_reference), "checkout.session.completed")
    order.refresh_from_db()
    assert PaymentEvent.objects.get(order=order, key__contains=":paid:").outcome == "refunded_late"
    assert Drop.objects.get(pk=drop.pk).available == 0
