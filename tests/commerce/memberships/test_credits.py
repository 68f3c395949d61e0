"""Missed-session credits: who gets one, how much, once; Stripe balance transactions; manual renewals."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from analytics.models import VisitorAlias
from analytics.services import events_flush_all
from commerce.memberships.models import MemberCredit, Membership
from commerce.memberships.services_credits import (
    CREDIT_DELAY,
    member_credit_amount,
    member_credits_grant_due,
    member_credits_grant_for_session,
    member_credits_take_for_renewal,
)
from commerce.models import OutboxMessage
from commerce.services.outbox import outbox_drain
from sessions_app.models import LiveSession, WatchEvidence
from tests.commerce.memberships.members_support import as_member, make_member, make_plan
from tests.factories import LiveSessionFactory
from tests.pageview import page_view_post
from tests.watching import evidence

pytestmark = pytest.mark.django_db


def ended_members_session(*, started_ago_hours: float = 1, **kwargs) -> LiveSession:
    now = timezone.now()
    start = now - dt.timedelta(hours=started_ago_hours)
    return LiveSessionFactory(
        members_only=True,
        status=LiveSession.Status.ENDED,
        starts_at=start,
        went_live_at=start,
        ended_at=start + dt.timedelta(minutes=10),
        **kwargs,
    )


def watched(session, membership) -> str:
    """Watch evidence from a visitor identified as the member's customer."""
    visitor = uuid.uuid4().hex
    now = timezone.now()
    WatchEvidence.objects.create(session=session, visitor_id=visitor, first_poll_at=now, last_poll_at=now)
    VisitorAlias.objects.create(visitor_id=visitor, customer_id=membership.customer_id, identified_at=now)
    return visitor


def member_since_yesterday(email, **kwargs):
    now = timezone.now()
    return make_member(email, started_at=now - dt.timedelta(days=1), period_start=now - dt.timedelta(days=1), **kwargs)


def test_amount_is_percent_of_price_rounded_down():
    assert member_credit_amount(plan=make_plan(price_minor=499, percent=25)) == 124  # 124.75 → 124
    assert member_credit_amount(plan=make_plan(slug="jpy", price_minor=999, currency="JPY", percent=10)) == 99
    assert member_credit_amount(plan=make_plan(slug="kwd", price_minor=1990, currency="KWD", percent=25)) == 490


def test_members_who_missed_get_one_credit_and_watchers_none():
    # given a members-only session that ended, one member who watched and one who did not
    missed = member_since_yesterday("missed@example.com")
    watcher = member_since_yesterday("watcher@example.com")
    session = ended_members_session()
    watched(session, watcher)
    # when the rule runs twice
    first = member_credits_grant_for_session(session_id=session.pk)
    second = member_credits_grant_for_session(session_id=session.pk)
    # then exactly one credit, for the member who missed it, 25 % of 500
    assert (first, second) == (1, 0)
    credit = MemberCredit.objects.get()
    assert credit.membership_id == missed.pk and credit.amount_minor == 125 and credit.currency == "USD"
    assert credit.status == MemberCredit.Status.AVAILABLE


def test_only_memberships_granting_access_at_the_start_and_still_open_get_credit():
    now = timezone.now()
    session = ended_members_session(started_ago_hours=2)
    member_since_yesterday("ok@example.com")
    make_member("joined-after@example.com", started_at=now - dt.timedelta(minutes=30))  # joined after the start
    member_since_yesterday("ended@example.com", status=Membership.Status.ENDED)  # nothing to credit towards
    member_since_yesterday(
        "grace-over@example.com", status=Membership.Status.PAST_DUE, grace_until=now - dt.timedelta(hours=3)
    )
    member_since_yesterday("incomplete@example.com", status=Membership.Status.INCOMPLETE)
    member_credits_grant_for_session(session_id=session.pk)
    assert list(MemberCredit.objects.values_list("membership__customer__email", flat=True)) == ["ok@example.com"]


def test_public_or_unfinished_sessions_give_no_credit():
    member_since_yesterday("m@example.com")
    public = ended_members_session()
    public.members_only = False
    public.save(update_fields=["members_only"])
    live = LiveSessionFactory(members_only=True, status=LiveSession.Status.LIVE)
    assert member_credits_grant_for_session(session_id=public.pk) == 0
    assert member_credits_grant_for_session(session_id=live.pk) == 0


def test_credits_in_one_period_are_capped_at_one_intervals_price():
    # given a plan crediting 40 % (200 of 500) and a member who misses three sessions in one week
    plan = make_plan(slug="cap", price_minor=500, percent=40)
    member = member_since_yesterday("cap@example.com", plan=plan)
    sessions = [ended_members_session(started_ago_hours=h) for h in (3, 2, 1)]
    # when the rule runs for each
    for session in sessions:
        member_credits_grant_for_session(session_id=session.pk)
    # then 200 + 200 + 100: never more than the price in one period
    amounts = sorted(MemberCredit.objects.filter(membership=member).values_list("amount_minor", flat=True))
    assert amounts == [100, 200, 200] and sum(amounts) == plan.price_minor


def test_sweep_waits_for_the_delay_then_grants():
    member_since_yesterday("sweep@example.com")
    session = ended_members_session()
    now = session.ended_at + CREDIT_DELAY - dt.timedelta(seconds=1)
    assert member_credits_grant_due(now=now) == 0
    assert member_credits_grant_due(now=session.ended_at + CREDIT_DELAY) == 1
    assert member_credits_grant_due(now=session.ended_at + CREDIT_DELAY) == 0


def test_a_member_opening_the_page_with_their_pass_links_this_browsers_watch_evidence(
    client, django_capture_on_commit_callbacks
):
    # given a member's browser with a visitor id opening the live members-only session
    member = member_since_yesterday("watch@example.com")
    session = LiveSessionFactory(members_only=True, starts_at=timezone.now() - dt.timedelta(minutes=5))
    visitor = uuid.uuid4().hex
    client.cookies["mm_vid"] = visitor
    with django_capture_on_commit_callbacks(execute=True):  # the view event is handed over after commit
        # the shared page's script posts its view; the beacon adds the member's customer id
        page_view_post(client, as_member(client, member).get(session.get_absolute_url()))
    client.get(f"{session.get_absolute_url()}status.json")  # a poll while live: watch evidence
    events_flush_all()
    # then the visitor is the member's customer, and after the session ends no credit is due
    assert VisitorAlias.objects.get(visitor_id=visitor).customer_id == member.customer_id
    assert evidence().filter(session=session, visitor_id=visitor).exists()
    session.status, session.ended_at = LiveSession.Status.ENDED, timezone.now()
    session.save(update_fields=["status", "ended_at"])
    assert member_credits_grant_for_session(session_id=session.pk) == 0


def test_manual_renewal_takes_available_credits_once():
    member = member_since_yesterday("renew@example.com")
    for hours in (3, 2):
        member_credits_grant_for_session(session_id=ended_members_session(started_ago_hours=hours).pk)
    now = timezone.now()
    assert member_credits_take_for_renewal(membership=member, now=now) == 250
    assert member_credits_take_for_renewal(membership=member, now=now) == 0
    assert set(MemberCredit.objects.values_list("status", flat=True)) == {MemberCredit.Status.APPLIED}


class FakeBalance:
    """stripe.Customer.create_balance_transaction as Stripe behaves: one transaction per idempotency key."""

    def __init__(self):
        self.calls, self.by_key = [], {}

    def __call__(self, customer, **params):
        self.calls.append((customer, params))
        key = params["idempotency_key"]
        if key not in self.by_key:
            self.by_key[key] = {"id": f"cbtxn_{len(self.by_key) + 1:04d}", "amount": params["amount"]}
        return self.by_key[key]


@pytest.fixture
def fake_balance(monkeypatch):
    import stripe

    fake = FakeBalance()
    monkeypatch.setattr(stripe.Customer, "create_balance_transaction", fake)
    return fake


def test_stripe_membership_credit_becomes_one_balance_transaction(fake_balance, django_capture_on_commit_callbacks):
    # given a Stripe member who missed a session
    member = member_since_yesterday("stripe@example.com", provider="stripe", stripe_customer_id="cus_test_1")
    session = ended_members_session()
    with django_capture_on_commit_callbacks(execute=False):
        member_credits_grant_for_session(session_id=session.pk)
    # when the outbox drains (twice)
    outbox_drain()
    outbox_drain()
    # then one negative balance transaction (a credit) keyed credit-<id>, and the credit is applied to it
    credit = MemberCredit.objects.get(membership=member)
    assert len(fake_balance.calls) == 1
    customer, params = fake_balance.calls[0]
    assert customer == "cus_test_1"
    assert params["amount"] == -125 and params["currency"] == "usd"
    assert params["idempotency_key"] == f"credit-{credit.pk}"
    assert credit.status == MemberCredit.Status.APPLIED and credit.applied_to == "cbtxn_0001"


def test_stripe_credit_sent_twice_reuses_the_idempotency_key_and_applies_once(fake_balance):
    # given a credit whose send succeeded at Stripe but whose worker died before marking the row done
    from commerce.memberships.services_credits import member_credit_stripe_send
    from commerce.services.outbox import Delivery

    member_since_yesterday("retry@example.com", provider="stripe", stripe_customer_id="cus_test_2")
    member_credits_grant_for_session(session_id=ended_members_session().pk)
    credit = MemberCredit.objects.get()
    delivery = Delivery(
        id=1, kind="member_credit_stripe", key=f"credit-{credit.pk}", payload={"credit_id": credit.pk}, attempt=1
    )
    MemberCredit.objects.filter(pk=credit.pk).update(status=MemberCredit.Status.AVAILABLE)
    fake_balance.by_key[f"credit-{credit.pk}"] = {"id": "cbtxn_first", "amount": -125}
    # when the send runs again
    member_credit_stripe_send(delivery)
    member_credit_stripe_send(delivery)
    # then Stripe answered with the first transaction (same key), and the credit is applied once to it
    credit.refresh_from_db()
    assert [p["idempotency_key"] for _c, p in fake_balance.calls] == [f"credit-{credit.pk}"]
    assert credit.applied_to == "cbtxn_first"
    assert OutboxMessage.objects.filter(kind="member_credit_stripe").count() == 1
