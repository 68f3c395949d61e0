"""Memberships on Stripe Billing: the Stripe API calls and how we read Stripe's subscription objects.

Calls (the stripe library, `commerce.payments.stripe_checkout._client_kwargs` for the key and a local
stand-in host in tests):

- `checkout_session_for_membership`: a Checkout Session in `mode=subscription` (one line: the plan's
  recurring Price), `customer_email`, `metadata.membership_id` on the session *and* on the subscription
  (`subscription_data.metadata`), so every later subscription event names its membership.
- `subscription_cancel_at_period_end_set`: `POST /v1/subscriptions/{id}` with `cancel_at_period_end`.
- `subscription_cancel`: `DELETE /v1/subscriptions/{id}` (ends it now, no proration).
- `billing_portal_session_create`: `POST /v1/billing_portal/sessions` (the customer portal, return to /members/me/).
- `plan_stripe_setup`: a Product and a recurring Price (`unit_amount` in Stripe's unit, `recurring.interval`).

Reading objects (`SubscriptionState.from_stripe`, `invoice_*`): Stripe API versions since 2025-03-31
moved `current_period_start/end` from the subscription onto its items (`items.data[0]`): both are read.
Invoices name their subscription as `subscription` (older versions) or
`parent.subscription_details.subscription` (newer); the service period is the subscription line's
`period` (`lines.data[].period`), not the invoice's own `period_start/end` (the usage period before it).
All times are Unix seconds (UTC).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import stripe
from django.conf import settings

from ..exceptions import PaymentProviderError
from ..money import MoneyError, stripe_amount
from ..payments.stripe_checkout import _client_kwargs

# Stripe subscription status → Membership.Status (docs/memberships.md, "States")
STATUS_MAP = {
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "ended",
    "incomplete_expired": "ended",
    "incomplete": "incomplete",
    "paused": "past_due",
}


def from_unix(value) -> dt.datetime | None:
    """Unix seconds → aware UTC datetime (None for missing/0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)


@dataclass(frozen=True)
class SubscriptionState:
    """What a Stripe subscription object says about a membership (times aware UTC or None)."""

    subscription_id: str
    customer_id: str
    status: str  # ours: incomplete | active | past_due | ended
    cancel_at_period_end: bool
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    ended_at: dt.datetime | None
    membership_id: int | None

    @classmethod
    def from_stripe(cls, obj) -> SubscriptionState:
        items = ((obj.get("items") or {}).get("data") or [{}])[0] or {}
        start = obj.get("current_period_start") or items.get("current_period_start")
        end = obj.get("current_period_end") or items.get("current_period_end")
        membership_id = str((obj.get("metadata") or {}).get("membership_id") or "")
        customer = obj.get("customer") or ""
        return cls(
            subscription_id=obj.get("id") or "",
            customer_id=customer if isinstance(customer, str) else (customer.get("id") or ""),
            status=STATUS_MAP.get(obj.get("status") or "", "past_due"),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
            current_period_start=from_unix(start),
            current_period_end=from_unix(end),
            ended_at=from_unix(obj.get("ended_at")),
            membership_id=int(membership_id) if membership_id.isdecimal() else None,
        )


def invoice_subscription_id(invoice) -> str:
    """The subscription an invoice bills: `subscription` or `parent.subscription_details.subscription`."""
    sub = invoice.get("subscription")
    if not sub:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        sub = details.get("subscription")
    if isinstance(sub, dict):
        sub = sub.get("id")
    return sub or ""


def invoice_membership_id(invoice) -> int | None:
    """`metadata.membership_id` copied onto the invoice's subscription details (newer API versions)."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    value = str((details.get("metadata") or {}).get("membership_id") or "")
    return int(value) if value.isdecimal() else None


def invoice_period(invoice) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The service period the invoice pays for: the widest `period` of its lines (UTC), else the invoice's."""
    starts, ends = [], []
    for line in (invoice.get("lines") or {}).get("data") or []:
        period = line.get("period") or {}
        if period.get("end"):
            starts.append(period.get("start") or 0)
            ends.append(period["end"])
    if ends:
        return from_unix(min(starts)), from_unix(max(ends))
    return from_unix(invoice.get("period_start")), from_unix(invoice.get("period_end"))


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs, **_client_kwargs())
    except stripe.StripeError as exc:
        raise PaymentProviderError(f"Stripe refused: {exc.user_message or exc}") from exc


def checkout_session_for_membership(*, membership, success_url: str, cancel_url: str) -> dict:
    """Create the subscription-mode Checkout Session (idempotent per membership); returns {"id", "url"}.

    Raises PaymentProviderError when the plan has no Stripe Price or Stripe refuses/cannot be reached.
    """
    plan = membership.plan
    if not plan.stripe_price_id:
        raise PaymentProviderError(
            f"The plan {plan.name!r} has no Stripe Price yet: staff run “Create Stripe product and price”."
        )
    metadata = {"membership_id": str(membership.pk), "plan": plan.slug}
    session = _call(
        stripe.checkout.Session.create,
        mode="subscription",
        line_items=[{"price": plan.stripe_price_id, "quantity": 1}],
        customer_email=membership.customer.email,
        client_reference_id=f"membership-{membership.pk}",
        metadata=metadata,
        subscription_data={"metadata": metadata},
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=f"membership-{membership.pk}-checkout",
    )
    return {"id": session["id"], "url": session["url"]}


def checkout_session_retrieve(session_id: str) -> dict:
    """The Checkout Session as Stripe has it now (status, subscription, customer, metadata)."""
    return _call(stripe.checkout.Session.retrieve, session_id)


def subscription_cancel_at_period_end_set(*, subscription_id: str, value: bool) -> SubscriptionState:
    """Ask Stripe to cancel (True) or keep renewing (False) at the period's end; returns the new state."""
    return SubscriptionState.from_stripe(_call(stripe.Subscription.modify, subscription_id, cancel_at_period_end=value))


def subscription_cancel(*, subscription_id: str) -> SubscriptionState:
    """End the subscription now at Stripe (no further invoices)."""
    return SubscriptionState.from_stripe(_call(stripe.Subscription.cancel, subscription_id))


def billing_portal_session_create(*, customer_id: str, return_url: str) -> str:
    """A Stripe customer portal session for the member; returns its URL (valid for a few minutes)."""
    return _call(stripe.billing_portal.Session.create, customer=customer_id, return_url=return_url)["url"]


def plan_stripe_setup(*, plan) -> tuple[str, str]:
    """Create a Product and a recurring Price for `plan` (idempotent per plan and amount); returns their ids."""
    try:
        unit_amount = stripe_amount(plan.price_minor, plan.currency)
    except MoneyError as exc:
        raise PaymentProviderError(f"Stripe refuses this price: {exc}.") from exc
    product_id = plan.stripe_product_id
    if not product_id:
        product = _call(
            stripe.Product.create,
            name=plan.name,
            metadata={"plan": plan.slug},
            idempotency_key=f"plan-{plan.pk}-product",
        )
        product_id = product["id"]
    price = _call(
        stripe.Price.create,
        product=product_id,
        currency=plan.currency.lower(),
        unit_amount=unit_amount,
        recurring={"interval": plan.interval},
        metadata={"plan": plan.slug},
        idempotency_key=f"plan-{plan.pk}-price-{plan.interval}-{plan.currency}-{unit_amount}",
    )
    return product_id, price["id"]


def stripe_configured() -> bool:
    """True when the shop sells through Stripe (settings.PAYMENT_PROVIDER == "stripe")."""
    return getattr(settings, "PAYMENT_PROVIDER", "manual") == "stripe"
