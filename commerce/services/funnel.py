"""Funnel events commerce reports to analytics (cart, checkout, purchase).

Each call goes through analytics.services.event_capture, which never raises and,
inside a transaction, records the event only when it commits.
"""

from __future__ import annotations

import datetime as dt

from analytics.services import event_capture

from ..pricing import price_step_props


def capture_cart(*, hold, visitor_id: str | None, now: dt.datetime) -> None:
    """`cart`: a hold was placed."""
    drop = hold.drop
    event_capture(
        name="cart",
        visitor_id=visitor_id,
        customer_id=hold.customer_id,
        session_id=drop.session_id,
        drop_id=drop.pk,
        sku_id=drop.sku_id,
        amount_minor=hold.unit_price_minor * hold.quantity,
        currency=hold.currency,
        occurred_at=now,
        props={"quantity": hold.quantity},
    )


def capture_checkout(*, order, hold, visitor_id: str | None, now: dt.datetime) -> None:
    """`checkout`: payment started for an order."""
    event_capture(
        name="checkout",
        visitor_id=visitor_id,
        customer_id=order.customer_id,
        session_id=order.session_id,
        drop_id=hold.drop_id,
        sku_id=hold.drop.sku_id,
        order_id=order.pk,
        amount_minor=order.total_minor,
        currency=order.currency,
        occurred_at=now,
        props={"quantity": hold.quantity, "provider": order.payment_provider},
    )


def capture_purchase(*, order, now: dt.datetime) -> None:
    """`purchase`: the order is paid. Props: quantity, provider, paid_late and, for a one-line
    order, the price step that applied (price_step_props)."""
    lines = list(order.lines.all()[:2])
    single = lines[0] if len(lines) == 1 else None
    props = {"quantity": single.quantity if single else None, "provider": order.payment_provider}
    props["paid_late"] = bool(order.paid_late)
    if single is not None:
        props.update(price_step_props(single))
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
        props=props,
    )
