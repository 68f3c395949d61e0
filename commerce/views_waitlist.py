"""Storefront waitlist pages: "notify me" on a drop, the e-mailed offer link, leaving the line.

Thin: parse, call one service (commerce.services.waitlist), render. Private links (offer, leave)
are only ever e-mailed to the address on the entry; the "notify me" answer is the same whether
or not the address was already on the list.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from config.client_ip import client_ip, client_network

from .exceptions import CommerceError
from .forms_waitlist import WaitlistJoinForm
from .models import Drop, WaitlistEntry, WaitlistOffer
from .pricing import drop_price_quote
from .ratelimit import Limit, rate_limits_hit
from .selectors import drop_status
from .services import waitlist

JOINED_MESSAGE = (
    "Thanks. If this address is not on the list yet, it is now: we have e-mailed it a confirmation with a "
    "link to leave the list. When units free up, the next people in line get a personal offer by e-mail."
)


def _join_rate_limited(request, drop_id: int) -> int | None:
    """Count one "notify me" per client network; seconds to wait when over the limit, else None."""
    network = client_network(client_ip(request)) or "unknown"
    exceeded = rate_limits_hit(
        [Limit("waitlist:ip", network, settings.WAITLIST_JOIN_RATE_LIMIT, settings.WAITLIST_JOIN_RATE_WINDOW_SECONDS)]
    )
    return exceeded.retry_after if exceeded else None


@require_http_methods(["GET", "POST"])
def waitlist_join_page(request, drop_id: int):
    """GET: the "notify me" form of a drop. POST: join its waitlist (same answer for every address)."""
    now = timezone.now()
    drop = Drop.objects.select_related("session", "sku__product").filter(pk=drop_id).first()
    if drop is None:
        raise Http404
    form = WaitlistJoinForm(request.POST or None, max_quantity=drop.per_customer_limit)
    status, done = 200, False
    if request.method == "POST":
        retry_after = _join_rate_limited(request, drop.pk)
        if retry_after:
            form.is_valid()
            form.add_error(None, f"Too many tries in a short time. Please try again in {retry_after} seconds.")
            status = 429
        elif form.is_valid():
            try:
                waitlist.waitlist_join(
                    drop_id=drop.pk, email=form.cleaned_data["email"], quantity=form.cleaned_data["quantity"], now=now
                )
                done = True
            except CommerceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = exc.status if exc.status in (409, 422) else 409
        else:
            status = 400
    response = render(
        request,
        "commerce/waitlist/join.html",
        {
            "drop": drop,
            "session": drop.session,
            "form": form,
            "done": done,
            "message": JOINED_MESSAGE,
            "status": drop_status(drop=drop, now=now),
            "page_zone": drop.session.timezone,
        },
        status=status,
    )
    if status == 429:
        response["Retry-After"] = str(retry_after)
    return response


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
@require_http_methods(["GET", "POST"])
def waitlist_offer_page(request, token: str):
    """The e-mailed offer link. GET: the drop, current price, time left (an expired offer lapses and
    passes on as it is read). POST "Take it": a hold at the current price, then its cart page."""
    now = timezone.now()
    try:
        offer = waitlist.waitlist_offer_lapse_if_due(token=token, now=now)
    except WaitlistOffer.DoesNotExist as exc:
        raise Http404 from exc
    error, status = "", 200
    if request.method == "POST" and offer.status == WaitlistOffer.Status.OPEN:
        try:
            hold = waitlist.waitlist_offer_claim(token=token, now=now)
        except CommerceError as exc:
            error, status = exc.message, exc.status
            offer.refresh_from_db()
        else:
            return redirect("commerce:hold", token=hold.token)
    elif offer.status != WaitlistOffer.Status.OPEN:
        status = 410
    drop = offer.drop
    return render(
        request,
        "commerce/waitlist/offer.html",
        {
            "offer": offer,
            "drop": drop,
            "session": drop.session,
            "price": drop_price_quote(drop, now=now),
            "seconds_left": max(0, int((offer.expires_at - now).total_seconds())),
            "error": error,
            "page_zone": drop.session.timezone,
        },
        status=status,
    )


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
@require_http_methods(["GET", "POST"])
def waitlist_leave_page(request, token: str):
    """The e-mailed leave link. GET: confirm (a link preview must not remove anyone). POST: leave."""
    entry = WaitlistEntry.objects.select_related("drop__session").filter(token=token).first()
    if entry is None:
        raise Http404
    left = False
    if request.method == "POST":
        entry = waitlist.waitlist_leave(token=token)
        left = True
    return render(request, "commerce/waitlist/leave.html", {"entry": entry, "left": left, "drop": entry.drop})
