"""Stripe webhooks, received and verified by dj-stripe, applied by our payment services.

dj-stripe's endpoint (`/stripe/webhook/<uuid>/`, one WebhookEndpoint row holding
the signing secret) stores every delivery as a WebhookEventTrigger and verifies
the `Stripe-Signature` header on the raw body. Once a delivery is verified,
dj-stripe sends `webhook_pre_process`; our receiver (`on_webhook_pre_process`,
connected in CommerceConfig.ready) applies checkout events from the verified
payload, exactly once by unique business keys, inside dj-stripe's transaction.
dj-stripe then mirrors the event into its own tables; if anything fails the
whole delivery rolls back and Stripe retries it, which is safe because applying
an event is idempotent.

Events used: checkout.session.completed (paid unless payment_status is
"unpaid", e.g. bank debits), checkout.session.async_payment_succeeded,
checkout.session.expired; for refunds (ours and those made in the Stripe
dashboard) refund.created, refund.updated, refund.failed and the legacy
charge.refund.updated (the refund object itself) and charge.refunded (the
charge: its embedded refund list when complete, else the PaymentIntent's
refunds fetched from Stripe). Refund states are applied forward only and
exactly once by commerce.services.refunds, whatever the order of arrival.
Memberships (docs/memberships.md): customer.subscription.created/updated/deleted, invoice.paid,
invoice.payment_failed and subscription-mode checkout.session.* go to
commerce.memberships.services_billing.membership_event_apply (exactly once, newest state wins).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from ..memberships.services_billing import is_membership_event, membership_event_apply
from ..services.payments import checkout_expire, payment_confirm
from ..services.refunds import payment_refunds_sync, refund_sync
from .stripe_checkout import our_amount, provider_refund

REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}

logger = logging.getLogger(__name__)


def apply_event(payload: dict) -> str | None:
    """Apply one verified Stripe event payload; returns the outcome or None when not ours."""
    event_type = payload.get("type", "")
    obj = (payload.get("data") or {}).get("object") or {}
    if is_membership_event(payload):  # subscriptions, their invoices, subscription-mode checkouts
        return membership_event_apply(payload=payload, now=timezone.now())
    if event_type in REFUND_EVENTS and obj.get("object") == "refund" and obj.get("id"):
        return refund_sync(provider="stripe", state=provider_refund(obj), event_id=payload.get("id", "")).outcome
    if event_type == "charge.refunded" and obj.get("object") == "charge":
        return _charge_refunded(obj, event_id=payload.get("id", ""))
    if obj.get("object") != "checkout.session":
        return None
    reference = obj.get("id", "")
    order_id = (obj.get("metadata") or {}).get("order_id")
    if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if event_type == "checkout.session.completed" and obj.get("payment_status") == "unpaid":
            return "awaiting_async_payment"
        result = payment_confirm(
            provider="stripe",
            reference=reference,
            amount_minor=our_amount(obj.get("amount_total"), obj.get("currency")),
            currency=obj.get("currency") or "",
            event_id=payload.get("id", ""),
            payment_id=obj.get("payment_intent") or "",
            order_id=int(order_id) if str(order_id or "").isdecimal() else None,
            tax_minor=_stripe_tax(obj),
            paid_at=_paid_at(payload),
        )
        return result.outcome
    if event_type == "checkout.session.expired":
        return checkout_expire(provider="stripe", reference=reference, event_id=payload.get("id", "")).outcome
    return None


def _stripe_tax(session: dict) -> int | None:
    """The tax Stripe Tax computed for the session (`total_details.amount_tax`), None without automatic tax."""
    if not (session.get("automatic_tax") or {}).get("enabled"):
        return None
    amount_tax = int((session.get("total_details") or {}).get("amount_tax") or 0)
    return our_amount(amount_tax, session.get("currency")) if amount_tax else 0
def _paid_at(payload: dict) -> dt.datetime:
    """When the buyer paid: the event's `created` (Unix seconds, UTC), never later than now.

    The late-payment rule compares it with the hold's expiry, so a webhook delivered late for
    a payment made in time is still in time, and one made after the hold lapsed is late even
    when no worker has expired the hold yet (commerce.services.payments).
    """
    now = timezone.now()
    created = payload.get("created")
    if isinstance(created, int | float) and created > 0:
        return min(dt.datetime.fromtimestamp(created, tz=dt.UTC), now)
    return now


def _charge_refunded(charge: dict, *, event_id: str) -> str:
    """Apply every refund of the charge's PaymentIntent (embedded list if complete, else fetched)."""
    embedded = charge.get("refunds") or {}
    data = embedded.get("data") or []
    states = [provider_refund(obj) for obj in data] if data and not embedded.get("has_more") else None
    outcomes = payment_refunds_sync(
        provider="stripe", payment_id=charge.get("payment_intent") or "", states=states, event_id=event_id
    )
    return ",".join(o.outcome for o in outcomes) or "ignored"


def on_webhook_pre_process(sender, instance, **kwargs) -> None:
    """dj-stripe `webhook_pre_process` receiver: `instance` is the verified WebhookEventTrigger."""
    outcome = apply_event(instance.json_body)
    if outcome:
        logger.info("stripe %s %s → %s", instance.json_body.get("type"), instance.json_body.get("id"), outcome)
