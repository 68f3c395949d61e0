"""Set-up for the members-only and credit tests: a plan, members in every state, the signed member cookie."""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.utils import timezone

from commerce.memberships.identity import MEMBER_COOKIE, MEMBER_COOKIE_SALT
from commerce.memberships.models import Membership, MembershipPlan
from commerce.services.customers import customer_get_or_create

STREAM_URL = "https://www.youtube.com/watch?v=aqz-KE-bpKQ"
STREAM_ID = "aqz-KE-bpKQ"  # what any embed of STREAM_URL contains


def make_plan(*, price_minor: int = 500, currency: str = "USD", percent: int = 25, slug: str = "vip") -> MembershipPlan:
    plan, _ = MembershipPlan.objects.get_or_create(
        slug=slug,
        defaults={
            "name": "VIP weekly",
            "price_minor": price_minor,
            "currency": currency,
            "missed_credit_percent": percent,
        },
    )
    return plan


def make_member(
    email: str = "member@example.com",
    *,
    status: str = Membership.Status.ACTIVE,
    plan: MembershipPlan | None = None,
    period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
    grace_until: dt.datetime | None = None,
    provider: str = "manual",
    stripe_customer_id: str = "",
    started_at: dt.datetime | None = None,
) -> Membership:
    """A membership in `status`; active ones run a week from an hour ago unless told otherwise."""
    now = timezone.now()
    return Membership.objects.create(
        plan=plan or make_plan(),
        customer=customer_get_or_create(email=email),
        status=status,
        provider=provider,
        stripe_customer_id=stripe_customer_id,
        current_period_start=period_start or now - dt.timedelta(hours=1),
        current_period_end=period_end or now + dt.timedelta(days=7),
        grace_until=grace_until,
        started_at=started_at or now - dt.timedelta(hours=1),
    )


def member_cookie_value(pass_token: str) -> str:
    """The `mm_member` cookie value a browser gets from member_cookie_set (signed with the salt)."""
    return signing.get_cookie_signer(salt=MEMBER_COOKIE + MEMBER_COOKIE_SALT).sign(pass_token)


def as_member(client, membership: Membership | None = None, *, raw: str | None = None):
    """Give the test client a member cookie: a genuine one for `membership`, or `raw` as is (forged)."""
    client.cookies[MEMBER_COOKIE] = raw if raw is not None else member_cookie_value(membership.pass_token)
    return client
