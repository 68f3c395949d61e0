"""The `manual` provider: no online payment; the buyer pays at pickup."""

from __future__ import annotations

from . import PaymentStart, register


class ManualProvider:
    name = "manual"
    label = "Pay at pickup (manual payment, no card needed)"

    def begin(self, *, order) -> PaymentStart:
        """Confirm the order as awaiting payment; staff mark it paid when the buyer pays."""
        order.status = order.Status.AWAITING_PAYMENT
        order.save(update_fields=["status"])
        return PaymentStart(redirect_url=order.get_absolute_url())


register(ManualProvider())
