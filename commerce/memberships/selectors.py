"""Reads about plans and memberships (docs/memberships.md). Times are aware UTC."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from .models import Membership, MembershipPlan


def plans_active() -> QuerySet[MembershipPlan]:
    """Plans offered to new members (is_active), cheapest first."""
    return MembershipPlan.objects.filter(is_active=True).order_by("price_minor", "pk")


def _granting(now: dt.datetime) -> Q:
    """The rows for which Membership.grants_access(now) is True, as a filter."""
    active = Q(status=Membership.Status.ACTIVE) & (Q(current_period_end__isnull=True) | Q(current_period_end__gt=now))
    past_due = Q(status=Membership.Status.PAST_DUE, grace_until__gt=now)
    return active | past_due


def customer_membership(*, customer_id: int, now: dt.datetime) -> Membership | None:
    """The customer's membership granting access at `now` (the one ending last), else None."""
    return (
        Membership.objects.select_related("plan")
        .filter(_granting(now), customer_id=customer_id)
        .order_by("-current_period_end", "-pk")
        .first()
    )


def customer_is_member(*, customer_id: int, now: dt.datetime) -> bool:
    """True when the customer has a membership granting access at `now`."""
    return Membership.objects.filter(_granting(now), customer_id=customer_id).exists()


def memberships_active_during(*, start: dt.datetime, end: dt.datetime) -> QuerySet[Membership]:
    """Memberships that granted access at some time in [start, end) (for analytics: churn, member LTV).

    A membership grants access from `started_at` until the first of: `ended_at`, and (when past due)
    `grace_until`. Incomplete ones never did. Approximation: an active membership's access is taken to run
    to `ended_at` (or still running), so a period end the sweep has not processed yet still counts.
    """
    return Membership.objects.filter(
        ~Q(status=Membership.Status.INCOMPLETE),
        started_at__isnull=False,
        started_at__lt=end,
    ).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))


def membership_by_pass(pass_token: str | None) -> Membership | None:
    """The membership whose pass is `pass_token`, in any status (the manage page shows ended ones too)."""
    if not pass_token or not isinstance(pass_token, str) or len(pass_token) > 64:
        return None
    return Membership.objects.select_related("plan", "customer").filter(pass_token=pass_token).first()


def membership_status_words(membership: Membership, *, now: dt.datetime) -> str:
    """The member's status in words: "Active, renews on 7 Dec 2026", "Active, cancels on …", "Past due: pay
    by …", "Ended", "Checkout not finished". Dates in UTC, day precision."""

    def day(value):
        return f"{value:%-d %b %Y %H:%M} UTC" if value else "—"

    if membership.status == Membership.Status.ACTIVE:
        if membership.current_period_end and membership.current_period_end <= now:
            return f"Active until {day(membership.current_period_end)} (renewal being processed)"
        if membership.cancel_at_period_end:
            return f"Active, cancels on {day(membership.current_period_end)}"
        if membership.current_period_end is None:
            return "Active (the first payment is being confirmed)"
        return f"Active, renews on {day(membership.current_period_end)}"
    if membership.status == Membership.Status.PAST_DUE:
        if membership.grace_until and membership.grace_until > now:
            return f"Past due: pay by {day(membership.grace_until)} to keep access"
        return "Past due: access paused until the payment succeeds"
    if membership.status == Membership.Status.INCOMPLETE:
        return "Checkout not finished (waiting for the payment confirmation)"
    return f"Ended on {day(membership.ended_at)}"
