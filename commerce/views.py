"""Storefront views for checkout and orders: parse, call one service, render."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from analytics.services import event_capture_request

from .exceptions import CommerceError
from .forms import CheckoutForm
from .models import Drop, Order
from .selectors import drop_status
from .services.orders import order_place


@require_http_methods(["GET", "POST"])
def checkout(request, drop_id: int):
    """GET: the checkout form for a drop. POST: place the order, then go to its confirmation."""
    drop = get_object_or_404(Drop.objects.select_related("sku__product", "session"), pk=drop_id)
    now = timezone.now()
    form = CheckoutForm(request.POST or None, max_quantity=drop.per_customer_limit)
    if request.method == "POST" and form.is_valid():
        try:
            order = order_place(
                drop_id=drop.pk,
                email=form.cleaned_data["email"],
                quantity=form.cleaned_data["quantity"],
                now=now,
                visitor_id=getattr(request, "visitor_id", None),
            )
        except CommerceError as exc:
            form.add_error(None, exc.message)
            drop.refresh_from_db()
        else:
            messages.success(request, "Thank you! Your order is confirmed.")
            return redirect(order.get_absolute_url())
    if request.method == "GET":
        event_capture_request(request, name="view", session_id=drop.session_id, drop_id=drop.pk, sku_id=drop.sku_id)
    status = 409 if form.non_field_errors() else (400 if form.errors else 200)
    return render(
        request,
        "commerce/checkout.html",
        {"drop": drop, "form": form, "status": drop_status(drop=drop, now=now), "session": drop.session},
        status=status,
    )


def order_detail(request, token: str):
    """The order confirmation page, reachable by its unguessable token."""
    order = get_object_or_404(
        Order.objects.select_related("customer", "session").prefetch_related("lines__sku__product"), token=token
    )
    return render(request, "commerce/order.html", {"order": order})
