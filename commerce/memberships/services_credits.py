"""Missed-session credits (docs/memberships.md). Owned by the members-only work; the billing work calls
`member_credits_take_for_renewal` when it renews a manual membership."""

from __future__ import annotations

import datetime as dt


def member_credits_take_for_renewal(*, membership, now: dt.datetime) -> int:
    """Apply the membership's available credits to the renewal being charged now; returns the minor units
    taken off (in the plan's currency, never more than one interval's price). Call inside the renewal's
    transaction; each credit is applied once."""
    return 0
