"""The `stripe` provider: Stripe Checkout (hosted page with Apple Pay, Google Pay, Link and cards).

Sessions are created with the stripe library; dj-stripe receives and verifies
the webhooks (see commerce.payments.stripe_webhooks). Amounts are the order's
stored totals converted to Stripe's unit by commerce.money.stripe_amount (JPY and
the other zero-decimal currencies in major units, KWD and the other three-decimal
currencies in thousandths ending in 0; docs/money.md): one Checkout line per
order line, quantity 1, `unit_amount` = the line total after discount (the coupon
is already in it, rounded per line by commerce.pricing), plus the order's
shipping as a fixed-amount shipping option, so Stripe charges precisely
`order.total_minor` (checked before the session is created).

Shipping (docs/shipping-tax.md): we collect and validate the address ourselves on the cart page,
so `shipping_address_collection` is not sent; the chosen rate goes as one `shipping_options` entry
with `shipping_rate_data` (`fixed_amount` = `order.shipping_minor` in the currency's minor unit,
`display_name` = the rate's name), and the address goes on the PaymentIntent
(`payment_intent_data.shipping`) so it shows in the Stripe dashboard.

Tax: with `STRIPE_AUTOMATIC_TAX` on, `automatic_tax={"enabled": True}` and every price carries
`tax_behavior` ("inclusive" / "exclusive" from the order's `tax_included`); Checkout collects the
billing address it needs and Stripe computes the tax; the webhook stores
`total_details.amount_tax` on the order. Without it, tax comes from our table (commerce.tax): it is
inside the line amounts when prices include tax, or sent as one more line ("Tax") when they do not.

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
from ..money import MoneyError, from_stripe_amount, stripe_amount
from . import ProviderRefund, ProviderUnavailable, register

STRIPE_MIN_SESSION_SECONDS = 30 * 60

# Stripe refund statuses → ours; `requires_action` is still in flight.
REFUND_STATUSES = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}
# Outcome unknown (network, timeout, Stripe 5xx, rate limit): retry later, never mark failed.
TRANSIENT_ERRORS = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


def _refund_amount(refund) -> int:
    """The refund's amount in Stripe's unit; a KWD amount not ending in 0 is refused here, not by Stripe."""
    try:
        return stripe_amount(refund.amount_minor, refund.currency)
    except MoneyError as exc:
        raise PaymentProviderError(f"Stripe refuses this refund amount: {exc}.") from exc


def refund_idempotency_key(refund_id: int) -> str:
    """The one Idempotency-Key for a local refund: every (re)submission of refund N sends the same key."""
    return f"refund-{refund_id}"


def our_amount(value, currency) -> int:
    """Stripe's integer amount → our minor units (ISK and HUF differ, docs/money.md); unknown currency: as is."""
    try:
        return from_stripe_amount(int(value or 0), currency or "")
    except MoneyError:
        return int(value or 0)


def provider_refund(obj) -> ProviderRefund:
    """Our view of a Stripe Refund object (a dict from a webhook payload or a StripeObject from the API)."""
    metadata = obj.get("metadata") or {}
    local_id = str(metadata.get("refund_id") or "")
    return ProviderRefund(
        reference=obj["id"],
        status=REFUND_STATUSES.get(obj.get("status") or "", "pending"),
        amount_minor=our_amount(obj.get("amount"), obj.get("currency")),
        currency=(obj.get("currency") or "").upper(),
        payment_id=obj.get("payment_intent") or "",
        local_id=int(local_id) if local_id.isdecimal() else None,
        reason=obj.get("reason") or "",
        failure_reason=obj.get("failure_reason") or "",
        created=int(obj.get("created") or 0),
    )


def _stripe_call(fn, *args, **kwargs):
    """Call the stripe library; unknown outcomes raise ProviderUnavailable, refusals PaymentProviderError."""
    try:
        return fn(*args, **kwargs)
    except TRANSIENT_ERRORS as exc:
        raise ProviderUnavailable(f"Stripe did not answer: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        raise PaymentProviderError(f"Stripe refused: {exc.user_message or exc}") from exc


def _api_key() -> str:
    return settings.STRIPE_LIVE_SECRET_KEY if settings.STRIPE_LIVE_MODE else settings.STRIPE_TEST_SECRET_KEY


def _client_kwargs() -> dict:
    kwargs = {"api_key": _api_key()}
    host = getattr(settings, "STRIPE_API_HOST", None)
    if host:
        stripe.api_base = host  # a local stand-in (tests, stripe-mock)
    return kwargs


def automatic_tax_on() -> bool:
    """Stripe Tax computes tax at Checkout (settings.STRIPE_AUTOMATIC_TAX)."""
    return bool(getattr(settings, "STRIPE_AUTOMATIC_TAX", False))


def checkout_amounts(order) -> dict:
    """Checkout Session parameters carrying the money: `line_items`, `shipping_options`, `automatic_tax`.

    Every amount is in Stripe's unit (commerce.money.stripe_amount). One line per order line
    (its total after discount); tax added on top of prices from our table (commerce.tax) as one
    more "Tax" line, or, with Stripe Tax on, `automatic_tax` and a `tax_behavior` on every price
    (Stripe adds exclusive tax itself); the order's shipping rate as one fixed-amount shipping
    option. Raises PaymentProviderError if an amount is one Stripe refuses (e.g. a KWD price not
    ending in 0 typed by staff) or if the amounts do not add up to the order's total.
    """
    currency = order.currency
    behavior = "inclusive" if order.tax_included else "exclusive"
    stripe_tax = automatic_tax_on()
    try:
        line_items = [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": stripe_amount(line.total_minor, currency),
                    "product_data": {"name": f"{line.quantity} × {line.title}"},
                },
            }
            for line in order.lines.all()
        ]
        params: dict = {"line_items": line_items}
        if stripe_tax:
            params["automatic_tax"] = {"enabled": True}
            for item in line_items:
                item["price_data"]["tax_behavior"] = behavior
        elif order.tax_minor and not order.tax_included:
            line_items.append(
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": stripe_amount(order.tax_minor, currency),
                        "product_data": {"name": "Tax"},
                    },
                }
            )
        sent = sum(item["price_data"]["unit_amount"] for item in line_items)
        if order.shipping_minor or (order.shipping_rate_name and order.shipping_address):
            shipping = stripe_amount(order.shipping_minor, currency)
            sent += shipping
            rate = {
                "type": "fixed_amount",
                "display_name": (order.shipping_rate_name or "Shipping")[:100],
                "fixed_amount": {"amount": shipping, "currency": currency.lower()},
            }
            if stripe_tax:
                rate["tax_behavior"] = behavior
            params["shipping_options"] = [{"shipping_rate_data": rate}]
        # with Stripe Tax, exclusive tax is added by Stripe and is not in what we send
        expected = order.total_minor - (order.tax_minor if stripe_tax and not order.tax_included else 0)
        if sent != stripe_amount(expected, currency):
            raise PaymentProviderError(
                f"Order {order.number}: the amounts sent to Stripe ({sent}) do not add up to its total."
            )
    except MoneyError as exc:
        raise PaymentProviderError(f"This amount cannot be paid by card: {exc}.") from exc
    return params


def _payment_intent_shipping(order) -> dict:
    """`payment_intent_data.shipping` from the order's normalized address (empty for pickup)."""
    address = order.shipping_address or {}
    if not address:
        return {}
    street = (address.get("street_address") or "").splitlines() or [""]
    return {
        "shipping": {
            "name": address.get("name", ""),
            "address": {
                "line1": street[0],
                "line2": " ".join(street[1:]),
                "city": address.get("city", ""),
                "postal_code": address.get("postal_code", ""),
                "state": address.get("country_area", ""),
                "country": address.get("country_code", ""),
            },
        }
    }


class StripeCheckoutProvider:
    name = "stripe"
    label = "Card, Apple Pay, Google Pay or Link (Stripe)"
    confirms_immediately = False

    def begin(self, *, order, hold, now: dt.datetime) -> None:
        """Create the Checkout Session (idempotent per order) and store its id and URL on the order."""
        expires_at = max(hold.expires_at, now + dt.timedelta(seconds=STRIPE_MIN_SESSION_SECONDS + 60))
        success = settings.SITE_URL + reverse("commerce:order", kwargs={"token": order.token})
        amounts = checkout_amounts(order)
        try:
            session = stripe.checkout.Session.create(
                mode="payment",
                **amounts,
                client_reference_id=order.number,
                customer_email=order.customer.email,
                metadata={"order_id": str(order.pk), "order_number": order.number},
                payment_intent_data={
                    "metadata": {"order_id": str(order.pk), "order_number": order.number},
                    **_payment_intent_shipping(order),
                },
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

    def refund(self, *, refund) -> ProviderRefund:
        """Refund `refund.amount_minor` on the order's PaymentIntent (metadata.refund_id = our id).

        Always the same Idempotency-Key per local refund, so a repeated call
        within Stripe's 24 h key lifetime returns the first refund; after that,
        reconciliation looks the refund up (refund_find) before resubmitting.
        """
        order = refund.order
        result = _stripe_call(
            stripe.Refund.create,
            payment_intent=order.provider_payment_id,
            amount=_refund_amount(refund),
            reason="requested_by_customer",
            metadata={"order_number": order.number, "refund_id": str(refund.pk), "reason": refund.reason},
            idempotency_key=refund_idempotency_key(refund.pk),
            **_client_kwargs(),
        )
        return provider_refund(result)

    def refund_find(self, *, refund) -> ProviderRefund | None:
        """Stripe's refund for a local one: by its stored id, else among the PaymentIntent's refunds by metadata."""
        if refund.provider_reference:
            return provider_refund(_stripe_call(stripe.Refund.retrieve, refund.provider_reference, **_client_kwargs()))
        for found in self.refunds_for_payment(payment_id=refund.order.provider_payment_id):
            if found.local_id == refund.pk:
                return found
        return None

    def refunds_for_payment(self, *, payment_id: str) -> list[ProviderRefund]:
        """Every refund of a PaymentIntent (all pages), oldest first."""
        if not payment_id:
            return []
        listed = _stripe_call(stripe.Refund.list, payment_intent=payment_id, limit=100, **_client_kwargs())
        try:
            found = [provider_refund(obj) for obj in listed.auto_paging_iter()]
        except TRANSIENT_ERRORS as exc:
            raise ProviderUnavailable(f"Stripe did not answer: {exc.user_message or exc}") from exc
        return sorted(found, key=lambda r: (r.created, r.reference))


register(StripeCheckoutProvider())
