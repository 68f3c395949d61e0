"""Buyer e-mails, sent by django-q2 tasks after the transaction that earned them commits.

Each trigger is called from the one transaction that changed the order's state
(guarded by the state machine and unique payment keys), so each e-mail is sent
exactly once per state change.
"""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task


def order_confirmed_on_commit(*, order_id: int) -> None:
    """Queue the order confirmation e-mail once the current transaction commits."""
    transaction.on_commit(lambda: async_task("commerce.tasks.send_order_email", order_id, "confirmed"))


def late_payment_refunded_on_commit(*, order_id: int) -> None:
    """Queue the "paid too late, sold out, refunded" e-mail once the transaction commits."""
    transaction.on_commit(lambda: async_task("commerce.tasks.send_order_email", order_id, "late_refund"))


def refund_on_commit(*, refund_id: int) -> None:
    """Queue the refund to the provider (it runs outside the database transaction)."""
    transaction.on_commit(lambda: async_task("commerce.tasks.refund_submit_task", refund_id))
