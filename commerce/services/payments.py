"""Applying payment-provider events to orders, exactly once.

Every event is claimed by inserting a PaymentEvent with a unique business key
(`<provider>:paid:<checkout reference>`, `<provider>:expired:<reference>`) in
the same transaction as its effects: a duplicate, concurrent or replayed
delivery hits the unique constraint and changes nothing. Out-of-order events
are harmless: an `expired` after `paid` finds a paid order and is ignored.

Late-payment rule (a payment made after its hold lapsed): the units are taken
again through the same conditional UPDATE as any sale. If they are there, the
order is paid and honoured (`paid_late`) **at the price the buyer paid** (the
hold's locked price and price step, even if the drop's price has moved since);
if not, the order is refunded in full automatically and the buyer is told by
e-mail.

"Lapsed" is decided here, in the webhook, not by the worker: a hold is lapsed
when it was expired or released, **or** when it is still active but its
`expires_at` is at or before the time the buyer paid (`paid_at`, Stripe's event
time). The second case is a hold no worker has swept yet (worker stopped or
behind): it is expired on the spot (its units go back, as the sweeper would do)
and the rule above applies, so the outcome does not depend on whether a worker
ran.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Hold, Order, PaymentEvent, Refund
from . import funnel, notifications, receipts, webhooks
from .holds import hold_convert, hold_expire_locked
from .orders import order_release_locked

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentOutcome:
    """What an event did: outcome is paid | paid_late | refunded_late | released | duplicate | ignored | mismatch."""

    outcome: str
    order_id: int | None


def _claim(*, key: str, order: Order, provider: str, event_id: str, amount_minor: int, currency: str, outcome: str):
    """Insert the unique PaymentEvent (raises IntegrityError if this key was applied before)."""
    with transaction.atomic():
        return PaymentEvent.objects.create(
            key=key,
            order=order,
            provider=provider,
            event_id=event_id,
            amount_minor=amount_minor,
            currency=currency.upper(),
            outcome=outcome,
        )


def payment_confirm(
    *,
    provider: str,
    reference: str,
    amount_minor: int,
    currency: str,
    event_id: str = "",
    payment_id: str = "",
    order_id: int | None = None,
    tax_minor: int | None = None,
    now: dt.datetime | None = None,
    paid_at: dt.datetime | None = None,
) -> PaymentOutcome:
    """Apply "payment succeeded" for the checkout `reference` (amount in minor units, ISO currency).

    Finds the order by `order_id` or by its payment reference. Marks it paid and
    converts its hold exactly once; applies the late-payment rule (module
    docstring) when the hold had lapsed by `paid_at` (when the buyer paid, aware;
    default `now`, the time the event is applied). Returns the outcome; never raises for
    a duplicate. An amount or currency that differs from the order's total is
    recorded as `mismatch` and left for staff.

    `tax_minor` (minor units) is the tax the provider computed (Stripe Tax: the Checkout Session's
    `total_details.amount_tax`); when given, it is stored on the unpaid order first, and with
    tax-exclusive prices it is added to the total the amount is checked against
    (docs/shipping-tax.md).
    """
    now = now or timezone.now()
    paid_at = min(paid_at or now, now)
    order = (
        Order.objects.filter(pk=order_id).first()
        if order_id
        else Order.objects.filter(payment_reference=reference, payment_provider=provider).first()
    )
    if order is None:
        logger.warning("payment for unknown order: %s %s", provider, reference)
        return PaymentOutcome("ignored", None)
    key = f"{provider}:paid:{reference}"
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            claim = functools.partial(
                _claim,
                key=key,
                order=order,
                provider=provider,
                event_id=event_id,
                amount_minor=amount_minor,
                currency=currency,
            )
            if tax_minor is not None and order.status in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT):
                _provider_tax_store(order=order, tax_minor=tax_minor)
            if amount_minor != order.total_minor or currency.upper() != order.currency:
                claim(outcome="mismatch")
                logger.error("payment amount mismatch on %s: %s %s", order.number, amount_minor, currency)
                return PaymentOutcome("mismatch", order.pk)
            if order.status == Order.Status.PAID:
                claim(outcome="ignored")
                return PaymentOutcome("ignored", order.pk)
            if payment_id:
                order.provider_payment_id = payment_id
                order.save(update_fields=["provider_payment_id"])
            hold = Hold.objects.select_for_update().get(pk=order.hold_id)
            if hold.status == Hold.Status.ACTIVE and hold.expires_at <= paid_at:
                # Lapsed, but no worker expired it yet: do what the sweeper would, then apply the rule.
                hold_expire_locked(hold=hold, now=now)
            in_time = hold.status == Hold.Status.ACTIVE
            if hold_convert(hold=hold, now=now, allow_lapsed=True):
                outcome = "paid" if in_time else "paid_late"
                claim(outcome=outcome)
                if not in_time:
                    logger.info(
                        "order %s paid after its hold lapsed; honoured from stock at the price paid (%s %s, step %s)",
                        order.number,
                        hold.unit_price_minor,
                        hold.currency,
                        hold.price_step,
                    )
                order.status = Order.Status.PAID
                order.paid_at = now
                order.paid_late = not in_time
                order.save(update_fields=["status", "paid_at", "paid_late"])
                receipts.receipt_issue(order=order, now=now)  # attached to the confirmation below
                notifications.order_confirmed_on_commit(order_id=order.pk)
                webhooks.order_paid_emit(order=order)
                funnel.capture_purchase(order=order, now=now)
                return PaymentOutcome(outcome, order.pk)
            # Late and sold out: refund in full, tell the buyer.
            claim(outcome="refunded_late")
            order.status = Order.Status.PAID  # money was taken; the refund below moves it to refunded
            order.paid_at = now
            order.save(update_fields=["status", "paid_at"])
            receipts.receipt_issue(order=order, now=now)  # money was taken: receipt now, credit note on refund
            refund = Refund.objects.create(
                order=order,
                amount_minor=order.total_minor,
                currency=order.currency,
                reason=Refund.Reason.LATE_PAYMENT,
            )
            notifications.refund_on_commit(refund_id=refund.pk)
            notifications.late_payment_refunded_on_commit(order_id=order.pk)
            return PaymentOutcome("refunded_late", order.pk)
    except IntegrityError:
        return PaymentOutcome("duplicate", order.pk)


def _provider_tax_store(*, order: Order, tax_minor: int) -> None:
    """Store the provider's tax on the locked, unpaid order; tax-exclusive totals grow by it."""
    order.tax_minor = max(int(tax_minor), 0)
    goods_and_shipping = order.subtotal_minor - order.discount_minor + order.shipping_minor
    order.total_minor = goods_and_shipping + (0 if order.tax_included else order.tax_minor)
    order.save(update_fields=["tax_minor", "total_minor"])


def checkout_expire(
    *, provider: str, reference: str, event_id: str = "", now: dt.datetime | None = None
) -> PaymentOutcome:
    """Apply "hosted checkout expired/abandoned": release the hold, void the coupon, cancel the order.

    Exactly once per reference; a paid order is left alone (out-of-order delivery).
    """
    now = now or timezone.now()
    order = Order.objects.filter(payment_reference=reference, payment_provider=provider).first()
    if order is None:
        return PaymentOutcome("ignored", None)
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order.pk)
            if order.status != Order.Status.PENDING:
                _claim(
                    key=f"{provider}:expired:{reference}",
                    order=order,
                    provider=provider,
                    event_id=event_id,
                    amount_minor=0,
                    currency=order.currency,
                    outcome="ignored",
                )
                return PaymentOutcome("ignored", order.pk)
            _claim(
                key=f"{provider}:expired:{reference}",
                order=order,
                provider=provider,
                event_id=event_id,
                amount_minor=0,
                currency=order.currency,
                outcome="released",
            )
            order_release_locked(order=order, now=now)
            return PaymentOutcome("released", order.pk)
    except IntegrityError:
        return PaymentOutcome("duplicate", order.pk)


def pending_checkouts_with_lapsed_holds(*, now: dt.datetime | None = None) -> list[int]:
    """Ids of pending provider orders whose hold has ended: their hosted checkout must be expired."""
    now = now or timezone.now()
    return list(
        Order.objects.filter(status=Order.Status.PENDING)
        .exclude(payment_reference="")
        .filter(hold__status__in=[Hold.Status.EXPIRED, Hold.Status.RELEASED])
        .values_list("pk", flat=True)
    )
