"""Pop-up pickup: slot generation and edits, passes (signed tokens), reschedule, cancel, check-in,
reminders and no-show messages.

Capacity: one place per booking. A place is taken by `hold_place(pickup_slot_id=…)`
in the hold's transaction and moves with the hold (commerce.services.holds);
this module moves it between slots (reschedule) and gives it back on a
cancelled booking, always through the conditional UPDATEs in commerce.locks.

Pass tokens: `django.core.signing.Signer` (HMAC-SHA256 with SECRET_KEY) and a pickup-only salt over
{"b": booking id, "v": pass version}. The same booking and version always give the same token
(the QR code on the page and in the e-mail match). A token is rejected when its signature is
wrong (forged or altered), its version is not the booking's current one (rescheduled since), or
the pass has expired: `PICKUP_PASS_GRACE_HOURS` after the end of the booking's slot *as it is
now*, read at verification time, so a pass follows its slot when staff move the slot (the QR
code the buyer already has stays valid for the new time, and the old end no longer applies).
Tokens issued before this carried their own expiry ("e"); it is ignored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from .. import locks
from ..audit import audit_change
from ..exceptions import (
    AlreadyCheckedIn,
    CommerceError,
    ErrorCode,
    InvalidInput,
    InvalidTransition,
    PassExpired,
    PassInvalid,
    PickupInvalid,
)
from ..models import Hold, Order, PickupBooking, PickupSlot, PopUp
from ..selectors_pickup import (
    ACTIVE_ORDER_STATUSES,
    bookings_due_reminder,
    pickup_no_shows,
    pickup_slot_unavailable_error,
    slot_label,
)
from . import notifications_pickup, webhooks
from .orders import order_cancel, order_mark_paid
from .refunds import order_line_fulfil, refund_create

PASS_SALT = "commerce.pickup.pass"  # noqa: S105 (a signing namespace; the key is SECRET_KEY)
MAX_SLOTS_PER_RULE = 2000


def pass_grace() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "PICKUP_PASS_GRACE_HOURS", 12))


def reminder_lead() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "PICKUP_REMINDER_MINUTES", 120))


# --- Slots ---------------------------------------------------------------------


@dataclass
class SlotRuleResult:
    """What a generation rule did: created slots, wall times that already had a slot, wall times
    that do not exist on that day (skipped in a spring-forward gap), all as local "YYYY-MM-DD HH:MM"."""

    created: list[PickupSlot] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    nonexistent: list[str] = field(default_factory=list)


def _local_instants(naive: dt.datetime, tz) -> list[dt.datetime]:
    """The aware instants a local wall time names: none (DST gap), one, or two (the repeated hour)."""
    out = []
    for fold in (0, 1):
        aware = naive.replace(tzinfo=tz, fold=fold)
        if aware.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) != naive:
            continue  # does not exist: skipped over by the clock change
        utc = aware.astimezone(dt.UTC)
        if utc not in out:
            out.append(utc)
    return out


def pickup_slots_generate(
    *,
    popup_id: int,
    dates: list[dt.date],
    start: dt.time,
    end: dt.time,
    every_minutes: int,
    capacity: int,
    length_minutes: int | None = None,
    price_adjust_percent=0,
) -> SlotRuleResult:
    """Create slots from a rule: on each local date, every `every_minutes` from `start` while the slot
    (`length_minutes`, default `every_minutes`) ends by `end`, all in the pop-up's timezone.

    Slots are laid on the local wall clock, so "every 15 minutes from 12:00" gives 12:00, 12:15, … local
    on a DST change day too, stored as the matching UTC instants. A wall time that does not exist
    (spring forward) is skipped; one that happens twice (fall back) gets a slot for each real instant.
    A slot length is real elapsed time. Existing slots (same pop-up and start) are kept, not duplicated.
    Raises InvalidInput for an empty or absurd rule.
    """
    if every_minutes < 1 or capacity < 1 or (length_minutes is not None and length_minutes < 1):
        raise InvalidInput("Interval, length and capacity must be at least 1.", code="invalid_rule")
    if not dates or end <= start:
        raise InvalidInput("Choose at least one date and an end time after the start time.", code="invalid_rule")
    popup = PopUp.objects.get(pk=popup_id)
    tz = popup.tz
    length = dt.timedelta(minutes=length_minutes or every_minutes)
    step = dt.timedelta(minutes=every_minutes)
    wall_times: list[dt.datetime] = []
    for day in sorted(set(dates)):
        wall, last = dt.datetime.combine(day, start), dt.datetime.combine(day, end)
        while wall + length <= last:
            wall_times.append(wall)
            wall += step
    if len(wall_times) > MAX_SLOTS_PER_RULE:
        raise InvalidInput(
            f"That rule makes {len(wall_times)} slots; at most {MAX_SLOTS_PER_RULE}.", code="invalid_rule"
        )
    result = SlotRuleResult()
    with transaction.atomic():
        for wall in wall_times:
            instants = _local_instants(wall, tz)
            if not instants:
                result.nonexistent.append(f"{wall:%Y-%m-%d %H:%M}")
            for starts_at in instants:
                if PickupSlot.objects.filter(popup=popup, starts_at=starts_at).exists():
                    result.existing.append(f"{wall:%Y-%m-%d %H:%M}")
                    continue
                result.created.append(
                    PickupSlot.objects.create(
                        popup=popup,
                        starts_at=starts_at,
                        ends_at=starts_at + length,
                        capacity=capacity,
                        available=capacity,
                        price_adjust_percent=price_adjust_percent,
                    )
                )
    return result


def pickup_slot_update(
    *,
    slot_id: int,
    capacity: int | None = None,
    closed: bool | None = None,
    price_adjust_percent=None,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
) -> PickupSlot:
    """Edit one slot: capacity (available moves by the same delta; never below the places used),
    close/reopen, price adjustment (percent, -100 < p ≤ 100), and its times (aware datetimes; a move
    keeps its bookings, and their passes then expire `PICKUP_PASS_GRACE_HOURS` after the new end).

    Raises InvalidInput (capacity_below_used, invalid_price_adjust, invalid_slot_times),
    PickupSlot.DoesNotExist.
    """
    with transaction.atomic():
        slot = PickupSlot.objects.get(pk=slot_id)
        if starts_at is not None or ends_at is not None:
            new_start, new_end = starts_at or slot.starts_at, ends_at or slot.ends_at
            if timezone.is_naive(new_start) or timezone.is_naive(new_end) or new_end <= new_start:
                raise InvalidInput("A slot must end after it starts (aware times).", code="invalid_slot_times")
        if (
            capacity is not None
            and capacity != slot.capacity
            and (capacity < 0 or not locks.pickup_slot_set_capacity(slot_id=slot_id, capacity=capacity))
        ):
            slot.refresh_from_db()
            raise InvalidInput(
                f"{slot.used} places are already booked or held; capacity cannot go below that.",
                code="capacity_below_used",
            )
        fields = {}
        if starts_at is not None or ends_at is not None:
            fields.update(starts_at=new_start, ends_at=new_end)
        if closed is not None:
            fields["closed"] = closed
        if price_adjust_percent is not None:
            if not -100 < price_adjust_percent <= 100:
                raise InvalidInput(
                    "Price adjustment must be above -100 % and at most 100 %.", code="invalid_price_adjust"
                )
            fields["price_adjust_percent"] = price_adjust_percent
        if fields:
            PickupSlot.objects.filter(pk=slot_id).update(**fields)
        before = {name: getattr(slot, name) for name in ("capacity", "closed", "price_adjust_percent")}
        slot.refresh_from_db()
        audit_change(slot, {name: (old, getattr(slot, name)) for name, old in before.items()})
    return slot


# --- Passes --------------------------------------------------------------------


def pickup_pass_token(booking: PickupBooking) -> str:
    """The signed, unguessable pass token for the booking's current version (what the QR code encodes)."""
    return signing.Signer(salt=PASS_SALT).sign_object({"b": booking.pk, "v": booking.pass_version})


def pickup_pass_expires_at(booking: PickupBooking) -> dt.datetime:
    """When the booking's pass stops working: its slot's current end plus `PICKUP_PASS_GRACE_HOURS`."""
    return booking.slot.ends_at + pass_grace()


def pickup_pass_verify(*, token: str, now: dt.datetime | None = None) -> PickupBooking:
    """The booking a pass token names. Raises PassInvalid: `pass_invalid` (forged, altered, unknown,
    superseded by a reschedule, cancelled) or `pass_expired` (status 410, past the end of the
    booking's slot as it is now + grace; an expiry embedded by older tokens is ignored)."""
    now = now or timezone.now()
    try:
        data = signing.Signer(salt=PASS_SALT).unsign_object((token or "").strip())
        booking_id, version = int(data["b"]), int(data["v"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise PassInvalid("This is not a valid pickup pass.") from exc
    booking = PickupBooking.objects.select_related("slot__popup", "order__customer").filter(pk=booking_id).first()
    if booking is None or booking.pass_version != version:
        raise PassInvalid("This pickup pass was replaced by a newer one (rescheduled) or does not exist.")
    expires_at = pickup_pass_expires_at(booking)
    if now > expires_at:
        raise PassExpired("This pickup pass has expired.", expired_at=int(expires_at.timestamp()))
    if booking.cancelled_at or booking.order.status not in ACTIVE_ORDER_STATUSES:
        raise PassInvalid("This pickup booking was cancelled.")
    return booking


def _booking_for_update(booking_id: int) -> PickupBooking:
    return (
        PickupBooking.objects.select_for_update(of=("self",)).select_related("order", "slot__popup").get(pk=booking_id)
    )


def pickup_reschedule(*, booking_id: int, slot_id: int, now: dt.datetime | None = None) -> PickupBooking:
    """Move a booking to another slot of the same pop-up with a free place, atomically.

    The new place is taken by a conditional UPDATE and the old one given back in
    the same transaction (slot rows touched in primary-key order). The price paid
    stays as it was. The pass version goes up (old QR codes stop working), the
    reminder is re-armed, and the new pass is e-mailed after commit.
    Raises PickupSlotUnavailable (pickup_slot_full with nearest free slots),
    PickupInvalid (other pop-up, unknown slot), InvalidTransition (checked in,
    cancelled, order not active), PickupBooking.DoesNotExist.
    """
    now = now or timezone.now()
    with transaction.atomic():
        booking = _booking_for_update(booking_id)
        if booking.cancelled_at or booking.order.status not in ACTIVE_ORDER_STATUSES:
            raise InvalidTransition("This booking was cancelled.")
        if booking.checked_in_at:
            raise InvalidTransition("This booking was already picked up.")
        if slot_id == booking.slot_id:
            return booking
        new = PickupSlot.objects.select_related("popup").filter(pk=slot_id, popup_id=booking.slot.popup_id).first()
        if new is None:
            raise PickupInvalid("Choose a slot of the same pop-up.", code=ErrorCode.PICKUP_SLOT_INVALID)
        old_id = booking.slot_id
        for pk in sorted((old_id, new.pk)):
            if pk == new.pk:
                if not locks.pickup_slot_take(slot_id=new.pk, now=now):
                    raise pickup_slot_unavailable_error(slot=new, now=now)
            else:
                locks.pickup_slot_return(slot_id=old_id)
        booking.slot = new
        booking.pass_version += 1
        booking.reminder_sent_at = None
        booking.save(update_fields=["slot", "pass_version", "reminder_sent_at"])
        Hold.objects.filter(pk=booking.order.hold_id).update(pickup_slot=new)  # the place moves with the hold
        notifications_pickup.pickup_email_on_commit(booking_id=booking.pk, kind="rescheduled")
    return booking


def pickup_cancel(*, booking_id: int, now: dt.datetime | None = None, actor=None) -> PickupBooking:
    """Cancel a booking under the payment rules; its place goes back to the slot.

    Unpaid (awaiting payment at pickup, or pending): the order is cancelled
    (order_cancel returns stock, place and coupon use). Paid: a full refund is
    created (commerce.services.refunds.refund_create, processed by the provider
    in the background; unfulfilled units restock when it succeeds) and the place
    is given back now. Idempotent for cancelled bookings.
    Raises InvalidTransition (already picked up, order refunded), PickupBooking.DoesNotExist.
    """
    now = now or timezone.now()
    with transaction.atomic():
        booking = _booking_for_update(booking_id)
        if booking.cancelled_at:
            return booking
        if booking.checked_in_at:
            raise InvalidTransition("This booking was already picked up; refund it from the order instead.")
        status = booking.order.status
        if status in (Order.Status.PENDING, Order.Status.AWAITING_PAYMENT):
            order_cancel(order_id=booking.order_id, now=now)  # gives the place back with the hold
        elif status == Order.Status.PAID:
            refund_create(order_id=booking.order_id, actor=actor)
            locks.pickup_slot_return(slot_id=booking.slot_id)
        elif status != Order.Status.CANCELLED:
            raise InvalidTransition(f"A {booking.order.get_status_display().lower()} order cannot be cancelled.")
        booking.cancelled_at = now
        booking.save(update_fields=["cancelled_at"])
    return booking


# --- Check-in ------------------------------------------------------------------


@dataclass(frozen=True)
class CheckinResult:
    booking: PickupBooking
    paid_now: bool


def booking_by_code(*, code: str, now: dt.datetime | None = None, allow_order_number: bool = True) -> PickupBooking:
    """Resolve what staff scanned or typed: a signed pass token, a URL ending in one, or (for staff)
    the order number printed on the pass. Raises PassInvalid."""
    code = (code or "").strip()
    if "code=" in code:
        code = code.split("code=", 1)[1].split("&", 1)[0]
    if ":" in code:
        return pickup_pass_verify(token=code, now=now)
    if allow_order_number and code:
        booking = (
            PickupBooking.objects.select_related("slot__popup", "order__customer")
            .filter(order__number__iexact=code)
            .first()
        )
        if booking is not None:
            if booking.cancelled_at or booking.order.status not in ACTIVE_ORDER_STATUSES:
                raise PassInvalid("This pickup booking was cancelled.")
            return booking
    raise PassInvalid("No pickup pass matches that code.")


def checkin_record(
    *,
    booking_id: int,
    actor=None,
    actor_label: str = "",
    payment_collected: bool = False,
    now: dt.datetime | None = None,
) -> CheckinResult:
    """Record the pickup of a booking exactly once and mark its order lines fulfilled.

    The claim is one conditional UPDATE (`checked_in_at IS NULL`), so of several
    staff scanning the same pass at once exactly one wins; the others get
    AlreadyCheckedIn (409) saying when and by whom. An order still awaiting
    payment (pay at pickup) needs `payment_collected=True` (staff took the
    money): it is then marked paid in the same transaction.
    Raises AlreadyCheckedIn, CommerceError `payment_required` (409),
    PassInvalid (cancelled), PickupBooking.DoesNotExist.
    """
    now = now or timezone.now()
    label = actor_label or (actor.get_full_name() or actor.get_username() if actor is not None else "")
    with transaction.atomic():
        booking = PickupBooking.objects.select_related("order", "slot").get(pk=booking_id)
        if booking.checked_in_at:
            raise _already(booking)
        if booking.cancelled_at or booking.order.status not in ACTIVE_ORDER_STATUSES:
            raise PassInvalid("This pickup booking was cancelled.")
        paid_now = False
        if booking.order.status == Order.Status.AWAITING_PAYMENT:
            if not payment_collected:
                raise CommerceError(
                    "Payment is due at pickup: collect it, then check in.",
                    code=ErrorCode.PAYMENT_REQUIRED,
                    total_minor=booking.order.total_minor,
                    currency=booking.order.currency,
                )
            order_mark_paid(order_id=booking.order_id, now=now)
            paid_now = True
        claimed = PickupBooking.objects.filter(pk=booking.pk, checked_in_at__isnull=True).update(
            checked_in_at=now, checked_in_by=actor, checked_in_by_label=label[:200]
        )
        if not claimed:
            raise _already(PickupBooking.objects.get(pk=booking.pk))
        audit_change(booking, {"checked_in_at": (None, now), "checked_in_by_label": ("", label[:200])})
        for line_id in booking.order.lines.order_by("pk").values_list("pk", flat=True):
            order_line_fulfil(line_id=line_id)
        webhooks.pickup_checked_in_emit(booking=booking)
    booking.refresh_from_db()
    return CheckinResult(booking=booking, paid_now=paid_now)


def _already(booking: PickupBooking) -> AlreadyCheckedIn:
    when = timezone.localtime(booking.checked_in_at, booking.slot.popup.tz)
    who = booking.checked_in_by_label or "someone"
    return AlreadyCheckedIn(
        f"Already picked up at {when:%H:%M} on {when:%a %d %b} by {who}.",
        checked_in_at=booking.checked_in_at.isoformat(),
        checked_in_by=who,
    )


# --- Reminders and no-show messages --------------------------------------------


def pickup_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Queue the reminder e-mail for every valid booking whose slot opens within
    `settings.PICKUP_REMINDER_MINUTES`; returns how many were claimed.

    Each booking is claimed once by a conditional UPDATE on `reminder_sent_at IS NULL`
    (concurrent runs never send twice); the lead time is real elapsed time before the
    slot's UTC start, so it is right across DST changes. A reschedule re-arms it.
    """
    now = now or timezone.now()
    claimed = 0
    for booking_id in list(bookings_due_reminder(now=now, lead=reminder_lead()).values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            if PickupBooking.objects.filter(pk=booking_id, reminder_sent_at__isnull=True).update(reminder_sent_at=now):
                claimed += 1
                notifications_pickup.pickup_email_on_commit(booking_id=booking_id, kind="reminder")
    return claimed


def pickup_no_shows_message(*, slot_id: int, message: str, now: dt.datetime | None = None) -> int:
    """E-mail `message` to each no-show of an ended slot, once per booking; returns how many were queued.

    Raises InvalidInput for an empty message or a slot that has not ended.
    """
    now = now or timezone.now()
    message = (message or "").strip()
    if not message:
        raise InvalidInput("Write a message.", code="invalid_message")
    slot = PickupSlot.objects.get(pk=slot_id)
    if slot.ends_at > now:
        raise InvalidInput("No-shows are known once the slot has ended.", code="slot_not_ended")
    sent = 0
    for booking_id in list(
        pickup_no_shows(slot_id=slot_id, now=now).filter(no_show_messaged_at__isnull=True).values_list("pk", flat=True)
    ):
        with transaction.atomic():
            if PickupBooking.objects.filter(pk=booking_id, no_show_messaged_at__isnull=True).update(
                no_show_messaged_at=now
            ):
                sent += 1
                notifications_pickup.pickup_email_on_commit(booking_id=booking_id, kind="no_show", message=message)
    return sent


def booking_summary(booking: PickupBooking) -> str:
    """One line for staff: "MM-… · ann@example.com · Sat 28 Mar, 12:00–12:15 CET"."""
    return f"{booking.order.number} · {booking.order.customer.email} · {slot_label(booking.slot)}"


def pickup_slot_book(
    *,
    drop_id: int,
    slot_id: int,
    email: str,
    quantity: int,
    name: str = "",
    now: dt.datetime | None = None,
    partner_id: int | None = None,
) -> PickupBooking:
    """Hold units with a place in `slot_id` and check out in one step (partner API); returns the booking.

    `partner_id`: the booking partner, owner of the hold and the order (commerce.access).

    With the manual provider the order is confirmed at once (pay at pickup) and the pass
    e-mailed; with a hosted provider the order stays pending until paid (`order.payment_url`).
    Raises what hold_place and checkout_start raise; if checkout fails the hold is released.
    """
    from .holds import hold_place, hold_release
    from .orders import checkout_start

    now = now or timezone.now()
    hold = hold_place(
        drop_id=drop_id, email=email, quantity=quantity, name=name, now=now, pickup_slot_id=slot_id, partner_id=partner_id
    )
    try:
        order = checkout_start(hold_token=hold.token, now=now)
    except CommerceError:
        hold_release(hold_id=hold.pk, now=now)
        raise
    return PickupBooking.objects.select_related("slot__popup", "order__customer").get(order=order)
