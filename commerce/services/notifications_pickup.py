"""Pickup e-mails (pass, rescheduled pass, reminder, no-show message), written to the outbox."""

from __future__ import annotations

from ..models import PickupBooking
from .outbox import outbox_enqueue


def pickup_email_on_commit(*, booking_id: int, kind: str, message: str = "") -> None:
    """Write one pickup e-mail (`kind` in commerce.tasks.PICKUP_EMAILS) in the current transaction.

    Dedupe: the pass and the no-show message once per booking; the rescheduled pass
    and the reminder once per pass version (a reschedule re-arms the reminder).
    """
    key = f"pickup-email:{kind}:{booking_id}"
    if kind in ("rescheduled", "reminder"):
        version = PickupBooking.objects.filter(pk=booking_id).values_list("pass_version", flat=True).get()
        key += f":v{version}"
    payload = {"booking_id": booking_id, "kind": kind}
    if message:
        payload["message"] = message
    outbox_enqueue(kind="pickup_email", key=key, payload=payload)
