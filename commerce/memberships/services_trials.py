"""Refundable trials: a trial line may be returned within its window; staff receive it and refund it once.

The rule (docs/trials.md): a SKU sold with `trial_days` = N gives each order line of it a window of N
days from the order's `paid_at` (UTC): the moment the buyer's money was taken, known to the buyer at
purchase and shown on the order page. Within the window (`now < paid_at + N days`) the buyer asks for a
return from the order page (their private order link is the proof) or a partner through the API; one
TrialReturn per line (unique). After the window the sale is final.

Staff mark the item received ("Mark received and refund"): under the TrialReturn row lock the status
moves requested → received and ONE refund of the line's units left is created
(commerce.services.refunds.refund_create), submitted to the provider through the outbox with the
refund's own idempotency key. A second click, concurrent or later, finds the row received and does
nothing; the TrialReceipt says which call made the transition (the admin counts and audits only that
one). A request whose line or order was refunded meanwhile (refund page, provider dashboard) is closed
as cancelled (withdrawn) instead of staying requested. The returned unit goes back to warehouse inventory (Sku.inventory + units), not to the drop:
the drop is a closed sale of a past session. The line is recorded as fulfilled first (the item was
delivered, since it came back), so the refund path does not restock the drop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..exceptions import CommerceError, ErrorCode
from ..models import Order, OrderLine, Refund, Sku, TrialReturn


class TrialNotReturnable(CommerceError):
    """409 `trial_not_returnable`: the line is not a trial, the order is not paid, or nothing is left to return."""

    code = ErrorCode.TRIAL_NOT_RETURNABLE


class TrialWindowClosed(CommerceError):
    """409 `trial_window_closed`: the trial window ended; the sale is final (`extra["window_ends_at"]`)."""

    code = ErrorCode.TRIAL_WINDOW_CLOSED


def trial_window_ends_at(*, line: OrderLine, order: Order) -> dt.datetime | None:
    """End of a trial line's return window: order.paid_at + line.trial_days days (UTC). None: not a trial or unpaid."""
    if not line.trial_days or order.paid_at is None:
        return None
    return order.paid_at + dt.timedelta(days=line.trial_days)


def trial_line_state(*, line: OrderLine, order: Order, now: dt.datetime) -> str:
    """What the order page shows for a line: "" (not a trial) | "unpaid" | "returnable" | "requested" |
    "received" | "final" (the window ended)."""
    if not line.trial_days:
        return ""
    try:
        existing = line.trial_return
    except TrialReturn.DoesNotExist:
        existing = None
    if existing is not None and existing.status != TrialReturn.Status.CANCELLED:
        return str(existing.status)
    ends = trial_window_ends_at(line=line, order=order)
    if ends is None or order.status not in (Order.Status.PAID,):
        return "unpaid" if order.paid_at is None else "final"
    return "returnable" if now < ends else "final"


def trial_return_request(
    *, order_id: int, line_id: int, reason: str = "", now: dt.datetime | None = None
) -> TrialReturn:
    """Ask for the return of a trial line inside its window; returns the TrialReturn (requested).

    Idempotent: asking again returns the existing request. Under the order's row lock.
    Raises TrialNotReturnable (not a trial line of this order, order not paid or already refunded, no unit left),
    TrialWindowClosed (now ≥ paid_at + trial_days days; the sale is final), OrderLine.DoesNotExist.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        line = OrderLine.objects.get(pk=line_id, order=order)
        existing = TrialReturn.objects.filter(order_line=line).first()
        if existing is not None:
            return existing
        if not line.trial_days:
            raise TrialNotReturnable("This item was not sold as a trial; its sale is final.")
        ends = trial_window_ends_at(line=line, order=order)
        if ends is None or order.status != Order.Status.PAID:
            raise TrialNotReturnable("Only a paid order's trial items can be returned.")
        if now >= ends:
            raise TrialWindowClosed("The trial window has ended: the sale is final.", window_ends_at=ends.isoformat())
        if line.refunded_quantity >= line.quantity:
            raise TrialNotReturnable("This item was already refunded.")
        try:
            with transaction.atomic():
                return TrialReturn.objects.create(
                    order_line=line, order=order, reason=reason[:500], requested_at=now, window_ends_at=ends
                )
        except IntegrityError:  # another request for the line committed first (unique)
            return TrialReturn.objects.get(order_line=line)


RECEIVED, ALREADY_RECEIVED, CANCELLED = "received", "already_received", "cancelled"  # TrialReceipt.outcome


@dataclass(frozen=True)
class TrialReceipt:
    """What one trial_return_receive call did.

    outcome: "received" (THIS call moved requested → received and created the refund) |
    "already_received" (another call did it first; nothing changed) | "cancelled" (THIS call closed the
    return as withdrawn: the order or the line had nothing left to refund, no refund created).
    `changed` is True when this call wrote the TrialReturn (received or cancelled): audit only those.
    `message` is the sentence to show staff.
    """

    trial_return: TrialReturn
    outcome: str
    message: str

    @property
    def changed(self) -> bool:
        return self.outcome in (RECEIVED, CANCELLED)


def trial_return_receive(*, trial_return_id: int, actor=None, now: dt.datetime | None = None) -> TrialReceipt:
    """Staff received the returned item: refund the line's units left, exactly once; returns a TrialReceipt.

    Under the TrialReturn row lock (then the line's, then the order's, as refund_create takes it):
    - requested → received with ONE refund of the line's units left (quantity − refunded − pending):
      outcome "received";
    - already received → unchanged, no second refund: outcome "already_received";
    - requested, but the line or the order has nothing left to refund (refunded meanwhile from the refund
      page or the provider's dashboard) → cancelled (withdrawn) with no refund: outcome "cancelled".
    The unit goes to warehouse inventory (Sku.inventory), not back to the drop. The refund is submitted to
    the provider after commit (outbox, idempotency key per refund). Raises TrialNotReturnable for a
    withdrawn request, and what refund_create raises (RefundInvalid: order no longer refundable).
    """
    from ..services.refunds import order_refundable_amount, order_refundable_lines, refund_create

    now = now or timezone.now()
    with transaction.atomic():
        tr = TrialReturn.objects.select_for_update().get(pk=trial_return_id)
        if tr.status == TrialReturn.Status.RECEIVED:
            return TrialReceipt(tr, ALREADY_RECEIVED, "This return was already received (no second refund).")
        if tr.status != TrialReturn.Status.REQUESTED:
            raise TrialNotReturnable("This return was withdrawn; nothing to refund.")
        line = OrderLine.objects.select_for_update().get(pk=tr.order_line_id)
        order = Order.objects.select_for_update().get(pk=tr.order_id)
        left = {row["line"].pk: row["left"] for row in order_refundable_lines(order)}
        units = left.get(line.pk, 0)
        if units < 1 or order_refundable_amount(order) < 1:
            tr.status = TrialReturn.Status.CANCELLED
            tr.save(update_fields=["status"])
            return TrialReceipt(
                tr,
                CANCELLED,
                "This item was already refunded (the order was refunded meanwhile): the return is closed as "
                "withdrawn, no second refund.",
            )
        if line.fulfilled_quantity < line.quantity:  # it was delivered: it came back (no restock of the drop)
            line.fulfilled_quantity = line.quantity
            line.save(update_fields=["fulfilled_quantity"])
        refund = refund_create(
            order_id=tr.order_id, lines={line.pk: units}, reason=Refund.Reason.REQUESTED, actor=actor
        )
        Sku.objects.filter(pk=line.sku_id).update(inventory=F("inventory") + units)
        tr.status = TrialReturn.Status.RECEIVED
        tr.received_at = now
        tr.received_by = actor if getattr(actor, "pk", None) else None
        tr.refund = refund
        tr.save(update_fields=["status", "received_at", "received_by", "refund"])
    return TrialReceipt(tr, RECEIVED, "Received and refunded.")
