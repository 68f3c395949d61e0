"""Pickup e-mails (pass, rescheduled pass, reminder, no-show message), queued after commit."""

from __future__ import annotations

from django.db import transaction
from django_q.tasks import async_task


def pickup_email_on_commit(*, booking_id: int, kind: str, message: str = "") -> None:
    """Queue one pickup e-mail (`kind` in commerce.tasks.PICKUP_EMAILS) once the transaction commits."""
    transaction.on_commit(lambda: async_task("commerce.tasks.send_pickup_email", booking_id, kind, message))
