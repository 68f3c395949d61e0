"""django-q2 task and outbox senders of memberships (docs/memberships.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..services import outbox
from .models import Membership


def member_email_send(delivery: outbox.Delivery) -> None:
    """Outbox sender (kind `member_email`): payload {"membership_id", "reason": "welcome" | "link"}.

    The member link (/members/pass/<pass>/) goes only to the address on the membership's customer. The
    Message-ID comes from the outbox key, so a re-delivery after a killed worker is the same e-mail.
    """
    membership = Membership.objects.select_related("plan", "customer").get(pk=delivery.payload["membership_id"])
    link = settings.SITE_URL + reverse("members:pass", kwargs={"token": membership.pass_token})
    welcome = delivery.payload.get("reason") == "welcome"
    subject = f"Welcome to {membership.plan.name}" if welcome else f"Your member link: {membership.plan.name}"
    body = render_to_string(
        "commerce/members/email_link.txt", {"membership": membership, "link": link, "welcome": welcome}
    )
    EmailMessage(subject, body, None, [membership.customer.email], headers=delivery.email_headers).send()


def member_join_confirm_send(delivery: outbox.Delivery) -> None:
    """Outbox sender (kind `member_join_confirm`): payload {"plan_slug", "email"}: the link that proves the
    address before a membership is created in its name (services_billing.membership_join_request)."""
    from .models import MembershipPlan
    from .services_billing import JOIN_CONFIRM_MAX_AGE, join_confirm_token

    plan = MembershipPlan.objects.get(slug=delivery.payload["plan_slug"])
    email = delivery.payload["email"]
    token = join_confirm_token(plan_slug=plan.slug, email=email)
    link = settings.SITE_URL + reverse("members:join_confirm", kwargs={"slug": plan.slug, "token": token})
    body = render_to_string(
        "commerce/members/email_join_confirm.txt",
        {"plan": plan, "link": link, "hours": JOIN_CONFIRM_MAX_AGE // 3600},
    )
    EmailMessage(f"Confirm to join {plan.name}", body, None, [email], headers=delivery.email_headers).send()


def membership_stripe_cancel_send(delivery: outbox.Delivery) -> None:
    """Outbox sender (kind `membership_stripe_cancel`): cancel a Stripe subscription whose grace period ended.
    Retried with backoff while Stripe is unreachable; cancelling twice is harmless (already cancelled)."""
    import stripe

    from . import stripe_billing

    try:
        stripe_billing.subscription_cancel(subscription_id=delivery.payload["subscription_id"])
    except Exception as exc:
        cause = exc.__cause__
        if isinstance(cause, stripe.InvalidRequestError):  # already cancelled or gone: nothing left to do
            return
        raise


def memberships_sweep_task() -> dict:
    """Schedule `commerce.memberships_sweep` (every 5 minutes): renew/end manual memberships, end lapsed grace."""
    from .services_billing import memberships_sweep

    return memberships_sweep(now=timezone.now())
