"""Pickup pages: slot choice at "add to cart", the pickup pass, and the staff door (check-in, no-shows).

Parse, call one service, render. Domain errors become form errors with a 4xx status.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_permissions_policy.decorators import permissions_policy_override

from .exceptions import AlreadyCheckedIn, CommerceError, ErrorCode, PassInvalid
from .forms_pickup import CheckinForm, NoShowMessageForm, PickupHoldForm, RescheduleForm
from .limits import hold_client_from_request
from .memberships.identity import member_pass_from_request
from .models import Drop, Order, PickupBooking, PickupSlot, PopUp
from .pickup_documents import pass_qr_svg, slot_ics
from .pricing import drop_price_quote
from .selectors import drop_status, drop_with_stock, effective_available
from .selectors_pickup import (
    ACTIVE_ORDER_STATUSES,
    booking_detail,
    pickup_no_shows,
    slot_as_dict,
    slot_label,
    slots_for_popup,
)
from .services.holds import hold_place
from .services.pickup import (
    booking_by_code,
    checkin_record,
    pickup_cancel,
    pickup_no_shows_message,
    pickup_pass_token,
    pickup_reschedule,
)
from .staff_access import staff_page


def _slot_rows(drop: Drop, now) -> list[dict]:
    rows = []
    for slot in slots_for_popup(popup_id=drop.popup_id, now=now):
        row = slot_as_dict(slot, now=now)
        row["price_minor"] = drop_price_quote(
            drop, now=now, available=effective_available(drop), slot=slot
        ).unit_price_minor
        rows.append(row)
    return rows


@require_http_methods(["GET", "POST"])
def pickup_drop_buy(request, drop_id: int):
    """GET: email, quantity and a pickup slot (local time, places left, full slots marked). POST: place the hold."""
    now = timezone.now()
    try:
        drop = drop_with_stock(drop_id=drop_id, now=now)
    except Drop.DoesNotExist as exc:
        raise Http404 from exc
    if not drop.offers_pickup:
        return redirect("commerce:checkout", drop_id=drop.pk)
    slots = _slot_rows(drop, now)
    allow_ship = drop.fulfilment == Drop.Fulfilment.PICKUP_OR_SHIP
    form = PickupHoldForm(
        request.POST or None,
        max_quantity=drop.per_customer_limit,
        slot_ids=[s["id"] for s in slots],
        allow_ship=allow_ship,
    )
    if request.method == "POST" and form.is_valid():
        try:
            hold = hold_place(
                drop_id=drop.pk,
                email=form.cleaned_data["email"],
                quantity=form.cleaned_data["quantity"],
                pickup_slot_id=form.pickup_slot_id(),
                now=now,
                client=hold_client_from_request(request),
                member_pass=member_pass_from_request(request),  # members-only drops (docs/members-only.md)
            )
        except CommerceError as exc:
            form.add_error(None, exc.message)
            drop = drop_with_stock(drop_id=drop_id, now=now)
            slots = _slot_rows(drop, now)
        else:
            return redirect("commerce:hold", token=hold.token)
    status = 409 if form.non_field_errors() else (400 if form.errors else 200)
    return render(
        request,
        "commerce/pickup/buy.html",
        {
            "drop": drop,
            "popup": drop.popup,
            "form": form,
            "slots": slots,
            "allow_ship": allow_ship,
            "chosen": form.data.get("slot", ""),
            "status": drop_status(drop=drop, now=now),
            "session": drop.session,
        },
        status=status,
    )


def _booking_for_order_token(token: str) -> PickupBooking:
    booking = PickupBooking.objects.filter(order__token=token).values_list("pk", flat=True).first()
    if booking is None:
        raise Http404
    return booking_detail(booking_id=booking)


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
@require_http_methods(["GET", "POST"])
def pickup_pass(request, token: str):
    """The buyer's pickup pass (reached by the order's unguessable token): QR code, slot, reschedule, cancel."""
    booking = _booking_for_order_token(token)
    now = timezone.now()
    valid = booking.cancelled_at is None and booking.order.status in ACTIVE_ORDER_STATUSES
    choices = [
        (s.pk, f"{slot_label(s)} · {s.available} left")
        for s in slots_for_popup(popup_id=booking.slot.popup_id, now=now).filter(closed=False, available__gt=0)
        if s.pk != booking.slot_id
    ]
    form = RescheduleForm(request.POST or None, slot_choices=choices)
    status = 200
    if request.method == "POST" and valid:
        try:
            if request.POST.get("action") == "cancel":
                pickup_cancel(booking_id=booking.pk, now=now)
                messages.success(
                    request,
                    "Your pickup is cancelled."
                    + (" Your refund is on its way." if booking.order.status == Order.Status.PAID else ""),
                )
                return redirect("commerce:pickup_pass", token=token)
            if form.is_valid():
                pickup_reschedule(booking_id=booking.pk, slot_id=form.cleaned_data["slot"], now=now)
                messages.success(request, "Your pickup moved. Here is your new pass; the old QR code no longer works.")
                return redirect("commerce:pickup_pass", token=token)
            status = 400
        except CommerceError as exc:
            form.add_error(None, exc.message)
            status = exc.status if 400 <= exc.status < 500 else 409
    context = {
        "booking": booking,
        "order": booking.order,
        "slot": booking.slot,
        "popup": booking.slot.popup,
        "slot_label": slot_label(booking.slot),
        "valid": valid,
        "pending": booking.order.status == Order.Status.PENDING,
        "form": form,
        "can_change": valid and booking.checked_in_at is None and booking.slot.ends_at > now,
    }
    if valid:
        token_value = pickup_pass_token(booking)
        context.update({"qr_svg": pass_qr_svg(token_value), "pass_token": token_value})
    return render(request, "commerce/pickup/pass.html", context, status=status)


@never_cache  # a capability URL for one buyer: no browser or shared cache keeps it
def pickup_pass_ics(request, token: str):
    """The calendar entry (.ics) for the pass's slot."""
    booking = _booking_for_order_token(token)
    url = request.build_absolute_uri(booking.get_absolute_url())
    response = HttpResponse(slot_ics(booking, pass_url=url), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pickup-{booking.order.number}.ics"'
    return response


# --- Staff ---------------------------------------------------------------------


DOOR = "commerce.checkin_pickupbooking"
NO_SHOWS = "commerce.message_noshows_pickupbooking"


@staff_page(DOOR)
def pickup_staff_home(request):
    """Pop-ups with their slots at a glance: capacity used, checked in, no-shows."""
    now = timezone.now()
    popups = PopUp.objects.filter(ends_on__gte=(now - dt.timedelta(days=7)).date()).order_by("starts_on", "name")
    rows = []
    for popup in popups:
        slots = list(slots_for_popup(popup_id=popup.pk, now=now, upcoming=False))
        checked = dict(
            PickupBooking.objects.filter(slot__popup=popup, checked_in_at__isnull=False)
            .values_list("slot_id")
            .annotate(n=Count("pk"))
        )
        rows.append(
            {
                "popup": popup,
                "slots": [
                    {**slot_as_dict(s, now=now), "checked_in": checked.get(s.pk, 0), "ended": s.ends_at <= now}
                    for s in slots
                ],
                "no_shows": pickup_no_shows(popup_id=popup.pk, now=now).count(),
            }
        )
    return render(request, "commerce/pickup/staff_home.html", {"rows": rows})


# The only page that may use the camera (the pass scanner), and only for itself.
DOOR_PERMISSIONS_POLICY = {**settings.PERMISSIONS_POLICY, "camera": ["self"]}


@permissions_policy_override(DOOR_PERMISSIONS_POLICY)
@staff_page(DOOR)
@require_http_methods(["GET", "POST"])
def pickup_checkin(request):
    """The door: scan the pass QR with the phone camera (or type the code / order number) to check in.

    Each POST records the pickup once; a repeat shows when and by whom (409).
    An order still to be paid at pickup asks staff to take the money first.
    """
    form = CheckinForm(request.POST or None)
    result, status = None, 200
    if request.method == "POST" and form.is_valid():
        booking = None
        try:
            booking = booking_by_code(code=form.cleaned_data["code"])
            outcome = checkin_record(
                booking_id=booking.pk, actor=request.user, payment_collected=form.cleaned_data["payment_collected"]
            )
            result = {"kind": "ok", "paid_now": outcome.paid_now}
        except AlreadyCheckedIn as exc:
            result, status = {"kind": "already", "message": exc.message}, 409
        except PassInvalid as exc:
            result, status = {"kind": "invalid", "message": exc.message}, exc.status
        except CommerceError as exc:
            kind = "payment" if exc.code == ErrorCode.PAYMENT_REQUIRED else "invalid"
            result, status = {"kind": kind, "message": exc.message}, 409
        if booking is not None:
            result["booking"] = booking_detail(booking_id=booking.pk)
            result["slot_label"] = slot_label(result["booking"].slot)
            result["code"] = form.cleaned_data["code"]
        form = CheckinForm()
    elif request.method == "POST":
        status = 400
    return render(request, "commerce/pickup/checkin.html", {"form": form, "result": result}, status=status)


@staff_page(NO_SHOWS)
@require_http_methods(["GET", "POST"])
def pickup_no_shows_page(request, popup_id: int):
    """No-shows of a pop-up's ended slots, grouped by slot, with a message form per slot."""
    popup = get_object_or_404(PopUp, pk=popup_id)
    now = timezone.now()
    form = NoShowMessageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        slot = get_object_or_404(PickupSlot, pk=form.cleaned_data["slot_id"], popup=popup)
        try:
            sent = pickup_no_shows_message(slot_id=slot.pk, message=form.cleaned_data["message"], now=now)
        except CommerceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Messaged {sent} no-show(s) of {slot_label(slot)}.")
        return redirect("commerce:pickup_no_shows", popup_id=popup.pk)
    groups: dict[int, dict] = {}
    for booking in pickup_no_shows(popup_id=popup.pk, now=now):
        group = groups.setdefault(
            booking.slot_id, {"slot": booking.slot, "label": slot_label(booking.slot), "bookings": []}
        )
        group["bookings"].append(booking)
    return render(
        request,
        "commerce/pickup/no_shows.html",
        {"popup": popup, "groups": list(groups.values()), "form": NoShowMessageForm()},
    )
