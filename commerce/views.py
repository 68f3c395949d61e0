"""Storefront views for buying: drop → hold (cart) → checkout → order. Parse, call one service, render."""

from __future__ import annotations

import segno
from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from analytics.middleware import REMEMBERED_EMAIL_COOKIE
from analytics.services import event_capture_request
from sampling.addresses import country_choices
from sampling.forms import AddressForm
from sessions_app.models import LiveSession
from sessions_app.pagecache import response_shared

from .exceptions import CommerceError
from .forms import CheckoutForm, HoldForm
from .limits import hold_client_from_request
from .memberships.gating import drop_member_terms
from .memberships.identity import member_pass_from_request, membership_for_pass
from .memberships.selectors_bundles import order_bundle_context
from .models import Drop, Hold, Order
from .payments import get_provider
from .selectors import drop_status, drop_with_stock
from .selectors_receipts import order_documents
from .services.coupons import coupon_check
from .services.holds import hold_place
from .services.orders import checkout_start, checkout_totals
from .services.watch_coupons import watch_codes_bind_visitor
from .shipping import hold_ships, order_fulfilment, shipping_countries, shipping_enabled

REMEMBERED_EMAIL_SALT = "commerce.buy-email"
REMEMBERED_EMAIL_MAX_AGE = 30 * 86400


def _remember_email(response, email: str) -> None:
    """Prefill the next buy form on this browser (signed, HttpOnly); "not you?" forgets it (analytics.views)."""
    response.set_signed_cookie(
        REMEMBERED_EMAIL_COOKIE,
        email,
        salt=REMEMBERED_EMAIL_SALT,
        max_age=REMEMBERED_EMAIL_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


@require_http_methods(["GET", "POST"])
def drop_buy(request, drop_id: int):
    """GET: email + quantity for a drop. POST: place a hold, then go to the cart page.

    A members-only drop shows non-members "Members only" and the join link instead of the form; the
    browser's member pass (`mm_member` cookie) goes to hold_place, which decides (403 members_only)."""
    now = timezone.now()
    try:
        drop = drop_with_stock(drop_id=drop_id, now=now)
    except Drop.DoesNotExist as exc:
        raise Http404 from exc
    if drop.offers_pickup:  # the viewer picks a pickup slot there (commerce.views_pickup)
        return redirect("commerce:pickup_buy", drop_id=drop.pk)
    member_pass = member_pass_from_request(request)
    membership = membership_for_pass(member_pass, now=now)
    remembered = request.get_signed_cookie(REMEMBERED_EMAIL_COOKIE, default="", salt=REMEMBERED_EMAIL_SALT)
    if membership is not None and not remembered:
        remembered = membership.customer.email  # the member buys as themselves (hold_place requires it)
    form = HoldForm(request.POST or None, max_quantity=drop.per_customer_limit, initial={"email": remembered})
    error_status, retry_after = 409, None
    if request.method == "POST" and form.is_valid():
        try:
            hold = hold_place(
                drop_id=drop.pk,
                email=form.cleaned_data["email"],
                quantity=form.cleaned_data["quantity"],
                now=now,
                visitor_id=getattr(request, "visitor_id", None),
                client=hold_client_from_request(request),
                member_pass=member_pass,
            )
        except CommerceError as exc:
            form.add_error(None, exc.message)
            error_status = exc.status if exc.status in (403, 429) else 409
            retry_after = exc.extra.get("retry_after")
            drop = drop_with_stock(drop_id=drop_id, now=now)
        else:
            response = redirect("commerce:hold", token=hold.token)
            _remember_email(response, form.cleaned_data["email"])
            return response
    if request.method == "GET":
        event_capture_request(request, name="view", session_id=drop.session_id, drop_id=drop.pk, sku_id=drop.sku_id)
    status = error_status if form.non_field_errors() else (400 if form.errors else 200)
    drop_state = drop_status(drop=drop, now=now)
    response = render(
        request,
        "commerce/drop_buy.html",
        {
            "drop": drop,
            "form": form,
            "status": drop_state,
            "terms": drop_member_terms(drop=drop, status=drop_state, membership=membership, now=now),
            "session": drop.session,
            "page_zone": drop.session.timezone,  # times on the page: the session's zone, named
            "remembered_email": remembered,
        },
        status=status,
    )
    if status == 429 and retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
@require_http_methods(["GET", "POST"])
def hold_checkout(request, token: str):
    """The cart: the held item at its locked price, a countdown to expiry, a coupon field, Pay."""
    hold = get_object_or_404(
        Hold.objects.select_related("drop__sku__product", "drop__session", "customer"), token=token
    )
    order = Order.objects.filter(hold=hold).exclude(status=Order.Status.CANCELLED).first()
    if order and order.payment_url and order.status == Order.Status.PENDING:
        return redirect(order.payment_url)
    if order:
        return redirect(order.get_absolute_url())
    now = timezone.now()
    form = CheckoutForm(request.POST or None)
    paying = request.method == "POST" and "apply" not in request.POST and "update_shipping" not in request.POST
    address_form = _shipping_form(request, hold, bound=paying)
    discount, coupon = 0, None
    status_code = 200
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["coupon_code"]
        # A personal watch code works for the viewer who earned it: this browser's codes bind to the
        # cart's customer here (another browser's code stays unbound and is refused: docs/watch-coupons.md).
        watch_codes_bind_visitor(visitor_id=getattr(request, "visitor_id", None), customer_id=hold.customer_id, now=now)
        try:
            if code and not paying:
                coupon, discount = coupon_check(code=code, hold=hold, now=now)
            elif paying and (address_form is None or address_form.is_valid()):
                order = checkout_start(
                    hold_token=hold.token,
                    coupon_code=code,
                    shipping_address=address_form.cleaned_data if address_form else None,
                    now=now,
                    visitor_id=getattr(request, "visitor_id", None),
                )
                return redirect(order.payment_url or order.get_absolute_url())
            elif paying:
                status_code = 400
        except CommerceError as exc:
            _form_error(form, address_form, exc)
            status_code = 410 if exc.code == "hold_expired" else (exc.status if exc.status == 422 else 409)
            if "coupon" in str(exc.code):
                # The refused code is named in the error; the field is emptied so "Place order" goes through.
                form.data = form.data.copy()
                form.data["coupon_code"] = ""
    # a cancelled session released its holds: say so rather than "expired" (still 410 Gone)
    session_cancelled = hold.drop.session.status == LiveSession.Status.CANCELLED
    live = hold.is_live(now) and not session_cancelled
    subtotal = hold.unit_price_minor * hold.quantity
    totals, shipping_problem = _cart_totals(hold, discount, address_form)
    if shipping_problem and address_form is not None and not address_form.has_error("country_code"):
        address_form.add_error("country_code", shipping_problem)
    return render(
        request,
        "commerce/hold.html",
        {
            "hold": hold,
            "drop": hold.drop,
            "form": form,
            "live": live,
            "subtotal": subtotal,
            "discount": discount,
            "total": totals.total_minor if totals else subtotal - discount,
            "totals": totals,
            "tax_label": _tax_label(totals),
            # Stripe Tax computes the tax on Stripe's page (docs/shipping-tax.md): say so instead of a figure
            "tax_at_payment": bool(totals) and _stripe_tax_on(),
            "address_form": address_form,
            "ships": hold_ships(hold),
            "bank_details": bool(settings.SHOP_BANK_DETAILS),
            "session_cancelled": session_cancelled,
            "coupon": coupon,  # its cutoff is shown with its zone
            "page_zone": hold.drop.session.timezone,
            "seconds_left": max(int((hold.expires_at - now).total_seconds()), 0),
        },
        status=status_code if live else 410,
    )


def _shipping_form(request, hold: Hold, *, bound: bool) -> AddressForm | None:
    """The country-aware address form when the hold ships and shipping is set up in its currency, else None.

    Bound (validated) only when placing the order; "Apply" and "Update shipping" keep what was typed
    as initial values without showing errors. The country is the posted one, else ?country=, else
    the shop's country when the shop ships there, else the first country it ships to.
    """
    if not (hold_ships(hold) and shipping_enabled(currency=hold.currency)):
        return None
    allowed = shipping_countries(currency=hold.currency)
    known = dict(country_choices())
    fallback = settings.SHOP_COUNTRY if allowed is None or settings.SHOP_COUNTRY in allowed else allowed[0]
    country = (request.POST.get("country_code") or request.GET.get("country") or fallback).strip().upper()
    if country not in known or (allowed is not None and country not in allowed):
        country = fallback
    if bound:
        form = AddressForm(request.POST, country=country, allowed_countries=allowed)
    else:
        initial = {**(request.POST.dict() if request.method == "POST" else {}), "country_code": country}
        form = AddressForm(None, country=country, allowed_countries=allowed, initial=initial)
    form.fields["country_code"].error_messages["invalid_choice"] = (
        "We do not ship to this country. Choose one of the listed countries"
        + (", or a pickup slot." if hold.drop.offers_pickup else ".")
    )
    return form


def _form_error(form: CheckoutForm, address_form: AddressForm | None, exc: CommerceError) -> None:
    """Show a service error on the field it is about (coupon, address fields) or above the form."""
    fields = {name: msgs for name, msgs in exc.fields.items() if isinstance(msgs, list)}
    if address_form is not None and any(name in address_form.fields for name in fields):
        for name, messages in fields.items():
            for message in messages:
                address_form.add_error(name if name in address_form.fields else None, message)
        return
    form.add_error("coupon_code" if "coupon" in str(exc.code) else None, exc.message)


def _stripe_tax_on() -> bool:
    return get_provider().name == "stripe" and settings.STRIPE_AUTOMATIC_TAX


def _tax_label(totals) -> str:
    """ "MwSt 19 %" for the cart's tax row ("" without a rate)."""
    if not totals or totals.tax_percent is None:
        return ""
    return f"{totals.tax_name} {totals.tax_percent.normalize():f} %".strip()


def _cart_totals(hold: Hold, discount: int, address_form: AddressForm | None):
    """(Totals for the chosen country, None) or (None, why the shop cannot ship there)."""
    country = address_form["country_code"].value() if address_form is not None else ""
    try:
        return checkout_totals(hold=hold, discount_minor=discount, address={"country_code": country}), None
    except CommerceError as exc:
        return None, exc.message


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
def order_detail(request, token: str):
    """The order confirmation page, reachable by its unguessable token."""
    order = get_object_or_404(
        Order.objects.select_related("customer", "session").prefetch_related("lines__sku__product"), token=token
    )
    context = {"order": order, "returned_from_payment": "paid" in request.GET, "fulfilment": order_fulfilment(order)}
    context["documents"] = order_documents(order=order)  # receipt and credit notes (PDF links)
    context["balance_paid_minor"] = order.total_minor - order.refunded_minor  # shown once something was refunded
    context.update(order_bundle_context(order=order, now=timezone.now()))  # join links, trial returns
    return render(request, "commerce/order.html", context)


QR_MAX_AGE = 3600  # seconds: a drop's checkout address never changes


def drop_qr(request, drop_id: int):
    """SVG QR code that opens the drop's checkout on a phone (for stream overlays). `?download=1` to save.

    The same for everyone (sessions_app.pagecache.response_shared: public, no cookie). It is an image of
    the shared session page, fetched at page load alongside the view beacon: answered personally, it
    gave a first visitor a second `mm_vid` cookie racing the beacon's, and the view counted for an id
    the browser then lost.
    """
    drop = get_object_or_404(Drop, pk=drop_id)
    url = request.build_absolute_uri(reverse("commerce:checkout", args=[drop.pk]))
    response = _qr_response(url, f"drop-{drop.pk}-qr.svg", download="download" in request.GET)
    return response_shared(response, max_age=QR_MAX_AGE)


def _qr_response(url: str, filename: str, *, download: bool) -> HttpResponse:
    svg = segno.make(url, error="m").svg_inline(scale=8, border=2, dark="#16161d", light="#ffffff")
    response = HttpResponse(svg, content_type="image/svg+xml")
    if download:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
