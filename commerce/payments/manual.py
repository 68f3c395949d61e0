"""The `manual` provider: no online payment; the buyer pays at pickup and staff mark the order paid."""

from __future__ import annotations

from . import register


class ManualProvider:
    name = "manual"
    label = "Pay at pickup (manual payment, no card needed)"
    confirms_immediately = True

    def begin(self, *, order, hold, now) -> None:
        """Nothing to start: checkout already confirmed the order as awaiting payment."""

    def cancel(self, *, order) -> bool:
        return True

    def refund(self, *, refund) -> str:
        """Money is handed back in person; the refund is recorded with a local reference."""
        return f"manual-{refund.pk}"


register(ManualProvider())
