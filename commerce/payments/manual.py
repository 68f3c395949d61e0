"""The `manual` provider: no online payment; the buyer pays at pickup (pickup orders) or by bank transfer
(shipped orders: settings.SHOP_BANK_DETAILS on the order page and e-mail, else the shop sends its details;
commerce.shipping.order_fulfilment); staff mark the order paid."""

from __future__ import annotations

from . import ProviderRefund, register


class ManualProvider:
    name = "manual"
    label = "Manual payment, no card needed: pay at pickup, or by bank transfer for shipped orders"
    confirms_immediately = True

    def begin(self, *, order, hold, now) -> None:
        """Nothing to start: checkout already confirmed the order as awaiting payment."""

    def cancel(self, *, order) -> bool:
        return True

    def refund(self, *, refund) -> ProviderRefund:
        """Money is handed back in person; the refund is recorded with a local reference, succeeded at once."""
        return ProviderRefund(
            reference=f"manual-{refund.pk}",
            status="succeeded",
            amount_minor=refund.amount_minor,
            currency=refund.currency,
            local_id=refund.pk,
        )

    def refund_find(self, *, refund) -> ProviderRefund | None:
        """Nothing outside this database knows a manual refund: submitting it (again) is the way to settle it."""
        return None

    def refunds_for_payment(self, *, payment_id: str) -> list[ProviderRefund]:
        return []


register(ManualProvider())
