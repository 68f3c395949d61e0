"""Orders: placing an order on a drop, paying, cancelling."""

from __future__ import annotations

import datetime as dt
import secrets

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from analytics.services import event_capture

from .. import locks
from ..exceptions import DropUnavailable, ErrorCode, InvalidInput, InvalidTransition, LimitExceeded
from ..models import Customer, Drop, Order, OrderLine
from ..payments import get_provider
from .customers import customer_get_or_create

ACTIVE_ORDER_STATUSES = (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT, Order.Status.PAID)


def _order_number() -> str:
    return "MM-" + secrets.token_hex(4).upper()


def drop_unavailable_error(drop: Drop, now: dt.datetime) -> DropUnavailable:
    """The DropUnavailable error that explains why `drop` cannot sell at `now`."""
    state = drop.state_at(now)
    if state == Drop.State.NOT_YET_OPEN:
        return DropUnavailable("This drop is not open yet.", code=ErrorCode.NOT_YET_OPEN, opens_at=drop.opens_at)
    if state == Drop.State.CLOSED:
        return DropUnavailable("This drop has closed.", code=ErrorCode.CLOSED, closes_at=drop.closes_at)
    if state == Drop.State.SOLD_OUT:
        return DropUnavailable("Sold out.", code=ErrorCode.SOLD_OUT, available=0)
    return DropUnavailable(f"Only {drop.available} left.", code=ErrorCode.SOLD_OUT, available=drop.available)


def customer_quantity_on_drop(*, customer: Customer, drop_id: int) -> int:
    """Units of a drop the customer has in active (not cancelled/refunded) orders."""
    return (
        OrderLine.objects.filter(
            order__customer=customer, drop_id=drop_id, order__status__in=ACTIVE_ORDER_STATUSES
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )


def order_place(
    *,
    drop_id: int,
    email: str,
    quantity: int,
    name: str = "",
    now: dt.datetime | None = None,
    visitor_id: str | None = None,
) -> Order:
    """Buy `quantity` units of a drop for `email`; returns the order, payment started.

    Stock is taken with one conditional UPDATE (commerce.locks) in the same
    transaction that writes the order, so concurrent buyers never oversell. The
    per-customer limit is serialized by locking the customer row. The payment
    provider (settings.PAYMENT_PROVIDER) then starts payment: with `manual`
    the order is confirmed as `awaiting_payment` (pay at pickup).

    Analytics (after commit): `cart` (the units are held by this order) and `checkout`
    (payment started), carrying `visitor_id` so the visitor is merged with the customer.

    Raises InvalidInput (bad quantity/e-mail), LimitExceeded, DropUnavailable
    (code sold_out / not_yet_open / closed), Drop.DoesNotExist.
    """
    now = now or timezone.now()
    if not isinstance(quantity, int) or quantity < 1:
        raise InvalidInput("Quantity must be a whole number of at least 1.", code=ErrorCode.INVALID_QUANTITY)
    try:
        customer = customer_get_or_create(email=email, name=name)
    except ValidationError as exc:
        raise InvalidInput("Enter a valid email address.", code=ErrorCode.INVALID_EMAIL) from exc
    drop = Drop.objects.select_related("sku__product", "session").get(pk=drop_id)
    if quantity > drop.per_customer_limit:
        raise LimitExceeded(
            f"You can buy at most {drop.per_customer_limit} of this drop.", limit=drop.per_customer_limit
        )
    provider = get_provider()
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        already = customer_quantity_on_drop(customer=customer, drop_id=drop.pk)
        if already + quantity > drop.per_customer_limit:
            raise LimitExceeded(
                f"You can buy at most {drop.per_customer_limit} of this drop; you already have {already}.",
                limit=drop.per_customer_limit,
                already=already,
            )
        if not locks.drop_take_stock(drop_id=drop.pk, quantity=quantity, now=now):
            drop.refresh_from_db(fields=["available"])
            raise drop_unavailable_error(drop, now)
        total = drop.price_minor * quantity
        order = _order_create(customer=customer, drop=drop, currency=drop.currency, provider=provider.name, total=total)
        OrderLine.objects.create(
            order=order,
            drop=drop,
            sku=drop.sku,
            title=drop.display_title,
            quantity=quantity,
            unit_price_minor=drop.price_minor,
            total_minor=total,
            currency=drop.currency,
        )
        provider.begin(order=order)
        for step in ("cart", "checkout"):
            event_capture(
                name=step,
                visitor_id=visitor_id,
                customer_id=customer.pk,
                session_id=drop.session_id,
                drop_id=drop.pk,
                sku_id=drop.sku_id,
                order_id=order.pk,
                amount_minor=total,
                currency=drop.currency,
                occurred_at=now,
                props={"quantity": quantity, "provider": provider.name},
            )
    return order


def _order_create(*, customer: Customer, drop: Drop, currency: str, provider: str, total: int) -> Order:
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Order.objects.create(
                    number=_order_number(),
                    customer=customer,
                    session=drop.session,
                    currency=currency,
                    payment_provider=provider,
                    subtotal_minor=total,
                    total_minor=total,
                )
        except IntegrityError:
            continue  # order number collision: draw another
    raise RuntimeError("could not allocate an order number")


def order_mark_paid(*, order_id: int, now: dt.datetime | None = None) -> Order:
    """Record payment (e.g. cash at pickup with the manual provider). Idempotent for paid orders.

    Raises InvalidTransition for cancelled or refunded orders.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.PAID:
            return order
        if order.status not in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT):
            raise InvalidTransition(f"A {order.get_status_display().lower()} order cannot be paid.")
        order.status = Order.Status.PAID
        order.paid_at = now
        order.save(update_fields=["status", "paid_at"])
        _capture_purchase(order=order, now=now)
    return order


def _capture_purchase(*, order: Order, now: dt.datetime) -> None:
    """The analytics `purchase` event of a newly paid order (sent after commit)."""
    lines = list(order.lines.all()[:2])
    single = lines[0] if len(lines) == 1 else None
    event_capture(
        name="purchase",
        customer_id=order.customer_id,
        session_id=order.session_id,
        drop_id=single.drop_id if single else None,
        sku_id=single.sku_id if single else None,
        order_id=order.pk,
        amount_minor=order.total_minor,
        currency=order.currency,
        occurred_at=now,
        props={"quantity": sum(line.quantity for line in lines) if single else None, "provider": order.payment_provider},
    )


def order_cancel(*, order_id: int, now: dt.datetime | None = None) -> Order:
    """Cancel an unpaid order and return its units to their drops.

    Raises InvalidTransition for paid (refund instead), refunded or already cancelled orders.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status not in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT):
            raise InvalidTransition(f"A {order.get_status_display().lower()} order cannot be cancelled.")
        for line in order.lines.filter(drop__isnull=False).order_by("drop_id"):
            locks.drop_return_stock(drop_id=line.drop_id, quantity=line.quantity)
        order.status = Order.Status.CANCELLED
        order.cancelled_at = now
        order.save(update_fields=["status", "cancelled_at"])
    return order
