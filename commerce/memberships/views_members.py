"""Storefront pages of memberships (docs/memberships.md). Thin: parse, call one service, render.

- /members/                 plans on offer + "send me my member link"
- /members/join/<slug>/     join form (e-mail). manual provider: labelled demo, active at once; stripe: Checkout
- /members/welcome/<pass>/  after joining: sets the signed `mm_member` cookie, then /members/me/
- /members/pass/<pass>/     the e-mailed member link: sets the cookie, then /members/me/
- /members/me/              status in words, cancel at period end / resume (POST), Stripe customer portal

The pass is never shown to someone who merely typed an address: joining with an address that already has a
membership answers "check your e-mail" and e-mails the link to that address.
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.client_ip import client_ip, client_network

from ..exceptions import CommerceError
from ..ratelimit import Limit, rate_limits_hit
from . import services_billing, stripe_billing
from .forms_members import MemberEmailForm
from .identity import member_cookie_set, member_pass_from_request
from .models import MembershipPlan
from .selectors import membership_by_pass, membership_status_words, plans_active

CHECK_EMAIL = (
    "Check your e-mail: we have sent this address a link to confirm and join (or, if it already has this "
    "membership, its member link). Nothing happens without it."
)
LINK_SENT = "If this address has a membership, we have e-mailed it the member link. It may take a minute."


def _rate_limited(request, name: str) -> int | None:
    """One attempt per client network against the join/link limit; seconds to wait when over it, else None."""
    network = client_network(client_ip(request)) or "unknown"
    limit = getattr(settings, "MEMBER_JOIN_RATE_LIMIT", 10)
    window = getattr(settings, "MEMBER_JOIN_RATE_WINDOW_SECONDS", 600)
    exceeded = rate_limits_hit([Limit(f"members:{name}", network, limit, window)])
    return exceeded.retry_after if exceeded else None


def _manual_demo() -> bool:
    return not stripe_billing.stripe_configured()


@require_GET
def plans_page(request):
    """The plans on offer, with the "send me my member link" form."""
    return render(
        request,
        "commerce/members/plans.html",
        {"plans": plans_active(), "form": MemberEmailForm(), "manual_demo": _manual_demo()},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def join_page(request, slug: str):
    """GET: the join form. POST: membership_join → Stripe Checkout, the welcome page (new manual membership),
    or "check your e-mail" (the address already has one). 429 when rate limited, 409 for a checkout still open."""
    plan = MembershipPlan.objects.filter(slug=slug, is_active=True).first()
    if plan is None:
        raise Http404
    form = MemberEmailForm(request.POST or None)
    status, done, retry_after = 200, False, None
    own = _member(request)  # this browser's own membership (its cookie), if it is of this plan and open
    already = own if own and own.plan_id == plan.pk and own.status in ("active", "past_due") else None
    if request.method == "POST" and already is None:
        retry_after = _rate_limited(request, "join")
        if retry_after:
            form.is_valid()
            form.add_error(None, f"Too many tries in a short time. Please try again in {retry_after} seconds.")
            status = 429
        elif form.is_valid():
            try:  # step one: prove the address (the same answer whoever types it)
                services_billing.membership_join_request(
                    plan_slug=plan.slug, email=form.cleaned_data["email"], now=timezone.now()
                )
            except ValidationError as exc:
                form.add_error("email", exc)
                status = 400
            except CommerceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = exc.status if exc.status < 500 else 502
            else:
                done = True
        else:
            status = 400
    response = render(
        request,
        "commerce/members/join.html",
        {
            "plan": plan,
            "perks": [p.strip() for p in plan.perks.splitlines() if p.strip()],
            "form": form,
            "done": done,
            "message": CHECK_EMAIL,
            "manual_demo": _manual_demo(),
            "cancelled": request.GET.get("cancelled") == "1",
            "already": already,
        },
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def join_confirm(request, slug: str, token: str):
    """The e-mailed join link (services_billing.membership_join_request). GET: a "Confirm and join" button
    (a POST, so mail scanners that open links join nobody). POST: membership_join for the address the link
    was sent to → Stripe Checkout, or the welcome page (manual), or "you are already a member: we e-mailed
    your member link". A forged, expired or foreign link answers 404; Stripe refusing answers 502."""
    plan = MembershipPlan.objects.filter(slug=slug, is_active=True).first()
    email = services_billing.join_confirm_read(token, plan_slug=slug) if plan else None
    if email is None:
        raise Http404
    status, error, exists = 200, "", False
    if request.method == "POST":
        try:
            result = services_billing.membership_join(plan_slug=plan.slug, email=email, now=timezone.now())
        except (ValidationError, CommerceError) as exc:
            error = getattr(exc, "message", None) or "; ".join(getattr(exc, "messages", [str(exc)]))
            status = getattr(exc, "status", 400)
            status = status if status < 500 else 502  # 502: Stripe refused or is unreachable
        else:
            if result.outcome == "created":
                return redirect(result.redirect_url)
            exists = True
    return render(
        request,
        "commerce/members/join_confirm.html",
        {"plan": plan, "email": email, "error": error, "exists": exists, "manual_demo": _manual_demo()},
        status=status,
    )


def _open_with_pass(request, token: str):
    membership = membership_by_pass(token)
    if membership is None:
        raise Http404
    response = redirect("members:me")
    member_cookie_set(response, membership)
    return membership, response


@never_cache
@require_GET
def welcome(request, token: str):
    """After joining: with `?session_id=` (back from Stripe Checkout) the session is checked at Stripe so the
    membership is active even before the webhook; then the cookie is set and the browser goes to /members/me/."""
    membership, response = _open_with_pass(request, token)
    session_id = request.GET.get("session_id", "")[:255]
    if session_id:
        with contextlib.suppress(CommerceError):  # Stripe unreachable: the webhook activates it
            services_billing.membership_checkout_return(pass_token=token, session_id=session_id, now=timezone.now())
    messages.success(request, f"Welcome to {membership.plan.name}. This device now opens your membership.")
    return response


@never_cache
@require_GET
def pass_link(request, token: str):
    """The e-mailed member link: sets the `mm_member` cookie on this device, then /members/me/."""
    _membership, response = _open_with_pass(request, token)
    return response


@never_cache
@require_POST
def link_request(request):
    """ "Send me my member link": the same answer whatever the address (and whether it has a membership)."""
    form = MemberEmailForm(request.POST)
    retry_after = _rate_limited(request, "link")
    if retry_after:
        messages.error(request, f"Too many tries in a short time. Please try again in {retry_after} seconds.")
    elif form.is_valid():
        services_billing.member_link_request(email=form.cleaned_data["email"], now=timezone.now())
        messages.success(request, LINK_SENT)
    else:
        messages.error(request, "Enter a valid e-mail address.")
    return redirect("members:plans")


def _member(request):
    return membership_by_pass(member_pass_from_request(request))


@never_cache
@require_GET
def manage_page(request):
    """The member's own page (needs the `mm_member` cookie): status in words, cancel/resume, billing."""
    now = timezone.now()
    membership = _member(request)
    if membership is None:
        return render(request, "commerce/members/me.html", {"membership": None, "form": MemberEmailForm()})
    return render(
        request,
        "commerce/members/me.html",
        {
            "membership": membership,
            "status_words": membership_status_words(membership, now=now),
            "grants_access": membership.grants_access(now),
            "can_change": membership.status in ("active", "past_due"),
            "stripe_portal": membership.provider == "stripe" and bool(membership.stripe_customer_id),
            "events": membership.events.order_by("-received_at")[:10],
        },
    )


def _cancel_or_resume(request, *, cancel: bool):
    membership = _member(request)
    if membership is None:
        return redirect("members:me")
    try:
        services_billing.membership_cancel_at_period_end(
            membership_id=membership.pk, cancel=cancel, now=timezone.now(), actor="member"
        )
    except CommerceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            "Your membership will end at the end of this period." if cancel else "Your membership renews again.",
        )
    return redirect("members:me")


@never_cache
@require_POST
def manage_cancel(request):
    """POST (CSRF): cancel at the end of the current period (access continues until then)."""
    return _cancel_or_resume(request, cancel=True)


@never_cache
@require_POST
def manage_resume(request):
    """POST (CSRF): undo "cancel at period end"."""
    return _cancel_or_resume(request, cancel=False)


@never_cache
@require_GET
def manage_billing(request):
    """Stripe memberships: a customer portal session (card, invoices), then back to /members/me/. A link (GET)
    rather than a form, as the portal is on Stripe's host (the CSP's form-action lists only Checkout)."""
    membership = _member(request)
    if membership is None:
        return redirect("members:me")
    try:
        return redirect(services_billing.billing_portal_url(membership=membership))
    except CommerceError as exc:
        messages.error(request, exc.message)
        return redirect("members:me")
