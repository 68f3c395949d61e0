"""Refunds, full or partial, through the order's payment provider, and the provider's own refunds.

Amounts: a refund of k more units of a line returns
f(T × (r + k) / Q) − f(T × r / Q) minor units, where T is the line total,
Q its quantity, r the units refunded (or being refunded) before and f rounds
down to the currency's payable step (commerce.money.round_to_step: 10 minor
units for KWD and the other three-decimal currencies, whose Stripe amounts must
end in 0; 1 elsewhere, i.e. plain floor); refunding every unit returns exactly T.
An amount typed for a goodwill refund must be a multiple of that step too.
"Refund in full" returns all the money not yet refunded and every unit not yet
refunded.

One door for provider state: every answer, webhook and reconciliation result
goes through `refund_record_provider_state`, which locks the order, finds the
local Refund by the provider's refund id (or our id in its metadata, or creates
one marked `origin=provider` for a refund made in the provider's dashboard),
and moves its status forward only: pending → succeeded | failed | canceled,
succeeded → failed. Each applied move is claimed by a unique PaymentEvent key
(`<provider>:refund:<re_…>:<status>`), so duplicate, concurrent and
out-of-order deliveries apply once. The order's `refunded_minor` is the sum of
its succeeded refunds (capped at the total) and the order is `refunded` exactly
when that sum reaches the total.

Stock: only units that were not fulfilled (shipped or picked up) go back to the
drop, when the refund succeeds. A refund without units (a goodwill amount, or
a partial refund made in the Stripe dashboard, which carries no line
information) returns no stock: we do not guess units. A dashboard refund that
makes the order fully refunded refunds every unit still on the order, as
"Refund in full" would, so its unfulfilled units return (not on an order
refunded for paying late when sold out: its units never held stock). A refund
that fails after having succeeded takes the money off the order's refunded
amount again; units it returned stay on sale.

Documents: a refund that succeeds gets its numbered credit note, e-mailed to the buyer, in the
same transaction (commerce.services.receipts.credit_note_issue).

Reconciliation (`refunds_reconcile`, every 5 minutes): a refund still pending
after REFUND_RECONCILE_AFTER_MINUTES is looked up at the provider (by its id,
else among the payment's refunds by `metadata.refund_id`); found, its state is
applied; never seen, it is submitted again with the same idempotency key.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from .. import locks
from ..exceptions import CommerceError, ErrorCode, PaymentProviderError
from ..models import Order, OrderLine, PaymentEvent, Refund
from ..money import format_money, minor_step, round_to_step
from ..payments import ProviderRefund, ProviderUnavailable, get_provider
from . import notifications, receipts

logger = logging.getLogger(__name__)

# Forward-only status order: a state is applied only if its rank is higher than the current one.
STATUS_RANK = {
    Refund.Status.PENDING: 0,
    Refund.Status.SUCCEEDED: 1,
    Refund.Status.FAILED: 2,
    Refund.Status.CANCELED: 2,
}


class RefundInvalid(CommerceError):
    code = ErrorCode.REFUND_INVALID
    status = 422


@dataclass(frozen=True)
class RefundOutcome:
    """What applying a provider's refund state did.

    outcome: recorded (a refund new to us, e.g. made in the dashboard) | pending |
    succeeded | failed | canceled (the status it moved to) | unchanged (not a
    forward move: duplicate or out-of-order) | duplicate (claimed concurrently) |
    ignored (no order of ours).
    """

    outcome: str
    refund_id: int | None = None
    order_id: int | None = None


def _line_amount(line: OrderLine, units: int, before: int) -> int:
    def share(n: int) -> int:
        if n == line.quantity:
            return line.total_minor
        return round_to_step((line.total_minor * n) // line.quantity, line.currency, down=True)

    return share(before + units) - share(before)


def _pending_units(order: Order) -> Counter:
    units: Counter = Counter()
    for lines in order.refunds.filter(status=Refund.Status.PENDING).values_list("lines", flat=True):
        units.update({int(k): int(v) for k, v in (lines or {}).items()})
    return units


def order_refundable_amount(order: Order) -> int:
    """Money (minor units of `order.currency`) not yet refunded nor being refunded: total − succeeded − pending."""
    pending = order.refunds.filter(status=Refund.Status.PENDING).aggregate(s=Sum("amount_minor"))["s"] or 0
    return max(order.total_minor - order.refunded_minor - pending, 0)


def order_refundable_lines(order: Order) -> list[dict]:
    """Each line of `order` (pk order) as {"line", "pending", "left"}: units being refunded, and units left =
    quantity − refunded − pending. The one rule both the refund service and the refund page apply."""
    pending = _pending_units(order)
    return [
        {
            "line": line,
            "pending": pending[line.pk],
            "left": max(line.quantity - line.refunded_quantity - pending[line.pk], 0),
        }
        for line in order.lines.order_by("pk")
    ]


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
    units, no restock), or neither for everything not yet refunded (money and units).
    What can still be refunded is the total minus succeeded and pending refunds
    (including pending ones made in the provider's dashboard).
    Raises RefundInvalid: order not paid, more units or money than remain.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in (Order.Status.PAID, Order.Status.REFUNDED):
            raise RefundInvalid("Only paid orders can be refunded.")
        remaining = order_refundable_amount(order)
        rows = order_refundable_lines(order)
        order_lines = [row["line"] for row in rows]
        pending_units = {row["line"].pk: row["pending"] for row in rows}
        units: dict[str, int] = {}
        if lines is None and amount_minor is None:
            units = {str(row["line"].pk): row["left"] for row in rows if row["left"] > 0}
            amount = remaining
            if amount < 1:
                raise RefundInvalid("Nothing is left to refund on this order (refunds pending or done).")
        elif lines:
            amount = 0
            by_pk = {line.pk: line for line in order_lines}
            for line_id, want in lines.items():
                line = by_pk.get(int(line_id))
                if line is None:
                    raise RefundInvalid("A line does not belong to this order.")
                before = line.refunded_quantity + pending_units[line.pk]
                want = int(want)
                if want < 1 or want > line.quantity - before:
                    raise RefundInvalid(f"Line {line.title!r}: at most {line.quantity - before} units left to refund.")
                amount += _line_amount(line, want, before)
                units[str(line.pk)] = want
        else:
            amount = int(amount_minor or 0)
            step = minor_step(order.currency)
            if amount % step:
                nearest = format_money(round_to_step(amount, order.currency, down=True), order.currency)
                raise RefundInvalid(
                    f"{order.currency} refunds go in steps of {format_money(step, order.currency)} "
                    f"(the card networks take no smaller amount); try {nearest}."
                )
        if amount < 1 or amount > remaining:
            lowest = format_money(minor_step(order.currency), order.currency)
            raise RefundInvalid(
                f"Refund must be between {lowest} and {format_money(remaining, order.currency)} (what is left to refund)."
            )
        refund = Refund.objects.create(
            order=order, amount_minor=amount, currency=order.currency, reason=reason, lines=units, created_by=actor
        )
        notifications.refund_on_commit(refund_id=refund.pk)
    return refund


def refund_submit(*, refund_id: int, now: dt.datetime | None = None) -> Refund:
    """Send a pending refund to the provider, then apply the provider's answer; returns the Refund.

    Safe to call any number of times, concurrently too: a refund that is no
    longer pending, or that the provider already knows (it has a provider
    reference), is returned unchanged; the provider call carries the same
    idempotency key every time; the answer is applied through
    `refund_record_provider_state` (forward-only, exactly once).
    A definite refusal marks the refund failed with the message (staff can
    refund again). Raises ProviderUnavailable when the outcome is unknown
    (network, timeout, provider 5xx): the refund stays pending, the caller may
    retry, and reconciliation settles it otherwise.
    """
    now = now or timezone.now()
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING or refund.provider_reference:
        return refund
    provider_name = refund.order.payment_provider
    try:
        state = get_provider(provider_name).refund(refund=refund)
    except ProviderUnavailable:
        logger.warning("refund %s: provider unavailable; left pending for retry/reconciliation", refund_id)
        raise
    except PaymentProviderError as exc:
        return _refund_refused(refund_id=refund_id, message=exc.message, now=now)
    refund_record_provider_state(order_id=refund.order_id, provider=provider_name, state=state, now=now)
    refund.refresh_from_db()
    return refund


def _refund_refused(*, refund_id: int, message: str, now: dt.datetime) -> Refund:
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status == Refund.Status.PENDING and not refund.provider_reference:
            refund.status = Refund.Status.FAILED
            refund.failure_message = message[:500]
            refund.settled_at = now
            refund.save(update_fields=["status", "failure_message", "settled_at"])
    return refund


def _match(order: Order, state: ProviderRefund) -> Refund | None:
    """The local refund for a provider refund: by its id, else ours named in its metadata (same order, same amount)."""
    refund = Refund.objects.select_for_update().filter(provider_reference=state.reference).first()
    if refund is not None or state.local_id is None:
        return refund
    return (
        Refund.objects.select_for_update()
        .filter(pk=state.local_id, order=order, provider_reference="", amount_minor=state.amount_minor)
        .first()
    )


def refund_record_provider_state(
    *, order_id: int, provider: str, state: ProviderRefund, event_id: str = "", now: dt.datetime | None = None
) -> RefundOutcome:
    """Apply the provider's view of one refund of order `order_id`, exactly once, forward only.

    Creates the local Refund (origin=provider) if the provider made it (dashboard).
    On success: the refund's units leave the order and unfulfilled ones return to
    stock; the order's refunded amount and status are recomputed from succeeded
    refunds (module docstring). Saves go through the models (audited).
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            refund = _match(order, state)
            recorded = False
            if refund is None:
                if state.amount_minor < 1:
                    return RefundOutcome("ignored", None, order.pk)
                refund = Refund.objects.create(
                    order=order,
                    amount_minor=state.amount_minor,
                    currency=state.currency or order.currency,
                    reason=Refund.Reason.REQUESTED if state.reason == "requested_by_customer" else Refund.Reason.OTHER,
                    origin=Refund.Origin.PROVIDER,
                    provider_reference=state.reference,
                )
                recorded = True
                logger.info("refund %s made at %s recorded on %s", state.reference, provider, order.number)
            elif refund.order_id != order.pk:
                logger.error("refund %s belongs to order %s, not %s", state.reference, refund.order_id, order.pk)
                return RefundOutcome("ignored", refund.pk, order.pk)
            if not refund.provider_reference:
                refund.provider_reference = state.reference
                refund.save(update_fields=["provider_reference"])
            new = Refund.Status(state.status)
            if STATUS_RANK[new] <= STATUS_RANK[Refund.Status(refund.status)]:
                return RefundOutcome("recorded" if recorded else "unchanged", refund.pk, order.pk)
            PaymentEvent.objects.create(
                key=f"{provider}:refund:{state.reference}:{new}",
                order=order,
                provider=provider,
                event_id=event_id,
                amount_minor=state.amount_minor,
                currency=(state.currency or order.currency).upper(),
                outcome=f"refund_{new}",
            )
            was = refund.status
            refund.status = new
            refund.settled_at = now
            if new in (Refund.Status.FAILED, Refund.Status.CANCELED):
                refund.failure_message = (
                    f"{provider} reports the refund {new}"
                    + (f" ({state.failure_reason})" if state.failure_reason else "")
                    + (" after it had succeeded; the money is no longer refunded" if was == "succeeded" else "")
                    + "."
                )[:500]
            refund.save(update_fields=["status", "settled_at", "failure_message"])
            _order_settle(order=order, refund=refund, succeeded=new == Refund.Status.SUCCEEDED)
            return RefundOutcome("recorded" if recorded else str(new), refund.pk, order.pk)
    except IntegrityError:
        # Another delivery recorded or moved this refund first (unique provider id / PaymentEvent key).
        return RefundOutcome("duplicate", None, order_id)


def _order_settle(*, order: Order, refund: Refund, succeeded: bool) -> None:
    """Recompute the order's money from its succeeded refunds; on success move units (and stock) off the order."""
    total_refunded = order.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(s=Sum("amount_minor"))["s"] or 0
    if total_refunded > order.total_minor:
        logger.error("order %s: refunds (%s) exceed the total (%s)", order.number, total_refunded, order.total_minor)
    order.refunded_minor = min(total_refunded, order.total_minor)
    full = order.refunded_minor >= order.total_minor
    if succeeded:
        wanted = {int(k): int(v) for k, v in (refund.lines or {}).items()}
        # A dashboard refund completing the order takes every unit left, as "Refund in full" would; never on
        # an order refunded for paying late when sold out (its units never held stock).
        complete = (
            full
            and refund.origin == Refund.Origin.PROVIDER
            and not order.refunds.filter(reason=Refund.Reason.LATE_PAYMENT).exists()
        )
        taken: dict[str, int] = {}
        restocked = 0
        lines_before: dict[int, int] = {}
        for line in order.lines.select_for_update().order_by("pk"):
            lines_before[line.pk] = line.refunded_quantity
            left = line.quantity - line.refunded_quantity
            units = left if complete else min(wanted.get(line.pk, 0), left)
            if units <= 0:
                continue
            back = min(units, max(line.quantity - line.fulfilled_quantity - line.refunded_quantity, 0))
            if back and line.drop_id:
                locks.drop_return_stock(drop_id=line.drop_id, quantity=back)
                restocked += back
            line.refunded_quantity += units
            line.save(update_fields=["refunded_quantity"])
            taken[str(line.pk)] = units
        if taken:  # a bundle line with no unit left on the order gives its seat back (docs/bundles.md)
            from ..memberships.services_bundles import bundle_seats_release_for_refunded_lines

            bundle_seats_release_for_refunded_lines(order=order, now=refund.settled_at)
        refund.lines = taken
        refund.restocked_units = restocked
        refund.save(update_fields=["lines", "restocked_units"])
        if restocked:  # restocked units go to the drops' waitlists first (docs/waitlist.md)
            from .waitlist import waitlist_offer_freed

            for drop_id in sorted({line.drop_id for line in order.lines.all() if line.drop_id}):
                waitlist_offer_freed(drop_id=drop_id, now=refund.settled_at or timezone.now())
        receipts.credit_note_issue(refund=refund, order=order, lines_before=lines_before, now=refund.settled_at)
    if full and order.status == Order.Status.PAID:
        order.status = Order.Status.REFUNDED
    elif not full and order.status == Order.Status.REFUNDED:
        order.status = Order.Status.PAID
    order.save(update_fields=["refunded_minor", "status"])


def _order_for_payment(*, provider: str, payment_id: str, local_id: int | None = None) -> Order | None:
    order = None
    if payment_id:
        order = Order.objects.filter(provider_payment_id=payment_id, payment_provider=provider).first()
    if order is None and local_id is not None:
        order = Order.objects.filter(refunds__pk=local_id, payment_provider=provider).first()
    return order


def refund_sync(*, provider: str, state: ProviderRefund, event_id: str = "") -> RefundOutcome:
    """Apply one provider refund (a `refund.*` webhook's object) to the order paid by its payment; else ignored."""
    order = _order_for_payment(provider=provider, payment_id=state.payment_id, local_id=state.local_id)
    if order is None:
        logger.info("refund %s for a payment that is not ours (%s)", state.reference, state.payment_id)
        return RefundOutcome("ignored")
    return refund_record_provider_state(order_id=order.pk, provider=provider, state=state, event_id=event_id)


def payment_refunds_sync(
    *, provider: str, payment_id: str, states: list[ProviderRefund] | None = None, event_id: str = ""
) -> list[RefundOutcome]:
    """Apply every refund of a payment (`charge.refunded`): the given states, else the provider's list.

    Raises ProviderUnavailable if the list is needed and the provider does not answer.
    """
    order = _order_for_payment(provider=provider, payment_id=payment_id)
    if order is None:
        return [RefundOutcome("ignored")]
    if states is None:
        states = get_provider(provider).refunds_for_payment(payment_id=payment_id)
    return [
        refund_record_provider_state(order_id=order.pk, provider=provider, state=state, event_id=event_id)
        for state in states
    ]


def refund_reconcile(*, refund_id: int, now: dt.datetime | None = None) -> Refund:
    """Settle one pending refund with the provider: apply what it knows, or resubmit (same key) if it never saw it.

    Raises ProviderUnavailable when the provider does not answer (tried again next run).
    """
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return refund
    provider_name = refund.order.payment_provider
    provider = get_provider(provider_name)
    state = provider.refund_find(refund=refund)
    if state is None:
        if refund.provider_reference:
            logger.error("refund %s: provider no longer knows %s", refund_id, refund.provider_reference)
            return refund
        logger.warning("refund %s never reached %s; submitting again", refund_id, provider_name)
        return refund_submit(refund_id=refund_id, now=now)
    refund_record_provider_state(order_id=refund.order_id, provider=provider_name, state=state, now=now)
    refund.refresh_from_db()
    return refund


def refunds_stale(*, now: dt.datetime | None = None, older_than: dt.timedelta | None = None) -> list[int]:
    """Ids of refunds pending for longer than `older_than` (default REFUND_RECONCILE_AFTER_MINUTES), oldest first."""
    now = now or timezone.now()
    older_than = older_than or dt.timedelta(minutes=settings.REFUND_RECONCILE_AFTER_MINUTES)
    return list(
        Refund.objects.filter(status=Refund.Status.PENDING, created_at__lt=now - older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def refunds_reconcile(*, now: dt.datetime | None = None, older_than: dt.timedelta | None = None) -> dict[str, int]:
    """Reconcile every stale pending refund; returns counts by resulting status (plus `unavailable`)."""
    counts: Counter = Counter()
    for refund_id in refunds_stale(now=now, older_than=older_than):
        try:
            counts[refund_reconcile(refund_id=refund_id, now=now).status] += 1
        except ProviderUnavailable:
            counts["unavailable"] += 1
        except Exception:  # one bad refund must not stop the others; it stays pending and is logged
            logger.exception("reconciling refund %s failed", refund_id)
            counts["error"] += 1
    return dict(counts)


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
