"""The `stripe` provider: Stripe Checkout (hosted page with Apple Pay, Google Pay, Link and cards).

Sessions are created with the stripe library; dj-stripe receives and verifies
the webhooks (see commerce.payments.stripe_webhooks). Amounts are sent in the
currency's minor unit, exactly the order's stored totals: one Checkout line per
order line, quantity 1, `unit_amount` = the line total after discount, so
Stripe charges precisely `order.total_minor`.

Stripe Checkout Sessions live at least 30 minutes, holds usually less: the
session's `expires_at` is max(hold expiry, now + 30 min + 1 min), and when the
hold lapses first the per-minute task expires the session through the API
(`Session.expire`). A payment that still slips through follows the late-payment
rule in commerce.services.payments.
"""

from __future__ import annotations

import datetime as dt

import stripe
from django.conf import settings
from django.urls import reverse

from ..exceptions import PaymentProviderError
from . import register

STRIPE_MIN_SESSION_SECONDS = 30 * 60


def _api_key() -> str:
    return settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY


def _client_kwargs() -> dict:
    kwargs = {"api_key": _api_key()}
    host = getattr(settings, "STRIPE_API_HOST", None)
    if host:
        stripe.api_base = host  # a local stand-in (tests, stripe-mock)
    return kwargs


class StripeCheckoutProvider:
    name = "stripe"
    label = "Card, Apple Pay, Google Pay or Link (Stripe)"
    confirms_immediately = False

    def begin(self, *, order, hold, now: dt.datetime) -> None:
        """Create the Checkout Session (idempotent per order) and store its id and URL on the order."""
        expires_at = max(hold.expires_at, now + dt.timedelta(seconds=STRIPE_MIN_SESSION_SECONDS + 60))
        success = settings.SITE_URL + reverse("commerce:order", kwargs={"token": order.token})
        line_items = [
            {
                "quantity": 1,
                "price_data": {
                    "currency": line.currency.lower(),
                    "unit_amount": line.total_minor,
                    "product_data": {"name": f"{line.quantity} × {line.title}"},
                },
            }
            for line in order.lines.all()
        ]
        try:
            session = stripe.checkout.Session.create(
                mode="payment",
                line_items=line_items,
                client_reference_id=order.number,
                customer_email=order.customer.email,
                metadata={"order_id": str(order.pk), "order_number": order.number},
                payment_intent_data={"metadata": {"order_id": str(order.pk), "order_number": order.number}},
                expires_at=int(expires_at.timestamp()),
                success_url=success + "?paid=1",
                cancel_url=success + "?cancelled=1",
                idempotency_key=f"order-{order.pk}-checkout",
                **_client_kwargs(),
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"Stripe refused the checkout: {exc.user_message or exc}") from exc
        order.payment_reference = session["id"]
        order.payment_url = session["url"]
        order.save(update_fields=["payment_reference", "payment_url"])

    def cancel(self, *, order) -> bool:
        """Expire the Checkout Session. False if Stripe says it is already complete (paid)."""
        try:
            session = stripe.checkout.Session.expire(order.payment_reference, **_client_kwargs())
        except stripe.InvalidRequestError:
            session = stripe.checkout.Session.retrieve(order.payment_reference, **_client_kwargs())
        return session["status"] == "expired"

    def refund(self, *, refund) -> str:
        """Refund `refund.amount_minor` on the order's PaymentIntent; returns the Stripe refund id."""
        order = refund.order
        result = stripe.Refund.create(
            payment_intent=order.provider_payment_id,
            amount=refund.amount_minor,
            reason="requested_by_customer",
            metadata={"order_number": order.number, "refund_id": str(refund.pk), "reason": refund.reason},
            idempotency_key=f"refund-{refund.pk}",
            **_client_kwargs(),
        )
        return result["id"]


register(StripeCheckoutProvider())
