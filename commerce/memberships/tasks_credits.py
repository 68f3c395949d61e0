"""django-q2 task for missed-session credits (schedule `commerce.member_credits_grant`, migration)."""

from __future__ import annotations


def member_credits_grant() -> int:
    """Every 15 minutes: the missed-session rule for recently ended members-only sessions (services_credits)."""
    from .services_credits import member_credits_grant_due

    return member_credits_grant_due()
