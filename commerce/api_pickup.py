"""Partner API for pop-up pickup: pop-ups and slots with capacity, booking, reschedule, check-in, no-shows.

A partner sees only the pop-ups assigned to it (`PopUp.partner`), their slots and bookings; anything
else is 404 like a missing object (commerce.access; a key with `shop` sees every pop-up).
Scopes: `pickup:read` (lists), `pickup:write` (book, reschedule; `Idempotency-Key` honoured),
`pickup:checkin` (check in by pass token: 201 the first time, 409 `already_checked_in` after,
with when and by whom). Times are ISO 8601 UTC, with `label` in the pop-up's local time;
amounts are integer minor units of `currency`.
"""

import datetime as dt
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from config.api import PartnerKey, api
from config.bounds import Id
from config.pagination import PageNumberPagination

from .access import (
    NotFound,
    booking_for_partner,
    booking_for_pass,
    buyer_links_visible,
    catalogue,
    partner_popups,
    popup_for_partner,
    slot_for_partner,
)
from .idempotency import run_idempotent
from .models import Drop, PickupBooking, PickupSlot, PopUp
from .selectors_pickup import pickup_no_shows, slot_as_dict, slots_for_popup
from .services.pickup import checkin_record, pickup_pass_token, pickup_reschedule, pickup_slot_book

router = Router(tags=["pickup"])


class PopUpOut(Schema):
    id: int
    name: str
    address: str
    timezone: str
    starts_on: dt.date
    ends_on: dt.date
    session_ids: list[UUID]

    @staticmethod
    def resolve_session_ids(obj: PopUp) -> list[UUID]:
        return [s.public_id for s in obj.sessions.all()]


class SlotOut(Schema):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    label: str = Field(description="Local wall-clock time in the pop-up's timezone.")
    capacity: int
    available: int = Field(description="Places neither booked nor held.")
    used: int
    closed: bool
    bookable: bool
    price_adjust_percent: str = Field(description="Applied to the unit price for this slot (negative = cheaper).")


class BookingIn(Schema):
    drop_id: Id
    slot_id: Id
    email: str = Field(max_length=254)
    quantity: int = Field(ge=1, le=99)
    name: str = Field("", max_length=200)


class RescheduleIn(Schema):
    slot_id: Id


class CheckinIn(Schema):
    token: str = Field(max_length=500, description="The signed pass token (what the pass QR code encodes).")
    payment_collected: bool = Field(False, description="Pay-at-pickup orders: the money was taken at the door.")


class BookingOut(Schema):
    order_number: str
    order_status: str
    email: str
    total_minor: int
    currency: str
    payment_url: str = Field(description="The buyer's payment page; empty unless the caller placed the order.")
    slot: SlotOut
    pass_token: str | None = Field(None, description="Present while the pass is valid (order confirmed).")
    pass_url: str = Field(description="The buyer's pass page; empty unless the caller placed the order.")
    checked_in_at: dt.datetime | None
    checked_in_by: str


class NoShowOut(Schema):
    order_number: str
    email: str
    slot: SlotOut
    messaged_at: dt.datetime | None


def _slot(slot: PickupSlot) -> dict:
    return slot_as_dict(slot, now=timezone.now())


def _booking(booking: PickupBooking, caller) -> dict:
    """The booking as the caller may see it: the buyer's private links only for the order's owner
    (commerce.access.buyer_links_visible); the door token (`pass_token`) for whoever operates the pop-up."""
    order = booking.order
    links = buyer_links_visible(caller=caller, order=order)
    valid = booking.cancelled_at is None and order.status in ("awaiting_payment", "paid")
    return BookingOut(
        order_number=order.number,
        order_status=order.status,
        email=order.customer.email,
        total_minor=order.total_minor,
        currency=order.currency,
        payment_url=order.payment_url if links else "",
        slot=SlotOut(**_slot(booking.slot)),
        pass_token=pickup_pass_token(booking) if valid else None,
        pass_url=settings.SITE_URL + booking.get_absolute_url() if links else "",
        checked_in_at=booking.checked_in_at,
        checked_in_by=booking.checked_in_by_label,
    ).model_dump(mode="json")


@router.get("/popups", response=list[PopUpOut], auth=PartnerKey("pickup:read"))
@paginate(PageNumberPagination, page_size=50)
def list_popups(request):
    """The partner's pop-ups, latest first."""
    return partner_popups(caller=request.caller).prefetch_related("sessions")


@router.get("/popups/{popup_id}/slots", response=list[SlotOut], auth=PartnerKey("pickup:read"))
@paginate(PageNumberPagination, page_size=100)
def list_slots(request, popup_id: Id, upcoming: bool = True):
    """A pop-up's slots in start order with capacity; `?upcoming=false` includes ended ones. 404 if not yours."""
    popup_for_partner(caller=request.caller, popup_id=popup_id)
    return [_slot(s) for s in slots_for_popup(popup_id=popup_id, upcoming=upcoming)]


@router.get("/popups/{popup_id}/no-shows", response=list[NoShowOut], auth=PartnerKey("pickup:read"))
@paginate(PageNumberPagination, page_size=100)
def list_no_shows(request, popup_id: Id):
    """Bookings of ended slots that were never checked in (cancelled ones excluded), earliest slot first."""
    popup_for_partner(caller=request.caller, popup_id=popup_id)
    return [
        {
            "order_number": b.order.number,
            "email": b.order.customer.email,
            "slot": _slot(b.slot),
            "messaged_at": b.no_show_messaged_at,
        }
        for b in pickup_no_shows(popup_id=popup_id)
    ]


@router.post("/bookings", response={201: BookingOut}, auth=PartnerKey("pickup:write"))
def create_booking(request, payload: BookingIn):
    """Book: hold `quantity` units of a pickup drop with a place in `slot_id`, and check out.

    201 → the booking with its pass token. 409 `pickup_slot_full` (with `fields.nearest`: the nearest
    free slots), `sold_out`, `closed`, `per_customer_limit_exceeded`; 422 `pickup_slot_invalid`,
    `invalid_email`; 404 for a drop or slot that is not yours. Idempotent with `Idempotency-Key`.
    """

    def handler():
        slot = slot_for_partner(caller=request.caller, slot_id=payload.slot_id)
        if not catalogue(Drop.objects.filter(pk=payload.drop_id, popup_id=slot.popup_id)).exists():
            raise NotFound()  # the drop must sell for this slot's pop-up
        booking = pickup_slot_book(
            drop_id=payload.drop_id,
            slot_id=slot.pk,
            email=payload.email,
            quantity=payload.quantity,
            name=payload.name,
            partner_id=request.caller.partner.pk,
        )
        return 201, _booking(booking, request.caller)

    return _respond(request, run_idempotent(request, payload=payload.dict(), handler=handler))


@router.post("/bookings/{order_number}/reschedule", response={200: BookingOut}, auth=PartnerKey("pickup:write"))
def reschedule_booking(request, order_number: str, payload: RescheduleIn):
    """Move a booking to another slot of its pop-up. 409 `pickup_slot_full` (nearest free slots listed),
    `invalid_transition` (checked in or cancelled); 422 `pickup_slot_invalid`. Idempotent with `Idempotency-Key`."""

    def handler():
        booking = booking_for_partner(caller=request.caller, order_number=order_number)
        slot_for_partner(caller=request.caller, slot_id=payload.slot_id)  # another partner's slot: 404 as if missing
        booking = pickup_reschedule(booking_id=booking.pk, slot_id=payload.slot_id)
        return 200, _booking(PickupBooking.objects.select_related("order__customer", "slot__popup").get(pk=booking.pk), request.caller)

    body = {"order_number": order_number, **payload.dict()}
    return _respond(request, run_idempotent(request, payload=body, handler=handler))


@router.get("/bookings/{order_number}", response=BookingOut, auth=PartnerKey("pickup:read"))
def get_booking(request, order_number: str):
    """One booking at your pop-ups by order number; 404 `not_found` if unknown or not yours."""
    return _booking(booking_for_partner(caller=request.caller, order_number=order_number), request.caller)


@router.post("/checkins", response={201: BookingOut}, auth=PartnerKey("pickup:checkin"))
def create_checkin(request, payload: CheckinIn):
    """Check in by pass token: 201 the first time; 409 `already_checked_in` (`fields.checked_in_at`,
    `fields.checked_in_by`) after; 409 `payment_required` for pay-at-pickup orders without
    `payment_collected`; 404 `pass_invalid` (forged, replaced, cancelled, not your pop-up); 410 `pass_expired`."""
    booking = booking_for_pass(caller=request.caller, token=payload.token)
    checkin_record(
        booking_id=booking.pk,
        actor_label=f"API: {request.caller.partner.name}",
        payment_collected=payload.payment_collected,
    )
    booking = PickupBooking.objects.select_related("order__customer", "slot__popup").get(pk=booking.pk)
    return api.create_response(request, _booking(booking, request.caller), status=201)


def _respond(request, result: tuple[int, dict]):
    status, body = result
    return api.create_response(request, body, status=status)
