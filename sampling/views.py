"""Storefront views: the micro-form, the request page with its address step, the follow-up offer.

Thin: parse, call one service, render. With `Accept: application/json` the
micro-form answers JSON so the session page can show the answer without leaving
the stream.

Buyer links are private: the micro-form never shows a request's link, nor
whether that e-mail address already asked. Accepted, waitlisted, already
requested and a "not eligible" that is about the e-mail's owner all get the
same answer, "check your inbox" (answer `check_inbox`); the e-mail, sent only
to the address on file, has the real answer and the link. Only a refusal that
depends on nothing but the form and the campaign (closed, use case, country)
is shown at once (answer `not_eligible`). See docs/abuse-limits.md.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from commerce.exceptions import CommerceError
from commerce.forms import HoldForm
from commerce.models import Drop
from commerce.selectors import drop_status
from config.client_ip import client_ip
from sessions_app.models import LiveSession

from .addresses import country_choices
from .exceptions import SamplingError
from .forms import AddressForm, MicroForm
from .models import FollowUpOffer, SampleCampaign, SampleRequest
from .services import followup
from .services.requests import Answer, sample_request_create, sample_request_set_address

GEO_HEADERS = ("HTTP_CF_IPCOUNTRY", "HTTP_X_COUNTRY_CODE")
CHECK_INBOX = "check_inbox"
PUBLIC_TITLES = {CHECK_INBOX: "Check your inbox", str(Answer.NOT_ELIGIBLE): "Not eligible for this sample"}


def geo_country(request) -> str:
    """ISO country of the client from the CDN header (CF-IPCountry / X-Country-Code), '' if unknown."""
    for header in GEO_HEADERS:
        value = (request.META.get(header) or "").strip().upper()
        if len(value) == 2 and value.isalpha() and value != "XX":
            return value
    return ""


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_http_methods(["GET", "POST"])
def request_form(request, slug: str):
    """GET: the micro-form at its own URL. POST: answer it (page, or JSON for the session page's script).

    The optional `session` (the session page's hidden field, a public id) must be a public session whose
    page shows this campaign's form (_campaign_on_session); anything else is a 400 field error on
    `session` and nothing is written."""
    campaign = get_object_or_404(SampleCampaign.objects.select_related("sku__product"), slug=slug)
    form = MicroForm(request.POST or None, campaign=campaign, initial={"session": request.GET.get("session")})
    outcome = error = None
    session = None
    if request.method == "POST" and form.is_valid() and form.cleaned_data.get("session"):
        session = LiveSession.objects.filter(public_id=form.cleaned_data["session"], is_private=False).first()
        if session is None or not _campaign_on_session(campaign, session):
            # a made-up or foreign session id would credit the request to a session that never showed it
            form.add_error("session", "This form is not part of that session.")
    if request.method == "POST" and form.is_valid():
        try:
            outcome = sample_request_create(
                visitor_id=getattr(request, "visitor_id", None),
                campaign_id=campaign.pk,
                email=form.cleaned_data["email"],
                use_case=form.cleaned_data["use_case"],
                consent=form.cleaned_data["consent"],
                ip=client_ip(request),
                geo_country=geo_country(request),
                session_id=session.pk if session else None,
                source="session" if session else "form",
            )
        except SamplingError as exc:
            error = exc
            form.add_error(None, exc.message)
    answer = _public_answer(outcome) if outcome is not None else ""
    message = _public_message(outcome, form) if outcome is not None else ""
    if _wants_json(request) and request.method == "POST":
        if outcome is not None:
            return JsonResponse({"answer": answer, "title": PUBLIC_TITLES[answer], "message": message})
        status = error.status if error else 400
        return JsonResponse(
            {
                "answer": "error",
                "code": str(error.code) if error else "invalid",
                "message": error.message if error else "Please check the form.",
                "fields": {k: [str(e) for e in v] for k, v in form.errors.items()},
            },
            status=status,
        )
    status = 200 if outcome or request.method == "GET" else (error.status if error else 400)
    return render(
        request,
        "sampling/request.html",
        {
            "campaign": campaign,
            "form": form,
            "outcome": outcome,
            "answer": answer,
            "title": PUBLIC_TITLES.get(answer, ""),
            "message": message,
        },
        status=status,
    )


def _campaign_on_session(campaign: SampleCampaign, session: LiveSession) -> bool:
    """True when the campaign's form is one the session's page shows: attached to the session, or to its
    series without a session of its own (sampling.selectors.campaigns_for_session's rule)."""
    if campaign.session_id is not None:
        return campaign.session_id == session.pk
    return campaign.series_id is not None and campaign.series_id == session.series_id


def _public_answer(outcome) -> str:
    """What whoever typed the address may learn: only campaign-wide refusals are told at once."""
    if outcome.answer == Answer.NOT_ELIGIBLE and not outcome.details.get("personal"):
        return str(Answer.NOT_ELIGIBLE)
    return CHECK_INBOX


def _public_message(outcome, form) -> str:
    if _public_answer(outcome) == CHECK_INBOX:
        return (
            f"We've e-mailed {form.cleaned_data['email']} what happens next. "
            "Your request's private link is only ever sent there."
        )
    return outcome.reason


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
@require_http_methods(["GET", "POST"])
def request_status(request, token: str):
    """The requester's page: status, and the country-aware address step while it is needed."""
    req = get_object_or_404(SampleRequest.objects.select_related("campaign__sku__product"), token=token)
    countries = req.campaign.countries or []
    default = countries[0] if countries else (geo_country(request) or "US")
    country = (request.POST.get("country_code") or request.GET.get("country") or default).upper()
    if country not in dict(country_choices()) or (countries and country not in countries):
        country = default
    form = None
    status = 200
    if req.status == SampleRequest.Status.REQUESTED:
        changing_country = "change_country" in request.POST
        form = AddressForm(
            None if changing_country or request.method == "GET" else request.POST,
            country=country,
            allowed_countries=countries,
            initial={"country_code": country},
        )
        if request.method == "POST" and not changing_country and form.is_valid():
            try:
                sample_request_set_address(token=token, address=form.cleaned_data)
            except SamplingError as exc:
                for name, message in (exc.extra.get("fields") or {}).items():
                    form.add_error(name if name in form.fields else None, message)
                if not exc.extra.get("fields"):
                    form.add_error(None, exc.message)
                status = exc.status
                req.refresh_from_db()
                if req.status != SampleRequest.Status.REQUESTED:
                    messages.error(request, exc.message)
                    return redirect(req.get_absolute_url())
            else:
                messages.success(request, "Thank you! We have your address.")
                return redirect(req.get_absolute_url())
        elif request.method == "POST" and not changing_country:
            status = 400
    return render(
        request, "sampling/request_status.html", {"req": req, "form": form, "campaign": req.campaign}, status=status
    )


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
def offer_page(request, token: str):
    """The follow-up offer with a countdown to its opening or closing, and the session's drops."""
    offer = get_object_or_404(FollowUpOffer.objects.select_related("request__campaign", "session"), token=token)
    now = timezone.now()
    followup.followup_offer_mark_opened(offer_id=offer.pk, now=now)
    drops = [(d, drop_status(drop=d, now=now)) for d in followup.offer_drops(offer=offer)]
    return render(
        request,
        "sampling/offer.html",
        {
            "offer": offer,
            "state": offer.state_at(now),
            "drops": drops,
            "now": now,
            "session": offer.session,
        },
    )


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
@require_http_methods(["GET", "POST"])
def offer_checkout(request, token: str, drop_id: int):
    """Checkout on one of the offer session's drops with the bundle discount; the offer is used once."""
    offer = get_object_or_404(FollowUpOffer.objects.select_related("request", "session"), token=token)
    drop = get_object_or_404(Drop.objects.select_related("sku__product", "session"), pk=drop_id, session=offer.session)
    now = timezone.now()
    form = HoldForm(
        request.POST or None,
        max_quantity=drop.per_customer_limit,
        initial={"email": offer.request.email, "quantity": 1},
    )
    if request.method == "POST" and form.is_valid():
        try:
            order = followup.offer_redeem(
                token=token,
                drop_id=drop.pk,
                email=form.cleaned_data["email"],
                quantity=form.cleaned_data["quantity"],
                now=now,
            )
        except (SamplingError, CommerceError) as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Thank you! Your offer saved you {offer.percent_off.normalize():f}%.")
            return redirect(order.get_absolute_url())
    status = 409 if form.non_field_errors() else (400 if form.errors else 200)
    return render(
        request,
        "sampling/offer_checkout.html",
        {
            "offer": offer,
            "drop": drop,
            "form": form,
            "state": offer.state_at(now),
            "status": drop_status(drop=drop, now=now),
            "session": drop.session,
        },
        status=status,
    )
