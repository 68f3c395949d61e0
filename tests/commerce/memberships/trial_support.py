"""Shared set-up for the refundable-trial tests."""

from __future__ import annotations

from commerce.models import Order
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start, order_mark_paid
from tests.factories import SkuFactory, make_drop


def trial_drop(*, days: int = 14, quantity: int = 5, price_minor: int = 2500):
    """A live drop of a SKU sold as a `days`-day trial; the SKU has 10 units in the warehouse."""
    return make_drop(sku=SkuFactory(trial_days=days, inventory=10), quantity=quantity, price_minor=price_minor)


def paid_trial_order(*, days: int = 14, email: str = "ann@example.com", now=None) -> Order:
    """A paid order (manual provider, marked paid at `now`) of one unit of a trial SKU."""
    drop = trial_drop(days=days)
    order = checkout_start(hold_token=hold_place(drop_id=drop.pk, email=email, quantity=1).token)
    return order_mark_paid(order_id=order.pk, now=now)
