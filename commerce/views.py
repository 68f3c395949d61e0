"""Storefront views for buying: drop → hold (cart) → checkout → order. Parse, call one service, render."""

from __future__ import annotations

import segno
from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods

from analytics.middleware import REMEMBERED_EMAIL_COOKIE
from analytics.services import event_capture_request

from .exceptions import CommerceError
from .forms import CheckoutForm, HoldForm
from .limits import hold_client_from_request
from .models import Drop, Hold, Order
from .selectors import drop_status, drop_with_stock
from .services.coupons import coupon_check
from .services.holds import hold_place
from .services.orders import checkout_start

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
    """GET: email + quantity for a drop. POST: place a hold, then go to the cart page."""
    now = timezone.now()
    try:
        drop = drop_with_stock(drop_id=drop_id, now=now)
    except Drop.DoesNotExist as exc:
        raise Http404 from exc
    if drop.offers_pickup:  # the viewer picks a pickup slot there (commerce.views_pickup)
        return redirect("commerce:pickup_buy", drop_id=drop.pk)
    remembered = request.get_signed_cookie(REMEMBERED_EMAIL_COOKIE, default="", salt=REMEMBERED_EMAIL_SALT)
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
            )
        except CommerceError as exc:
            form.add_error(None, exc.message)
            error_status = exc.status if exc.status == 429 else 409
            retry_after = exc.extra.get("retry_after")
            drop = drop_with_stock(drop_id=drop_id, now=now)
        else:
            response = redirect("commerce:hold", token=hold.token)
            _remember_email(response, form.cleaned_data["email"])
            return response
    if request.method == "GET":
        event_capture_request(request, name="view", session_id=drop.session_id, drop_id=drop.pk, sku_id=drop.sku_id)
    status = error_status if form.non_field_errors() else (400 if form.errors else 200)
    response = render(
        request,
        "commerce/drop_buy.html",
        {
            "drop": drop,
            "form": form,
            "status": drop_status(drop=drop, now=now),
            "session": drop.session,
            "remembered_email": remembered,
        },
        status=status,
    )
    if status == 429 and retry_after:
        response["Retry-After"] = str(retry_after)
    return response


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
    discount = 0
    status_code = 200
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["coupon_code"]
        try:
            if "apply" in request.POST:
                if code:
                    discount = coupon_check(code=code, hold=hold, now=now)[1]
            else:
                order = checkout_start(
                    hold_token=hold.token, coupon_code=code, now=now, visitor_id=getattr(request, "visitor_id", None)
                )
                return redirect(order.payment_url or order.get_absolute_url())
        except CommerceError as exc:
            coupon_error = "coupon" in str(exc.code)
            form.add_error("coupon_code" if coupon_error else None, exc.message)
            if coupon_error:
                # The refused code is named in the error; the field is emptied so "Place order" goes through.
                form.data = form.data.copy()
                form.data["coupon_code"] = ""
            status_code = 410 if exc.code == "hold_expired" else 409
    live = hold.is_live(now)
    subtotal = hold.unit_price_minor * hold.quantity
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
            "total": subtotal - discount,
            "seconds_left": max(int((hold.expires_at - now).total_seconds()), 0),
        },
        status=status_code if live else 410,
    )


def order_detail(request, token: str):
    """The order confirmation page, reachable by its unguessable token."""
    order = get_object_or_404(
        Order.objects.select_related("customer", "session").prefetch_related("lines__sku__product"), token=token
    )
    return render(request, "commerce/order.html", {"order": order, "returned_from_payment": "paid" in request.GET})


@cache_control(max_age=3600, public=True)
def drop_qr(request, drop_id: int):
    """SVG QR code that opens the drop's checkout on a phone (for stream overlays). `?download=1` to save."""
    drop = get_object_or_404(Drop, pk=drop_id)
    url = request.build_absolute_uri(reverse("commerce:checkout", args=[drop.pk]))
    return _qr_response(url, f"drop-{drop.pk}-qr.svg", download="download" in request.GET)


def _qr_response(url: str, filename: str, *, download: bool) -> HttpResponse:
    svg = segno.make(url, error="m").svg_inline(scale=8, border=2, dark="#16161d", light="#ffffff")
    response = HttpResponse(svg, content_type="image/svg+xml")
    if download:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
