"""Memberships: joining a plan, provider events applied exactly once and in order, self-service, the sweep.

docs/memberships.md has the states, the grace period and the event ordering rule. Summary:

- `membership_join`: one open membership (incomplete/active/past_due) per customer and plan (the partial
  unique constraint decides under races). `manual` provider (the demo, no payment): active at once for one
  interval. `stripe`: an `incomplete` membership plus a Checkout Session in subscription mode; webhooks
  activate it. The pass (the member's secret) goes only to the browser that created the membership or,
  by e-mail, to the address on file: never to someone typing an address that already has a membership.
- `membership_event_apply`: a Stripe event, exactly once (MembershipEvent.key = "stripe:<event id>",
  unique) and in order: under the membership's row lock, a subscription snapshot older than the newest
  one applied (`created` < Membership.provider_state_at) is recorded as "stale" and ignored; an
  `invoice.paid` only ever moves `current_period_end` forward.
- Self-service and staff: cancel at period end / resume / end now (Stripe through its API, manual locally).
- `memberships_sweep`: manual memberships renew (missed-session credits taken) or end at period end;
  past-due memberships end when the grace period is over. Idempotent, one row lock per membership.

Every write takes `now` (aware UTC) and runs in `transaction.atomic`. Money is minor units + ISO currency.
"""

from __future__ import annotations

import calendar
import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse

from ..exceptions import CommerceError, ErrorCode, InvalidTransition
from ..identity import clean_email, normalize_email
from ..payments.stripe_checkout import our_amount
from ..services.customers import customer_lock_or_create
from ..services.outbox import outbox_enqueue
from . import stripe_billing
from .models import Membership, MembershipEvent, MembershipPlan
from .services_credits import member_credits_take_for_renewal

OPEN = (Membership.Status.INCOMPLETE, Membership.Status.ACTIVE, Membership.Status.PAST_DUE)
# Stripe keeps a Checkout Session open at least 30 minutes (default 24 h; we ask for 31 min): an incomplete
# membership younger than this may still be paid, older ones are abandoned and replaced.
CHECKOUT_OPEN_SECONDS = 31 * 60
SUBSCRIPTION_EVENTS = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
}
INVOICE_EVENTS = {"invoice.paid", "invoice.payment_failed"}
CHECKOUT_EVENTS = {"checkout.session.completed", "checkout.session.expired", "checkout.session.async_payment_succeeded"}


class MembershipExists(CommerceError):
    """This address already has an open membership of the plan (409 `membership_exists`)."""

    code = ErrorCode.MEMBERSHIP_EXISTS


class MembershipCheckoutOpen(CommerceError):
    """A Stripe checkout for this address and plan is still open (409 `membership_checkout_open`)."""

    code = ErrorCode.MEMBERSHIP_CHECKOUT_OPEN


class PlanUnavailable(CommerceError):
    """No such plan, or it is not offered to new members (404 `plan_unavailable`)."""

    code = ErrorCode.PLAN_UNAVAILABLE
    status = 404


@dataclass(frozen=True)
class JoinResult:
    """`outcome`: "created" (the pass is this browser's: `membership.pass_token`), or "exists" (the member
    link was e-mailed to the address; nothing is handed to the caller). `redirect_url`: where the browser
    goes next (Stripe Checkout, or the welcome page of the manual demo); empty for "exists"."""

    outcome: str
    membership: Membership | None
    redirect_url: str = ""


def interval_end(start: dt.datetime, interval: str) -> dt.datetime:
    """One plan interval after `start`: 7 days (week) or the same day next month (clamped to its last day)."""
    if interval == MembershipPlan.Interval.WEEK:
        return start + dt.timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _event(*, key: str, membership, type: str, outcome: str, created: int = 0, amount_minor: int = 0, currency=""):
    return MembershipEvent.objects.create(
        key=key[:200],
        membership=membership,
        provider=membership.provider if membership else "stripe",
        type=type,
        created=created,
        outcome=outcome,
        amount_minor=amount_minor,
        currency=currency,
    )


def _local_key(kind: str, membership: Membership, now: dt.datetime) -> str:
    return f"local:{kind}:{membership.pk}:{int(now.timestamp())}:{secrets.token_hex(4)}"


def member_link_email_enqueue(*, membership: Membership, reason: str, now: dt.datetime) -> bool:
    """Queue the e-mail carrying the member link (/members/pass/<pass>/) to the address on file.

    `reason`: "welcome" (once per membership) or "link" (asked for; at most one per membership per 10 minutes,
    the rest deduplicated). Call inside the transaction."""
    bucket = "welcome" if reason == "welcome" else f"link:{int(now.timestamp()) // 600}"
    return outbox_enqueue(
        kind="member_email",
        key=f"member-email:{membership.pk}:{bucket}",
        payload={"membership_id": membership.pk, "reason": reason},
        now=now,
    )


JOIN_CONFIRM_SALT = "commerce.memberships.join"
JOIN_CONFIRM_MAX_AGE = 24 * 3600  # seconds a join confirmation link stays valid


def join_confirm_token(*, plan_slug: str, email: str) -> str:
    """The signed, timestamped token of a join confirmation link (/members/join/<plan>/confirm/<token>/)."""
    return signing.dumps({"p": plan_slug, "e": email}, salt=JOIN_CONFIRM_SALT, compress=True)


def join_confirm_read(token: str, *, plan_slug: str) -> str | None:
    """The e-mail address a confirmation token was issued to for `plan_slug`, or None (forged, expired
    after JOIN_CONFIRM_MAX_AGE seconds, or for another plan)."""
    try:
        data = signing.loads(token, salt=JOIN_CONFIRM_SALT, max_age=JOIN_CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p") != plan_slug or not isinstance(data.get("e"), str):
        return None
    return data["e"]


def membership_join_request(*, plan_slug: str, email: str, now: dt.datetime) -> None:
    """Step one of joining from a browser: prove the address first (docs/memberships.md, "Joining").

    Whoever types an address gets the same answer ("check your e-mail"), so nobody learns whether it
    belongs to a member, and nobody joins in someone else's name: an address with an open membership of
    the plan gets its member link; any other address gets a confirmation link (signed, valid
    JOIN_CONFIRM_MAX_AGE seconds) whose page calls membership_join. At most one e-mail per address and
    plan per 10 minutes (outbox key). Raises PlanUnavailable, ValidationError (bad address).
    """
    typed = clean_email(email)
    with transaction.atomic():
        plan = MembershipPlan.objects.filter(slug=plan_slug, is_active=True).first()
        if plan is None:
            raise PlanUnavailable("This plan is not offered.", field="plan")
        existing = (
            Membership.objects.filter(
                customer__email_normalized=normalize_email(typed),
                plan=plan,
                status__in=(Membership.Status.ACTIVE, Membership.Status.PAST_DUE),
            )
            .order_by("-pk")
            .first()
        )
        if existing is not None:
            member_link_email_enqueue(membership=existing, reason="link", now=now)
            return
        outbox_enqueue(
            kind="member_join_confirm",
            key=f"member-join:{plan.pk}:{normalize_email(typed)}:{int(now.timestamp()) // 600}",
            payload={"plan_slug": plan.slug, "email": typed},
            now=now,
        )


def membership_join(*, plan_slug: str, email: str, now: dt.datetime, provider: str | None = None) -> JoinResult:
    """Join `plan_slug` for `email` (any case/format; normalized to one customer).

    - No open membership: a new one. manual → active until now + one interval (event "manual:join");
      stripe → incomplete with a Checkout Session (subscription mode), `redirect_url` = Stripe's page.
    - An active or past-due one: its member link is e-mailed to the address (outcome "exists"): the caller,
      who may not own the address, gets nothing.
    - An incomplete one younger than CHECKOUT_OPEN_SECONDS: MembershipCheckoutOpen; older: ended as
      abandoned and replaced.
    Raises PlanUnavailable, ValidationError (bad address), PaymentProviderError (Stripe refused/unreachable:
    nothing is kept).
    """
    provider = provider or ("stripe" if stripe_billing.stripe_configured() else "manual")
    with transaction.atomic():
        plan = MembershipPlan.objects.filter(slug=plan_slug, is_active=True).first()
        if plan is None:
            raise PlanUnavailable("This plan is not offered.", field="plan")
        customer = customer_lock_or_create(email=email)  # serialises one customer's joins
        existing = Membership.objects.select_for_update().filter(customer=customer, plan=plan, status__in=OPEN).first()
        if existing is not None and existing.status == Membership.Status.INCOMPLETE:
            if (now - existing.created_at).total_seconds() < CHECKOUT_OPEN_SECONDS:
                raise MembershipCheckoutOpen(
                    "A checkout for this address is already open. Finish it, or try again in half an hour."
                )
            _end(existing, now=now, key=_local_key("abandoned", existing, now), type="checkout.abandoned")
            existing = None
        if existing is not None:
            member_link_email_enqueue(membership=existing, reason="link", now=now)
            return JoinResult("exists", None)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(plan=plan, customer=customer, provider=provider)
        except IntegrityError as exc:  # another process joined in between (the constraint decides)
            raise MembershipExists("This address already has this membership.", field="email") from exc
        welcome = settings.SITE_URL + reverse("members:welcome", kwargs={"token": membership.pass_token})
        if provider == "stripe":
            session = stripe_billing.checkout_session_for_membership(
                membership=membership,
                success_url=welcome + "?session_id={CHECKOUT_SESSION_ID}",
                cancel_url=settings.SITE_URL + reverse("members:join", kwargs={"slug": plan.slug}) + "?cancelled=1",
            )
            membership.checkout_reference, membership.checkout_url = session["id"], session["url"]
            membership.save(update_fields=["checkout_reference", "checkout_url", "updated_at"])
            _event(
                key=f"local:checkout:{membership.pk}", membership=membership, type="checkout.started", outcome="applied"
            )
            return JoinResult("created", membership, session["url"])
        _activate_manual(membership, now=now)
        _event(
            key=f"manual:join:{membership.pk}",
            membership=membership,
            type="manual.join",
            outcome="applied",
            created=int(now.timestamp()),
            amount_minor=plan.price_minor,
            currency=plan.currency,
        )
        member_link_email_enqueue(membership=membership, reason="welcome", now=now)
        return JoinResult("created", membership, welcome)


def _activate_manual(membership: Membership, *, now: dt.datetime) -> None:
    membership.status = Membership.Status.ACTIVE
    membership.started_at = membership.started_at or now
    membership.current_period_start = now
    membership.current_period_end = interval_end(now, membership.plan.interval)
    membership.grace_until = None
    membership.save()


def _end(membership: Membership, *, now: dt.datetime, key: str, type: str, outcome: str = "applied") -> None:
    membership.status = Membership.Status.ENDED
    membership.ended_at = membership.ended_at or now
    membership.grace_until = None
    membership.save()
    _event(key=key, membership=membership, type=type, outcome=outcome, created=int(now.timestamp()))


def member_link_request(*, email: str, now: dt.datetime) -> int:
    """ "Send me my member link": e-mail the link of every open membership of this address (to that address
    only). Returns how many were queued; callers answer the same whatever the result. Bad address: 0."""
    from django.core.exceptions import ValidationError

    from ..identity import normalize_email

    try:
        key = normalize_email(email)
    except ValidationError:
        return 0
    sent = 0
    with transaction.atomic():
        for membership in Membership.objects.filter(
            customer__email_normalized=key, status__in=(Membership.Status.ACTIVE, Membership.Status.PAST_DUE)
        ):
            sent += int(member_link_email_enqueue(membership=membership, reason="link", now=now))
    return sent


# --- provider events ------------------------------------------------------------------------------------


def _membership_for_event(event_type: str, obj: dict) -> Membership | None:
    """The membership an event is about, locked: by subscription id, else by metadata.membership_id."""
    qs = Membership.objects.select_for_update().select_related("plan")
    if event_type in SUBSCRIPTION_EVENTS:
        state = stripe_billing.SubscriptionState.from_stripe(obj)
        found = qs.filter(stripe_subscription_id=state.subscription_id).first() if state.subscription_id else None
        return found or (qs.filter(pk=state.membership_id).first() if state.membership_id else None)
    if event_type in INVOICE_EVENTS:
        sub = stripe_billing.invoice_subscription_id(obj)
        found = qs.filter(stripe_subscription_id=sub).first() if sub else None
        mid = stripe_billing.invoice_membership_id(obj)
        return found or (qs.filter(pk=mid).first() if mid else None)
    mid = str((obj.get("metadata") or {}).get("membership_id") or "")
    return qs.filter(pk=int(mid)).first() if mid.isdecimal() else None


def is_membership_event(payload: dict) -> bool:
    """Is this Stripe event about memberships (subscriptions, their invoices, subscription-mode checkouts)?"""
    event_type = payload.get("type", "")
    obj = (payload.get("data") or {}).get("object") or {}
    if event_type in SUBSCRIPTION_EVENTS or event_type in INVOICE_EVENTS:
        return True
    return event_type in CHECKOUT_EVENTS and obj.get("mode") == "subscription"


def membership_event_apply(*, payload: dict, now: dt.datetime) -> str:
    """Apply one verified Stripe event about a membership; returns the outcome recorded.

    Exactly once: the membership row is locked first, then the event's key ("stripe:<event id>") is looked
    up and inserted, so duplicates (sequential or concurrent) answer "duplicate" and change nothing.
    Outcomes: applied | stale (older than the state applied) | old_period (invoice for a period already
    covered) | ignored (nothing to change) | unknown (no membership of ours) | duplicate.
    """
    event_id = payload.get("id") or ""
    event_type = payload.get("type") or ""
    created = int(payload.get("created") or 0)
    obj = (payload.get("data") or {}).get("object") or {}
    key = f"stripe:{event_id}"
    with transaction.atomic():
        membership = _membership_for_event(event_type, obj)
        if MembershipEvent.objects.filter(key=key).exists():
            return "duplicate"
        if membership is None:
            outcome = "unknown"
        elif event_type in SUBSCRIPTION_EVENTS:
            outcome = _apply_subscription(membership, obj, created=created, deleted=event_type.endswith(".deleted"))
        elif event_type == "invoice.paid":
            outcome = _apply_invoice_paid(membership, obj, created=created)
        elif event_type == "invoice.payment_failed":
            outcome = _apply_payment_failed(membership, obj, created=created)
        elif event_type == "checkout.session.expired":
            outcome = _apply_checkout_expired(membership, now=now)
        else:
            outcome = _apply_checkout_completed(membership, obj, now=now)
        amount = 0
        if event_type in INVOICE_EVENTS:
            amount = our_amount(obj.get("amount_paid") or obj.get("amount_due"), obj.get("currency"))
        try:
            with transaction.atomic():
                _event(
                    key=key,
                    membership=membership,
                    type=event_type,
                    outcome=outcome,
                    created=created,
                    amount_minor=amount,
                    currency=(obj.get("currency") or "").upper()[:3],
                )
        except IntegrityError:  # the same unknown event delivered concurrently (no row lock to serialise it)
            return "duplicate"
        return outcome


def _apply_subscription(membership: Membership, obj: dict, *, created: int, deleted: bool) -> str:
    """A subscription snapshot, applied only if not older than the newest applied (ties: applied)."""
    if created < membership.provider_state_at:
        return "stale"
    state = stripe_billing.SubscriptionState.from_stripe(obj)
    if membership.status == Membership.Status.ENDED and not deleted:
        return "ignored"  # a cancelled Stripe subscription never comes back; a new one is a new membership
    at = stripe_billing.from_unix(created) or dt.datetime.now(tz=dt.UTC)
    membership.stripe_subscription_id = state.subscription_id or membership.stripe_subscription_id
    membership.stripe_customer_id = state.customer_id or membership.stripe_customer_id
    membership.cancel_at_period_end = state.cancel_at_period_end
    if state.current_period_end:
        membership.current_period_start = state.current_period_start
        membership.current_period_end = state.current_period_end
    status = Membership.Status.ENDED if deleted else state.status
    if status == Membership.Status.PAST_DUE and membership.status != Membership.Status.PAST_DUE:
        membership.grace_until = at + dt.timedelta(days=membership.plan.grace_days)
    elif status != Membership.Status.PAST_DUE:
        membership.grace_until = None
    if status == Membership.Status.ACTIVE:
        membership.started_at = membership.started_at or at
    if status == Membership.Status.ENDED:
        membership.ended_at = membership.ended_at or state.ended_at or at
    membership.status = status
    membership.provider_state_at = created
    membership.save()
    return "applied"


def _apply_invoice_paid(membership: Membership, obj: dict, *, created: int) -> str:
    """Payment for a period: extends `current_period_end` only forward; back to active if it was past due."""
    if membership.status == Membership.Status.ENDED:
        return "ignored"
    start, end = stripe_billing.invoice_period(obj)
    changed = False
    if end and (membership.current_period_end is None or end > membership.current_period_end):
        membership.current_period_start, membership.current_period_end = start, end
        changed = True
    if created >= membership.provider_state_at and membership.status in (
        Membership.Status.PAST_DUE,
        Membership.Status.INCOMPLETE,
    ):
        membership.status = Membership.Status.ACTIVE
        membership.grace_until = None
        membership.started_at = membership.started_at or stripe_billing.from_unix(created)
        membership.provider_state_at = created
        changed = True
    if not changed:
        return "old_period"
    membership.save()
    return "applied"


def _apply_payment_failed(membership: Membership, obj: dict, *, created: int) -> str:
    """A renewal failed: past due with grace_until = failure time + plan.grace_days (not extended by retries)."""
    if created < membership.provider_state_at:
        return "stale"
    if membership.status != Membership.Status.ACTIVE:
        return "ignored"
    _start, end = stripe_billing.invoice_period(obj)
    if end and membership.current_period_end and end <= membership.current_period_end:
        return "old_period"  # a failed attempt for a period already paid
    failed_at = stripe_billing.from_unix(created) or dt.datetime.now(tz=dt.UTC)
    membership.status = Membership.Status.PAST_DUE
    membership.grace_until = failed_at + dt.timedelta(days=membership.plan.grace_days)
    membership.provider_state_at = created
    membership.save()
    return "applied"


def _apply_checkout_completed(membership: Membership, obj: dict, *, now: dt.datetime) -> str:
    """Checkout finished: link the subscription and customer; an incomplete membership becomes active.

    The period comes with the subscription/invoice events (until then access runs without an end)."""
    sub, customer = obj.get("subscription") or "", obj.get("customer") or ""
    membership.stripe_subscription_id = membership.stripe_subscription_id or (sub if isinstance(sub, str) else "")
    membership.stripe_customer_id = membership.stripe_customer_id or (customer if isinstance(customer, str) else "")
    outcome = "ignored"
    if membership.status == Membership.Status.INCOMPLETE and obj.get("payment_status") != "unpaid":
        membership.status = Membership.Status.ACTIVE
        membership.started_at = membership.started_at or now
        member_link_email_enqueue(membership=membership, reason="welcome", now=now)
        outcome = "applied"
    membership.save()
    return outcome


def _apply_checkout_expired(membership: Membership, *, now: dt.datetime) -> str:
    if membership.status != Membership.Status.INCOMPLETE:
        return "ignored"
    membership.status = Membership.Status.ENDED
    membership.ended_at = now
    membership.save()
    return "applied"


def membership_checkout_return(*, pass_token: str, session_id: str, now: dt.datetime) -> Membership | None:
    """The buyer came back from Stripe Checkout: if the session is complete, apply it now (the webhook may be
    late); the same work as checkout.session.completed, keyed "stripe-return:<session id>" (once)."""
    membership = Membership.objects.filter(pass_token=pass_token).first()
    if membership is None or membership.status != Membership.Status.INCOMPLETE:
        return membership
    if not session_id or session_id != membership.checkout_reference:
        return membership
    session = stripe_billing.checkout_session_retrieve(session_id)
    if session.get("status") != "complete":
        return membership
    with transaction.atomic():
        locked = Membership.objects.select_for_update().select_related("plan").get(pk=membership.pk)
        key = f"stripe-return:{session_id}"
        if not MembershipEvent.objects.filter(key=key).exists():
            outcome = _apply_checkout_completed(locked, dict(session), now=now)
            _event(key=key, membership=locked, type="checkout.return", outcome=outcome, created=int(now.timestamp()))
        return locked


# --- self-service and staff -------------------------------------------------------------------------------


def _locked(membership_id: int) -> Membership:
    return Membership.objects.select_for_update().select_related("plan", "customer").get(pk=membership_id)


def membership_cancel_at_period_end(
    *, membership_id: int, cancel: bool, now: dt.datetime, actor: str = "member"
) -> Membership:
    """Cancel at period end (`cancel=True`) or resume (`False`). Stripe: the subscription is updated through
    the API first (PaymentProviderError leaves everything as it was); manual: local. Access continues until
    `current_period_end` either way. Raises InvalidTransition unless the membership is active or past due."""
    with transaction.atomic():
        m = _locked(membership_id)
        if m.status not in (Membership.Status.ACTIVE, Membership.Status.PAST_DUE):
            raise InvalidTransition("Only an active membership can be cancelled or resumed.")
        if m.cancel_at_period_end == cancel:
            return m
        if m.provider == "stripe" and m.stripe_subscription_id:
            state = stripe_billing.subscription_cancel_at_period_end_set(
                subscription_id=m.stripe_subscription_id, value=cancel
            )
            cancel = state.cancel_at_period_end
            # our own change is the newest state: older webhooks still in flight must not undo it
            m.provider_state_at = max(m.provider_state_at, int(now.timestamp()))
        m.cancel_at_period_end = cancel
        m.save()
        _event(
            key=_local_key("cancel" if cancel else "resume", m, now),
            membership=m,
            type=f"{actor}.{'cancel_at_period_end' if cancel else 'resume'}",
            outcome="applied",
            created=int(now.timestamp()),
        )
        return m


def membership_end_now(*, membership_id: int, now: dt.datetime, actor: str = "staff") -> Membership:
    """End a membership now (staff). Stripe: the subscription is cancelled through the API first. Ended
    memberships are left as they are (idempotent)."""
    with transaction.atomic():
        m = _locked(membership_id)
        if m.status == Membership.Status.ENDED:
            return m
        if m.provider == "stripe" and m.stripe_subscription_id:
            stripe_billing.subscription_cancel(subscription_id=m.stripe_subscription_id)
            m.provider_state_at = max(m.provider_state_at, int(now.timestamp()))
        _end(m, now=now, key=_local_key("end", m, now), type=f"{actor}.end_now")
        return m


def billing_portal_url(*, membership: Membership) -> str:
    """The Stripe customer portal for the member (update card, invoices, cancel), back to /members/me/.
    Raises InvalidTransition for memberships without a Stripe customer (manual provider)."""
    if membership.provider != "stripe" or not membership.stripe_customer_id:
        raise InvalidTransition("Billing is managed here for this membership (no Stripe customer).")
    return stripe_billing.billing_portal_session_create(
        customer_id=membership.stripe_customer_id, return_url=settings.SITE_URL + reverse("members:me")
    )


def plan_stripe_setup(*, plan_id: int) -> MembershipPlan:
    """Create the plan's Stripe Product + recurring Price (when keys are set) and store their ids.

    A price change needs a new Price (Stripe prices are immutable): run it again after editing the price."""
    plan = MembershipPlan.objects.get(pk=plan_id)
    product_id, price_id = stripe_billing.plan_stripe_setup(plan=plan)
    with transaction.atomic():
        plan = MembershipPlan.objects.select_for_update().get(pk=plan_id)
        plan.stripe_product_id, plan.stripe_price_id = product_id, price_id
        plan.save(update_fields=["stripe_product_id", "stripe_price_id"])
    return plan


# --- the sweep ------------------------------------------------------------------------------------------


def memberships_sweep(*, now: dt.datetime, limit: int = 500) -> dict[str, int]:
    """Renew or end due manual memberships and end past-due ones whose grace is over; returns counts.

    - manual, active, `current_period_end <= now`: `cancel_at_period_end` → ended; else renewed for one
      interval from the old end (event "manual:renew:<id>:<old end>", so a second run cannot renew twice),
      with the missed-session credits taken (member_credits_take_for_renewal) and recorded on the event.
    - any provider, past due, `grace_until <= now`: ended (Stripe: the subscription is cancelled through the
      outbox, kind `membership_stripe_cancel`, so a dead Stripe cannot block the sweep).
    Each membership in its own transaction, re-checked under its row lock: safe to run on many workers and
    after a killed one.
    """
    counts = {"renewed": 0, "ended": 0, "grace_over": 0}
    due = Membership.objects.filter(
        provider="manual", status=Membership.Status.ACTIVE, current_period_end__lte=now
    ).values_list("pk", flat=True)[:limit]
    for pk in list(due):
        with transaction.atomic():
            m = _locked(pk)
            if not (m.status == Membership.Status.ACTIVE and m.current_period_end and m.current_period_end <= now):
                continue
            if m.cancel_at_period_end:
                _end(m, now=now, key=f"manual:end:{m.pk}:{int(m.current_period_end.timestamp())}", type="sweep.end")
                counts["ended"] += 1
                continue
            old_end = m.current_period_end
            credit = member_credits_take_for_renewal(membership=m, now=now)
            start = old_end if now - old_end < dt.timedelta(days=1) else now  # long-dead workers: no back-dating
            m.current_period_start, m.current_period_end = start, interval_end(start, m.plan.interval)
            m.save()
            _event(
                key=f"manual:renew:{m.pk}:{int(old_end.timestamp())}",
                membership=m,
                type="sweep.renew",
                outcome="applied",
                created=int(now.timestamp()),
                amount_minor=max(0, m.plan.price_minor - credit),
                currency=m.plan.currency,
            )
            counts["renewed"] += 1
    lapsed = Membership.objects.filter(status=Membership.Status.PAST_DUE, grace_until__lte=now).values_list(
        "pk", flat=True
    )[:limit]
    for pk in list(lapsed):
        with transaction.atomic():
            m = _locked(pk)
            if not (m.status == Membership.Status.PAST_DUE and m.grace_until and m.grace_until <= now):
                continue
            if m.provider == "stripe" and m.stripe_subscription_id:
                outbox_enqueue(
                    kind="membership_stripe_cancel",
                    key=f"membership-stripe-cancel:{m.pk}",
                    payload={"subscription_id": m.stripe_subscription_id},
                    now=now,
                )
            _end(m, now=now, key=f"sweep:grace_over:{m.pk}", type="sweep.grace_over")
            counts["grace_over"] += 1
    return counts
