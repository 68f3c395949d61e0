"""Community bundles: a drop's SKU sold together with a seat in a private micro-session (docs/bundles.md).

A bundle drop's hold takes one unit (the drop's conditional UPDATE) and one seat (the bundle's
conditional UPDATE, commerce.locks.bundle_seat_take) in the hold's transaction and writes a
BundleSeat(held) with it: both or neither. The seat follows the unit everywhere:

- hold converts (payment confirmed, or the manual provider's checkout) → seat `confirmed`;
- hold expires / is released / its session is cancelled / its unpaid order is cancelled → seat
  `released`, `seats_available` + 1;
- a lapsed hold paid late takes its unit and its seat again, or neither (the payment is refunded);
- a refund that takes the bundle line's unit off the order → seat `released` (the unit goes back to
  stock too unless it was fulfilled: commerce.services.refunds).

Lock order: customer → drop → bundle on the way in; holds → drops → bundles (→ seat rows) on the way
out. One bundle hold is one unit and one seat (quantity 1).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db import transaction
from django.utils import timezone

from .. import locks
from ..exceptions import CommerceError, DropUnavailable, ErrorCode, InvalidInput
from ..models import Bundle, BundleSeat, Drop, Hold, Order


class SeatsGone(DropUnavailable):
    """409 `seats_gone`: the bundle's private seats are all sold or held (units may be left)."""

    code = ErrorCode.SEATS_GONE


class BundleInvalid(CommerceError):
    """422: a bundle's terms are not acceptable (seat cap, session not private, drop already selling)."""

    code = ErrorCode.INVALID_TRANSITION
    status = 422


def seats_gone_error(*, bundle_id: int) -> SeatsGone:
    bundle = Bundle.objects.select_related("private_session").get(pk=bundle_id)
    return SeatsGone(
        f"The seats in {bundle.private_session.title} are all taken, so this bundle is sold out.",
        reason="seats",
        seats_available=0,
    )


def bundle_quantity_check(*, quantity: int) -> None:
    """A bundle hold is one unit with one seat. Raises InvalidInput `bundle_one_per_hold` otherwise."""
    if quantity != 1:
        raise InvalidInput(
            "A bundle comes with one personal seat: buy one at a time.",
            code=ErrorCode.BUNDLE_ONE_PER_HOLD,
            field="quantity",
        )


def bundle_create(
    *, drop_id: int, private_session_id: int, seat_cap: int, note: str = "", now: dt.datetime | None = None
) -> Bundle:
    """Pair a drop with `seat_cap` seats in a private micro-session; `seats_available` starts at the cap.

    Raises BundleInvalid: seat_cap < 1, the session is not private (LiveSession.is_private), the drop
    already is a bundle, or the drop already has holds (their buyers would have no seat).
    """
    from sessions_app.models import LiveSession

    if not isinstance(seat_cap, int) or seat_cap < 1:
        raise BundleInvalid("A bundle needs at least 1 seat.", field="seat_cap")
    with transaction.atomic():
        drop = Drop.objects.select_for_update().get(pk=drop_id)
        session = LiveSession.objects.get(pk=private_session_id)
        if not session.is_private:
            raise BundleInvalid(
                "Pick a private micro-session (its page is reached only by a seat's join link).",
                field="private_session",
            )
        if Bundle.objects.filter(drop_id=drop.pk).exists():
            raise BundleInvalid("This drop already is a bundle.", field="drop")
        if Hold.objects.filter(drop_id=drop.pk).exists():
            raise BundleInvalid(
                "This drop has already been held or sold without seats: pair a drop that has not started selling.",
                field="drop",
            )
        bundle = Bundle.objects.create(
            drop=drop, private_session=session, seat_cap=seat_cap, seats_available=seat_cap, note=note
        )
    _forget_drop_terms()
    return bundle


def private_session_create(*, drop_id: int, title: str, starts_at: dt.datetime, duration_seconds: int = 600):
    """A private micro-session (is_private) for a bundle of `drop_id`: the drop's session's series, format,
    timezone and stream URL, starting at `starts_at` (aware UTC). Raises BundleInvalid for an empty title
    or a start before the drop's session starts."""
    from sessions_app.models import LiveSession

    drop = Drop.objects.select_related("session").get(pk=drop_id)
    title = (title or "").strip()
    if not title:
        raise BundleInvalid("Name the private session.", field="new_session_title")
    if starts_at < drop.session.starts_at:
        raise BundleInvalid("The private session starts after the drop's session.", field="new_session_starts_at")
    return LiveSession.objects.create(
        series=drop.session.series,
        format=drop.session.format,
        title=title[:200],
        starts_at=starts_at,
        duration_seconds=duration_seconds,
        timezone=drop.session.timezone,
        stream_url=drop.session.stream_url,
        is_private=True,
    )


def bundle_set_seat_cap(*, bundle_id: int, seat_cap: int) -> Bundle:
    """Change the seat cap; seats held or sold stay. Raises BundleInvalid below the seats taken or under 1."""
    if not isinstance(seat_cap, int) or seat_cap < 1:
        raise BundleInvalid("A bundle needs at least 1 seat.", field="seat_cap")
    with transaction.atomic():
        if not locks.bundle_set_seat_cap(bundle_id=bundle_id, seat_cap=seat_cap):
            bundle = Bundle.objects.get(pk=bundle_id)
            taken = bundle.seat_cap - bundle.seats_available
            raise BundleInvalid(
                f"{taken} seat(s) are already sold or held: the cap cannot go below {taken}.", field="seat_cap"
            )
    return Bundle.objects.get(pk=bundle_id)


def _forget_drop_terms() -> None:
    from ..selectors import drop_terms

    drop_terms.forget()  # hold_place reads `bundle_pk` from the remembered terms


def bundle_seat_take_for_hold(*, hold: Hold, bundle_id: int, now: dt.datetime) -> bool:
    """Take one seat for a just-inserted bundle hold and write its BundleSeat(held). False if no seat is left.

    Call inside hold_place's transaction, after the unit was taken (lock order customer → drop → bundle).
    """
    if not locks.bundle_seat_take(bundle_id=bundle_id, now=now):
        return False
    BundleSeat.objects.create(bundle_id=bundle_id, hold=hold, customer_id=hold.customer_id)
    return True


def bundle_seats_release(*, hold_ids: list[int], now: dt.datetime) -> int:
    """Release the held/confirmed seats of these holds and give them back to their bundles; returns seats freed.

    Call inside the caller's transaction, after the holds' units went back (holds → drops → bundles).
    """
    if not hold_ids:
        return 0
    seats = list(
        BundleSeat.objects.filter(
            hold_id__in=hold_ids, status__in=[BundleSeat.Status.HELD, BundleSeat.Status.CONFIRMED]
        )
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "bundle_id")
    )
    if not seats:
        return 0
    BundleSeat.objects.filter(pk__in=[pk for pk, _b in seats]).update(
        status=BundleSeat.Status.RELEASED, released_at=now
    )
    per_bundle = Counter(bundle_id for _pk, bundle_id in seats)
    for bundle_id in sorted(per_bundle):
        locks.bundle_seats_return(bundle_id=bundle_id, seats=per_bundle[bundle_id])
    return len(seats)


def bundle_seat_confirm(*, hold_id: int, now: dt.datetime) -> None:
    """The hold converted: its seat (if a bundle's) becomes confirmed, with the hold's order if it has one."""
    seat = BundleSeat.objects.select_for_update().filter(hold_id=hold_id).first()
    if seat is None or seat.status == BundleSeat.Status.CONFIRMED:
        return
    order = Order.objects.filter(hold_id=hold_id).exclude(status=Order.Status.CANCELLED).first()
    seat.status = BundleSeat.Status.CONFIRMED
    seat.released_at = None
    seat.order = order or seat.order
    seat.save(update_fields=["status", "released_at", "order"])


def bundle_seat_take_again(*, hold_id: int, now: dt.datetime) -> bool:
    """A lapsed hold is paid late: take its released seat again (ignoring the window). True if no seat was needed
    or one was taken; False if the seats are gone (the caller gives the unit back and refunds)."""
    seat = BundleSeat.objects.select_for_update().filter(hold_id=hold_id).first()
    if seat is None or seat.status != BundleSeat.Status.RELEASED:
        return True
    if not locks.bundle_seat_take(bundle_id=seat.bundle_id, now=now):
        return False
    seat.status = BundleSeat.Status.HELD
    seat.released_at = None
    seat.save(update_fields=["status", "released_at"])
    return True


def bundle_seat_attach_order(*, hold_id: int, order: Order) -> None:
    """Link the hold's seat (if any) to the order created from the hold (checkout_start)."""
    BundleSeat.objects.filter(hold_id=hold_id).update(order=order)


def bundle_line_title(*, drop: Drop) -> str:
    """The order line's title: the drop's, plus "+ seat in <private session>" for a bundle drop."""
    bundle = Bundle.objects.select_related("private_session").filter(drop_id=drop.pk).first()
    if bundle is None:
        return drop.display_title
    return f"{drop.display_title} + seat in {bundle.private_session.title}"[:300]


def bundle_seats_release_for_refunded_lines(*, order: Order, now: dt.datetime | None = None) -> int:
    """Release the seats of an order whose bundle lines have no unit left on the order (all refunded).

    Called by commerce.services.refunds when a refund succeeds, under the order's row lock.
    """
    now = now or timezone.now()
    if not order.hold_id:
        return 0
    bundle_drop_ids = set(Bundle.objects.filter(drop__order_lines__order=order).values_list("drop_id", flat=True))
    if not bundle_drop_ids:
        return 0
    if any(line.refunded_quantity < line.quantity for line in order.lines.all() if line.drop_id in bundle_drop_ids):
        return 0
    return bundle_seats_release(hold_ids=[order.hold_id], now=now)
