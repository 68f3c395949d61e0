"""Outgoing partner webhooks: signed event notifications, delivered through the outbox.

Events: `order.paid`, `pickup.checked_in`, `sample.shipped`. Each goes to the
partners that own the object (see `*_partner_ids` below; the pop-up's pickup
partner, the partner whose API created a sample request) and that set a
webhook URL. The event is written by `partner_event_emit` in the transaction
that made the change (one outbox row per partner), so it is sent even if a
worker dies, and retried with backoff until the partner answers 2xx.

Request: `POST <webhook_url>`, body JSON
`{"id": "evt_…", "type": "order.paid", "created": "<ISO 8601 UTC>", "data": {…}}`,
headers `Micromoments-Event-Id` (same as `id`; stable across retries: dedupe on it),
`Micromoments-Event-Type`, and `Micromoments-Signature: t=<unix seconds>,v1=<hex>`
where v1 = HMAC-SHA256(partner's webhook secret, "<t>.<raw body>"). Receivers
verify the signature over the raw body, reject a `t` older than 5 minutes, and
ignore an event id they have already processed (docs/outbox.md has the code).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable

import requests
from django.conf import settings
from django.utils import timezone

from ..models import Order, Partner, PickupBooking
from .outbox import Delivery, PermanentFailure, outbox_enqueue

EVENTS = ("order.paid", "pickup.checked_in", "sample.shipped")
SIGNATURE_HEADER = "Micromoments-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


class WebhookFailed(Exception):
    """The partner's endpoint did not answer 2xx (retried with backoff)."""


def webhook_signature(*, secret: str, body: bytes, timestamp: int) -> str:
    """The `Micromoments-Signature` header value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_signature_verify(
    *, secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does (also used by our tests): constant-time compare, reject stale timestamps."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def partner_event_emit(*, event: str, subject: str, data: dict, partner_ids: Iterable[int]) -> int:
    """Write `event` about `subject` (e.g. "order:42") for each listed partner with a webhook URL.

    Call inside the transaction that made the change. Returns how many rows were written
    (a repeated event for the same subject and partner is written once).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown partner event {event!r}")
    ids = {pk for pk in partner_ids if pk}
    if not ids:
        return 0
    created = timezone.now().isoformat().replace("+00:00", "Z")
    written = 0
    for partner_id in Partner.objects.filter(pk__in=ids, is_active=True).exclude(webhook_url="").values_list(
        "pk", flat=True
    ):
        key = f"webhook:{event}:{subject}:p{partner_id}"
        body = {"type": event, "created": created, "data": data}
        written += outbox_enqueue(kind="partner_webhook", key=key, payload={"partner_id": partner_id, "event": body})
    return written


def webhook_send(delivery: Delivery) -> None:
    """Outbox sender: POST the signed event; raise on anything but 2xx so the outbox retries."""
    partner = Partner.objects.filter(pk=delivery.payload["partner_id"]).first()
    if partner is None or not partner.is_active or not partner.webhook_url:
        raise PermanentFailure("the partner is gone, inactive, or has no webhook URL any more")
    event = {"id": delivery.event_id, **delivery.payload["event"]}
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Micromoments-Webhooks/1",
        "Micromoments-Event-Id": event["id"],
        "Micromoments-Event-Type": event["type"],
        SIGNATURE_HEADER: webhook_signature(secret=partner.webhook_secret, body=body, timestamp=int(time.time())),
    }
    response = requests.post(
        partner.webhook_url,
        data=body,
        headers=headers,
        timeout=float(getattr(settings, "OUTBOX_WEBHOOK_TIMEOUT_SECONDS", 10)),
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(f"{partner.webhook_url} answered HTTP {response.status_code}")


# --- who owns what (one place; extend when orders get an owning partner) ---------------


def order_partner_ids(*, order_id: int) -> set[int]:
    """Partners an order's events go to: the partner that placed it through the API (its owner,
    commerce.access) and the pickup partner of each pop-up it is collected at."""
    owners = set(Order.objects.filter(pk=order_id, partner__isnull=False).values_list("partner_id", flat=True))
    return owners | set(
        PickupBooking.objects.filter(order_id=order_id, slot__popup__partner__isnull=False).values_list(
            "slot__popup__partner_id", flat=True
        )
    )


def order_paid_emit(*, order: Order) -> int:
    """`order.paid` for a paid order (inside the paying transaction)."""
    data = {
        "order": {
            "number": order.number,
            "status": order.status,
            "total_minor": order.total_minor,
            "currency": order.currency,
            "paid_at": order.paid_at.isoformat() if order.paid_at else None,
            "lines": [
                {"sku": line.sku.code if line.sku_id else None, "quantity": line.quantity, "total_minor": line.total_minor}
                for line in order.lines.select_related("sku").order_by("pk")
            ],
        }
    }
    return partner_event_emit(
        event="order.paid", subject=f"order:{order.pk}", data=data, partner_ids=order_partner_ids(order_id=order.pk)
    )


def pickup_checked_in_emit(*, booking: PickupBooking) -> int:
    """`pickup.checked_in` for a booking just picked up (inside the check-in transaction)."""
    booking = PickupBooking.objects.select_related("order", "slot__popup").get(pk=booking.pk)
    data = {
        "booking": {
            "order_number": booking.order.number,
            "popup_id": booking.slot.popup_id,
            "slot_id": booking.slot_id,
            "checked_in_at": booking.checked_in_at.isoformat() if booking.checked_in_at else None,
        }
    }
    return partner_event_emit(
        event="pickup.checked_in",
        subject=f"booking:{booking.pk}",
        data=data,
        partner_ids=[booking.slot.popup.partner_id],
    )
