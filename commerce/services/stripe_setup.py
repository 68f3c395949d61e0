"""Registering Stripe webhook endpoints with dj-stripe (signing secret stored in its WebhookEndpoint)."""

from __future__ import annotations

from django.urls import reverse
from djstripe.models import WebhookEndpoint

EVENTS = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.expired",
    # refunds, ours and those made in the Stripe dashboard (commerce.services.refunds)
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.refund.updated",
    # memberships on Stripe Billing (docs/memberships.md)
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
]


def webhook_endpoint_register(*, secret: str, base_url: str, livemode: bool = False) -> tuple[WebhookEndpoint, str]:
    """Create or update the single local endpoint row; returns (endpoint, full URL to give Stripe)."""
    endpoint = WebhookEndpoint.objects.filter(livemode=livemode, id__startswith="we_local_").first()
    if endpoint is None:
        endpoint = WebhookEndpoint(id=f"we_local_{'live' if livemode else 'test'}", livemode=livemode)
    endpoint.secret = secret
    endpoint.enabled_events = EVENTS
    endpoint.status = "enabled"
    endpoint.url = base_url.rstrip("/") + reverse("djstripe:djstripe_webhook_by_uuid", args=[endpoint.djstripe_uuid])
    endpoint.api_version = ""
    endpoint.save()
    return endpoint, endpoint.url
