"""Missed-session credits under real concurrency on PostgreSQL: sweeps racing give each member one credit,
and sessions racing for one member never break the per-period cap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from commerce.memberships.models import MemberCredit
from commerce.memberships.services_credits import (
    CREDIT_DELAY,
    member_credits_grant_due,
    member_credits_grant_for_session,
)
from sessions_app.models import LiveSession
from tests.commerce.memberships.members_support import make_member, make_plan
from tests.commerce.test_races import race
from tests.factories import LiveSessionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def ended_members_session(hours_ago: float) -> LiveSession:
    start = timezone.now() - dt.timedelta(hours=hours_ago)
    return LiveSessionFactory(
        members_only=True,
        status=LiveSession.Status.ENDED,
        starts_at=start,
        went_live_at=start,
        ended_at=start + dt.timedelta(minutes=10),
    )


def members(n: int, **kwargs):
    day_ago = timezone.now() - dt.timedelta(days=1)
    return [make_member(f"m{i}@example.com", started_at=day_ago, period_start=day_ago, **kwargs) for i in range(n)]


def test_racing_sweeps_give_each_member_exactly_one_credit():
    # given 10 members who all missed one members-only session
    crew = members(10)
    session = ended_members_session(1)
    later = session.ended_at + CREDIT_DELAY + dt.timedelta(minutes=1)

    # when 16 sweeps (the schedule, a manual run, per-session calls) race
    def act(i):
        if i % 2:
            return member_credits_grant_due(now=later)
        return member_credits_grant_for_session(session_id=session.pk, now=later)

    results = race(16, act)

    # then no sweep failed, and exactly one credit per member was created in total
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(results) == len(crew)
    per_member = MemberCredit.objects.values("membership").annotate(n=Count("id"))
    assert sorted(row["n"] for row in per_member) == [1] * len(crew)
    assert MemberCredit.objects.aggregate(total=Sum("amount_minor"))["total"] == 125 * len(crew)


def test_sessions_racing_for_one_member_never_exceed_the_period_cap():
    # given a plan crediting 30 % (150 of 500) and one member who missed 8 sessions this period
    plan = make_plan(slug="race-cap", price_minor=500, percent=30)
    (member,) = members(1, plan=plan)
    sessions = [ended_members_session(h) for h in (8, 7, 6, 5, 4, 3, 2, 1.5)]

    # when the rule runs for every session at once
    results = race(len(sessions) * 2, lambda i: member_credits_grant_for_session(session_id=sessions[i % 8].pk))

    # then the credits add up to exactly one interval's price: 150 + 150 + 150 + 50
    assert not [r for r in results if isinstance(r, Exception)], results
    amounts = sorted(MemberCredit.objects.filter(membership=member).values_list("amount_minor", flat=True))
    assert sum(amounts) == plan.price_minor
    assert amounts == [50, 150, 150, 150]
