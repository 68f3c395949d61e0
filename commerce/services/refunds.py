"""Refunds, full or partial, through the order's payment provider.

Amounts: a refund of k more units of a line returns
floor(T × (r + k) / Q) − floor(T × r / Q) minor units, where T is the line total,
Q its quantity and r the units refunded before; refunding every unit returns
exactly T. Stock: only units that were not fulfilled (shipped or picked up) go
back to the drop.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .. import locks
from ..exceptions import CommerceError, ErrorCode
from ..models import Order, OrderLine, Refund
from ..payments import get_provider
from . import notifications


class RefundInvalid(CommerceError):
    code = ErrorCode.REFUND_INVALID
    status = 422


def _line_amount(line: OrderLine, units: int) -> int:
    before = line.refunded_quantity
    return (line.total_minor * (before + units)) // line.quantity - (line.total_minor * before) // line.quantity


def refund_create(
    *,
    order_id: int,
    lines: dict[int, int] | None = None,
    amount_minor: int | None = None,
    reason: str = Refund.Reason.REQUESTED,
    actor=None,
) -> Refund:
    """Record a refund and queue it to the provider; returns the pending Refund.

    Give `lines` ({order line id: units}) to refund units (amount computed, see
    module docstring), or `amount_minor` alone for a goodwill partial refund (no
    units, no restock), or neither for everything not yet refunded.
    Raises RefundInvalid: order not paid, more units or money than remain.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in (Order.Status.PAID, Order.Status.REFUNDED):
            raise RefundInvalid("Only paid orders can be refunded.")
        pending = sum(order.refunds.filter(status=Refund.Status.PENDING).values_list("amount_minor", flat=True))
        remaining = order.total_minor - order.refunded_minor - pending
        units: dict[str, int] = {}
        if lines is None and amount_minor is None:
            lines = {line.pk: line.quantity - line.refunded_quantity for line in order.lines.all()}
            lines = {k: v for k, v in lines.items() if v > 0}
        if lines:
            amount = 0
            for line in order.lines.filter(pk__in=lines):
                want = int(lines[line.pk])
                if want < 1 or want > line.quantity - line.refunded_quantity:
                    raise RefundInvalid(
                        f"Line {line.title!r}: at most {line.quantity - line.refunded_quantity} units left to refund."
                    )
                amount += _line_amount(line, want)
                units[str(line.pk)] = want
            if len(units) != len(lines):
                raise RefundInvalid("A line does not belong to this order.")
        else:
            amount = int(amount_minor or 0)
        if amount < 1 or amount > remaining:
            raise RefundInvalid(f"Refund must be between 1 and {remaining} minor units.")
        refund = Refund.objects.create(
            order=order, amount_minor=amount, currency=order.currency, reason=reason, lines=units, created_by=actor
        )
        notifications.refund_on_commit(refund_id=refund.pk)
    return refund


def refund_submit(*, refund_id: int, now: dt.datetime | None = None) -> Refund:
    """Send a pending refund to the provider, then apply it: order totals, line units, restock.

    Idempotent: a succeeded refund is returned unchanged; the provider call uses
    an idempotency key derived from the refund id. A provider failure marks the
    refund failed with the message (staff can retry by creating a new refund).
    """
    now = now or timezone.now()
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return refund
    try:
        reference = get_provider(refund.order.payment_provider).refund(refund=refund)
    except Exception as exc:  # provider errors are recorded, not raised into the worker
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            status=Refund.Status.FAILED, failure_message=str(exc)[:500]
        )
        refund.refresh_from_db()
        return refund
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.PENDING:
            return refund
        order = Order.objects.select_for_update().get(pk=refund.order_id)
        restocked = 0
        for line in order.lines.select_for_update().filter(pk__in=[int(k) for k in refund.lines]).order_by("pk"):
            units = refund.lines[str(line.pk)]
            unfulfilled_left = max(line.quantity - line.fulfilled_quantity - line.refunded_quantity, 0)
            back = min(units, unfulfilled_left)
            if back and line.drop_id:
                locks.drop_return_stock(drop_id=line.drop_id, quantity=back)
                restocked += back
            line.refunded_quantity += units
            line.save(update_fields=["refunded_quantity"])
        order.refunded_minor += refund.amount_minor
        if order.refunded_minor >= order.total_minor:
            order.status = Order.Status.REFUNDED
        order.save(update_fields=["refunded_minor", "status"])
        refund.status = Refund.Status.SUCCEEDED
        refund.provider_reference = reference
        refund.restocked_units = restocked
        refund.save(update_fields=["status", "provider_reference", "restocked_units"])
    return refund


def order_line_fulfil(*, line_id: int, quantity: int | None = None) -> OrderLine:
    """Record units of a paid line as fulfilled (shipped or picked up); default: all of them."""
    with transaction.atomic():
        line = OrderLine.objects.select_for_update().select_related("order").get(pk=line_id)
        if line.order.status != Order.Status.PAID:
            raise RefundInvalid("Only paid orders are fulfilled.", code=ErrorCode.INVALID_TRANSITION)
        target = line.quantity - line.refunded_quantity if quantity is None else line.fulfilled_quantity + quantity
        line.fulfilled_quantity = min(max(target, line.fulfilled_quantity), line.quantity)
        line.save(update_fields=["fulfilled_quantity"])
    return line
