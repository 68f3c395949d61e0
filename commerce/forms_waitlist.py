"""The "notify me" form: e-mail + quantity (1..the drop's per-customer limit)."""

from __future__ import annotations

from .forms import HoldForm


class WaitlistJoinForm(HoldForm):
    """Same fields as the buy form; the quantity is the number of units wanted when they free up."""
