"""Buyer e-mails and refund submission, written to the outbox in the transaction that earned them.

Each trigger is called from the one transaction that changed the order's state
(guarded by the state machine and unique payment keys) and writes an outbox row
with a dedupe key, so each e-mail is decided exactly once and sent after commit
by the outbox drain (commerce.services.outbox), surviving killed workers. The
names keep their historical `_on_commit` suffix: the send happens after commit.
"""

from __future__ import annotations

from ..models import PickupBooking
from .outbox import outbox_enqueue


def order_confirmed_on_commit(*, order_id: int) -> None:
    """The order confirmation e-mail, plus the pickup pass of each booking on the order."""
    outbox_enqueue(
        kind="order_email", key=f"order-email:confirmed:{order_id}", payload={"order_id": order_id, "kind": "confirmed"}
    )
    for booking_id in PickupBooking.objects.filter(order_id=order_id).values_list("pk", flat=True):
        outbox_enqueue(
            kind="pickup_email",
            key=f"pickup-email:pass:{booking_id}",
            payload={"booking_id": booking_id, "kind": "pass"},
        )


def late_payment_refunded_on_commit(*, order_id: int) -> None:
    """The "paid too late, sold out, refunded" e-mail."""
    outbox_enqueue(
        kind="order_email", key=f"order-email:late_refund:{order_id}", payload={"order_id": order_id, "kind": "late_refund"}
    )


def refund_on_commit(*, refund_id: int) -> None:
    """Submit a pending refund to the provider (runs outside the database transaction, after commit).

    The provider call carries the idempotency key `refund-<id>`, so a retry after a
    killed worker returns the refund Stripe already made instead of making another.
    """
    outbox_enqueue(kind="refund_submit", key=f"refund:submit:{refund_id}", payload={"refund_id": refund_id})
