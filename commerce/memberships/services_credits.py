"""Missed-session credits (docs/members-only.md, "Missed-session credit").

The rule, once:
- When a members-only session has ended (status `ended`, CREDIT_DELAY after `ended_at`, so the watch
  evidence and the analytics identity of the last polls are written), every membership that granted
  access at the session's start (`went_live_at`, else the planned start) and is still open (active or
  past due) gets one MemberCredit for it unless the member has watch evidence for the session.
- Watch evidence: a sessions_app.WatchEvidence row (server-recorded status polls while live) of a visitor
  identified as the member's customer (analytics.VisitorAlias). A member's visit to a session page with
  their pass carries their customer id in its view event, which is what links the browser to them.
- Amount: plan.price_minor × plan.missed_credit_percent / 100, rounded down to the currency's step
  (commerce.money.round_to_step), capped so that the credits for sessions that started in one billing
  period never add up to more than one interval's price. Minor units of the plan's currency.
- Once: the unique constraint (membership, session) plus the membership's row lock while the amount is
  computed, so two sweeps racing give one credit, and two sessions racing never break the cap.
- Where it goes: Stripe memberships get a Stripe customer balance transaction (a negative amount is a
  credit Stripe takes off the next invoice), sent through the outbox with the idempotency key
  `credit-<id>` and marked applied with the balance transaction id. Manual memberships: the renewal takes
  the available credits off its price (member_credits_take_for_renewal), each credit once.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from ..money import round_to_step
from ..services.outbox import Delivery, PermanentFailure, outbox_enqueue
from .models import MemberCredit, Membership, MembershipPlan

log = logging.getLogger(__name__)

CREDIT_DELAY = dt.timedelta(minutes=15)  # after the end: the last polls' evidence and identity are written
CREDIT_LOOKBACK = dt.timedelta(days=14)  # the sweep looks at sessions that ended this recently
OUTBOX_KIND = "member_credit_stripe"


def member_credit_amount(*, plan: MembershipPlan) -> int:
    """One missed session's credit before the cap: price × percent / 100, rounded down to the currency's
    step (minor units of plan.currency)."""
    return round_to_step(plan.price_minor * plan.missed_credit_percent // 100, plan.currency, down=True)


def _session_start(session) -> dt.datetime:
    return session.went_live_at or session.starts_at


def memberships_owed_credit(*, session) -> QuerySet[Membership]:
    """Selector: open memberships that granted access at the session's start and whose customer has no
    watch evidence for it (module docstring), in primary-key order (the lock order)."""
    from analytics.models import VisitorAlias
    from sessions_app.models import WatchEvidence

    start = _session_start(session)
    granted = Q(status=Membership.Status.ACTIVE) & (
        Q(current_period_end__isnull=True) | Q(current_period_end__gt=start)
    ) | Q(status=Membership.Status.PAST_DUE, grace_until__gt=start)
    began = Q(started_at__lte=start) | Q(started_at__isnull=True, created_at__lte=start)
    watchers = VisitorAlias.objects.filter(
        visitor_id__in=WatchEvidence.objects.filter(session_id=session.pk).values("visitor_id")
    ).values("customer_id")
    return (
        Membership.objects.filter(granted & began)
        .exclude(customer_id__in=watchers)
        .select_related("plan")
        .order_by("pk")
    )


def member_credit_grant(*, membership_id: int, session_id: int, now: dt.datetime) -> MemberCredit | None:
    """Give one membership its credit for a missed session, once; returns the new credit or None.

    Locks the membership row, so concurrent sweeps serialize: the second finds the credit (None), and
    the per-period cap is computed from committed credits. None also when the cap leaves nothing.
    For a Stripe membership the balance transaction is queued in the same transaction (outbox).
    """
    from sessions_app.models import LiveSession

    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("plan").get(pk=membership_id)
        if MemberCredit.objects.filter(membership_id=membership.pk, session_id=session_id).exists():
            return None
        plan = membership.plan
        session = LiveSession.objects.get(pk=session_id)
        amount = min(member_credit_amount(plan=plan), _room_in_period(membership, plan))
        if amount <= 0:
            return None
        credit = MemberCredit.objects.create(
            membership=membership, session_id=session.pk, amount_minor=amount, currency=plan.currency
        )
        if membership.provider == "stripe" and membership.stripe_customer_id:
            outbox_enqueue(kind=OUTBOX_KIND, key=f"credit-{credit.pk}", payload={"credit_id": credit.pk}, now=now)
    return credit


def _room_in_period(membership: Membership, plan: MembershipPlan) -> int:
    """One interval's price minus the credits (not void) for sessions that started in the current period."""
    credits = MemberCredit.objects.filter(membership_id=membership.pk).exclude(status=MemberCredit.Status.VOID)
    if membership.current_period_start is not None:
        credits = credits.filter(
            Q(session__went_live_at__gte=membership.current_period_start)
            | Q(session__went_live_at__isnull=True, session__starts_at__gte=membership.current_period_start)
        )
    else:  # no period known (manual membership before its first renewal): what is still available counts
        credits = credits.filter(status=MemberCredit.Status.AVAILABLE)
    taken = credits.aggregate(total=Sum("amount_minor"))["total"] or 0
    return max(plan.price_minor - taken, 0)


def member_credits_grant_for_session(*, session_id: int, now: dt.datetime | None = None) -> int:
    """Apply the missed-session rule to one ended members-only session; returns the credits created.

    Idempotent (each membership once per session). Does nothing for a session that is not members-only
    or not ended.
    """
    from sessions_app.models import LiveSession
    from sessions_app.watch import watch_evidence_flush

    now = now or timezone.now()
    session = LiveSession.objects.get(pk=session_id)
    if not session.members_only or session.status != LiveSession.Status.ENDED:
        return 0
    watch_evidence_flush(session_id=session.pk)  # the heartbeats' last minute may still be in Redis
    created = 0
    for membership_id in memberships_owed_credit(session=session).values_list("pk", flat=True):
        if member_credit_grant(membership_id=membership_id, session_id=session.pk, now=now) is not None:
            created += 1
    return created


def member_credits_grant_due(*, now: dt.datetime | None = None) -> int:
    """The sweep (schedule `commerce.member_credits_grant`): the rule for every members-only session that
    ended between CREDIT_LOOKBACK and CREDIT_DELAY ago; returns the credits created. Safe to run
    concurrently and repeatedly. A session that fails (say its watch buffer cannot be flushed) is logged
    and skipped, and retried by the next run while it is still in the window."""
    from sessions_app.models import LiveSession

    now = now or timezone.now()
    sessions = LiveSession.objects.filter(
        members_only=True,
        status=LiveSession.Status.ENDED,
        ended_at__lte=now - CREDIT_DELAY,
        ended_at__gte=now - CREDIT_LOOKBACK,
    ).order_by("pk")
    created = 0
    for pk in sessions.values_list("pk", flat=True):
        try:
            created += member_credits_grant_for_session(session_id=pk, now=now)
        except Exception:  # e.g. its watch buffer cannot be flushed now: the next run (same window) retries it
            log.exception("member credits: session %s skipped this run; the others go on", pk)
    return created


def member_credit_stripe_send(delivery: Delivery) -> None:
    """Outbox sender: push one credit to the member's Stripe customer balance, then mark it applied.

    Stripe call: POST /v1/customers/{cus}/balance_transactions with amount = −credit (Stripe's integer
    units for the currency, commerce.money.stripe_amount; negative = credit towards the next invoice),
    Idempotency-Key `credit-<id>`: a retried send returns the same balance transaction. A credit that
    is no longer available (applied or void) is not sent again.
    """
    import stripe

    from ..money import stripe_amount
    from ..payments.stripe_checkout import _client_kwargs, _stripe_call

    credit = MemberCredit.objects.select_related("membership").filter(pk=delivery.payload["credit_id"]).first()
    if credit is None:
        raise PermanentFailure("credit gone")
    if credit.status != MemberCredit.Status.AVAILABLE:
        return
    result = _stripe_call(
        stripe.Customer.create_balance_transaction,
        credit.membership.stripe_customer_id,
        amount=-stripe_amount(credit.amount_minor, credit.currency),
        currency=credit.currency.lower(),
        description=f"Missed members-only session credit #{credit.pk}",
        metadata={"member_credit_id": str(credit.pk), "session_id": str(credit.session_id)},
        idempotency_key=f"credit-{credit.pk}",
        **_client_kwargs(),
    )
    member_credit_mark_applied(credit_id=credit.pk, applied_to=result["id"], now=timezone.now())


def member_credit_mark_applied(*, credit_id: int, applied_to: str, now: dt.datetime) -> bool:
    """Mark an available credit applied (to a Stripe balance transaction id or a renewal); True if it
    changed. One conditional UPDATE: a credit is applied once whoever calls."""
    return bool(
        MemberCredit.objects.filter(pk=credit_id, status=MemberCredit.Status.AVAILABLE).update(
            status=MemberCredit.Status.APPLIED, applied_at=now, applied_to=applied_to[:200]
        )
    )


def member_credits_take_for_renewal(*, membership, now: dt.datetime) -> int:
    """Apply the membership's available credits to the renewal being charged now; returns the minor units
    taken off (in the plan's currency, never more than one interval's price). Call inside the renewal's
    transaction; each credit is applied once (rows locked, oldest first; a credit that would take the
    total past the price stays available for the next renewal)."""
    price = membership.plan.price_minor
    taken = 0
    credits = (
        MemberCredit.objects.select_for_update()
        .filter(membership_id=membership.pk, status=MemberCredit.Status.AVAILABLE)
        .order_by("pk")
    )
    with transaction.atomic():
        for credit in credits:
            if taken + credit.amount_minor > price:
                continue
            if member_credit_mark_applied(credit_id=credit.pk, applied_to=f"renewal {now.isoformat()}", now=now):
                taken += credit.amount_minor
    return taken
