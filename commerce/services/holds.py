"""Holds: "add to cart" reserves drop units at a locked price until the hold expires."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from .. import locks
from ..exceptions import (
    ClientLimitExceeded,
    DropUnavailable,
    ErrorCode,
    InvalidInput,
    InvalidTransition,
    LimitExceeded,
    MembersOnly,
)
from ..identity import clean_email, normalize_email
from ..limits import HoldClient, hold_client_cap, hold_rate_limit_check
from ..memberships import services_bundles as bundles
from ..memberships.gating import MEMBERS_ONLY_MESSAGE, hold_membership_check, member_unit_price
from ..models import Drop, Hold
from ..pricing import drop_price_quote
from ..selectors import SESSION_SELLING, drop_for_hold, session_sale_state
from ..selectors_pickup import pickup_slot_for_hold, pickup_slot_unavailable_error
from . import funnel
from .customers import customer_lock_or_create
from .waitlist import waitlist_offer_freed
from .watch_coupons import watch_codes_bind_visitor

SWEEP_BATCH = 200


def drop_unavailable_error(drop: Drop, now: dt.datetime) -> DropUnavailable:
    """The DropUnavailable error that explains why `drop` cannot sell at `now` (reads its session).

    The session's state speaks first (commerce.selectors.session_sale_state): codes
    session_cancelled, session_ended, session_not_live (with `opens_at` = the pre-sale start if
    staff set one); then the drop's own window and stock: not_yet_open, closed, sold_out.
    """
    session = drop.session
    session_state = session_sale_state(status=session.status, presale_opens_at=session.presale_opens_at, now=now)
    if session_state == "cancelled":
        return DropUnavailable("This session was cancelled; its drops do not sell.", code=ErrorCode.SESSION_CANCELLED)
    if session_state == "ended":
        return DropUnavailable("This session has ended; its drops are closed.", code=ErrorCode.SESSION_ENDED)
    if session_state not in SESSION_SELLING:
        return DropUnavailable(
            "This drop sells once the session is live.",
            code=ErrorCode.SESSION_NOT_LIVE,
            starts_at=session.starts_at,
            presale_opens_at=session.presale_opens_at,
        )
    state = drop.state_at(now)
    if state == Drop.State.NOT_YET_OPEN:
        return DropUnavailable("This drop is not open yet.", code=ErrorCode.NOT_YET_OPEN, opens_at=drop.opens_at)
    if state == Drop.State.CLOSED:
        return DropUnavailable("This drop has closed.", code=ErrorCode.CLOSED, closes_at=drop.closes_at)
    if state == Drop.State.SOLD_OUT:
        return DropUnavailable("Sold out.", code=ErrorCode.SOLD_OUT, available=0)
    left = drop.total_available
    return DropUnavailable(f"Only {left} left.", code=ErrorCode.SOLD_OUT, available=left)


def _expire(holds: list[tuple[int, int, int]], now: dt.datetime) -> int:
    """Mark locked (pk, drop_id, quantity) holds expired and return their units. Returns units freed."""
    if not holds:
        return 0
    Hold.objects.filter(pk__in=[h[0] for h in holds], status=Hold.Status.ACTIVE).update(
        status=Hold.Status.EXPIRED, ended_at=now
    )
    slot_ids = sorted(
        Hold.objects.filter(pk__in=[h[0] for h in holds], pickup_slot__isnull=False).values_list(
            "pickup_slot_id", flat=True
        )
    )
    per_drop: dict[int, int] = {}
    for _pk, drop_id, quantity in holds:
        per_drop[drop_id] = per_drop.get(drop_id, 0) + quantity
    for drop_id in sorted(per_drop):
        locks.drop_return_stock(drop_id=drop_id, quantity=per_drop[drop_id])
    for slot_id in slot_ids:  # after the drops: the same lock order as hold_place
        locks.pickup_slot_return(slot_id=slot_id)
    bundles.bundle_seats_release(hold_ids=[h[0] for h in holds], now=now)  # a bundle's seats follow its units
    for drop_id in sorted(per_drop):  # freed units go to the waitlist first (docs/waitlist.md)
        waitlist_offer_freed(drop_id=drop_id, now=now)
    return sum(per_drop.values())


def holds_release_lapsed(*, drop_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Expire active holds past `expires_at` (one drop, or all) and return their units to stock.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED, so concurrent sweeps
    (the per-minute schedule and every hold placement) never wait on each other
    or free a unit twice. Returns the number of units freed. Holds whose order is
    mid-payment are expired too: a payment that arrives later follows the
    late-payment rule (commerce.services.payments).
    """
    now = now or timezone.now()
    freed = 0
    while True:
        with transaction.atomic():
            qs = Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now)
            if drop_id is not None:
                qs = qs.filter(drop_id=drop_id)
            batch = list(
                qs.select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "drop_id", "quantity")[:SWEEP_BATCH]
            )
            freed += _expire(batch, now)
        if len(batch) < SWEEP_BATCH:
            return freed


def hold_place(
    *,
    drop_id: int,
    email: str,
    quantity: int,
    name: str = "",
    now: dt.datetime | None = None,
    visitor_id: str | None = None,
    pickup_slot_id: int | None = None,
    client: HoldClient | None = None,
    rate_limit: bool = True,
    partner_id: int | None = None,
    member_pass: str | None = None,
) -> Hold:
    """Reserve `quantity` units of a drop for `email`; returns the active Hold.

    `partner_id`: the partner whose API key places it (its owner, commerce.access); None = the shop.

    The unit price is locked from the drop's price schedule at `now`
    (commerce.pricing) and the hold expires after `drop.hold_seconds`. Stock is
    taken by one conditional UPDATE in the same transaction that writes the
    hold (zero oversell; one statement with the limit check and the INSERT on
    PostgreSQL, commerce.locks.hold_insert_taking_stock); the per-customer limit
    counts live and converted holds and is serialized by locking the customer's
    row. When stock runs short, the drop's lapsed holds are released first, so a
    dead worker never keeps stock away.

    With `pickup_slot_id` (required for pickup-only drops) the hold also takes
    one place in that slot of the drop's pop-up, in the same transaction, with
    the same expiry and at the slot's price (commerce.pricing).

    Abuse limits (commerce.limits), when the caller names the `client` (storefront, partner API):
    the attempt is counted against the client's rate limits first (shared store, no database
    round trip with Redis), and the units held or bought on the drop by every hold of the
    client, whatever the e-mail, may not exceed hold_client_cap, checked by the database under a
    per-(client, drop) lock in the same statement/transaction as the stock.

    Members (docs/members-only.md): an exclusive drop (commerce.memberships.gating.drop_is_exclusive)
    needs `member_pass` (Membership.pass_token) granting access at `now`, and `email` must be the
    member's own address (the hold goes to the member's customer); otherwise MembersOnly (403
    `members_only`, one message for every case). With a member pass the member price, if lower, is
    locked into the hold (gating.member_unit_price). These holds take the transactional path below,
    never the one-round-trip spike path.

    A community bundle's drop (docs/bundles.md) takes the slow path: one unit (quantity must be 1) and
    one seat of the bundle (commerce.locks.bundle_seat_take) in the same transaction, with a
    BundleSeat(held); no seat left → SeatsGone (409 `seats_gone`, `extra["reason"] = "seats"`), the unit
    rolled back with it.

    Analytics: a `cart` event (with `visitor_id`, merged with the customer) after commit; the
    visitor's unbound watch-reward codes are bound to the customer (docs/watch-coupons.md).

    Raises MembersOnly (members_only), InvalidInput (quantity < 1, bad e-mail), RateLimited (429, `extra["retry_after"]`
    seconds), ClientLimitExceeded (code client_limit), LimitExceeded,
    DropUnavailable (code sold_out / not_yet_open / closed, or session_not_live / session_ended /
    session_cancelled when the drop's session does not sell: docs/sessions-and-times.md), PickupInvalid
    (pickup_slot_required / pickup_slot_invalid), PickupSlotUnavailable
    (pickup_slot_full, `extra["nearest"]` = nearest free slots), Drop.DoesNotExist.
    """
    now = now or timezone.now()
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise InvalidInput(
            "Quantity must be a whole number of at least 1.", code=ErrorCode.INVALID_QUANTITY, field="quantity"
        )
    if client is not None and rate_limit:  # rate_limit=False: the caller counted this attempt already
        hold_rate_limit_check(client=client, drop_id=drop_id)
    client_key = client.key if client is not None else ""
    drop = drop_for_hold(drop_id=drop_id)  # its terms; the database checks window, stock and limits
    membership = hold_membership_check(drop=drop, member_pass=member_pass, now=now)  # MembersOnly if exclusive
    gated = membership is not None  # exclusive or member-priced: the customer is checked in the transaction
    cap = hold_client_cap(quantity=drop.quantity, per_customer_limit=drop.per_customer_limit) if client_key else None
    # a community bundle's hold also takes a seat: the slow path (docs/bundles.md)
    is_bundle = getattr(drop, "bundle_pk", None) is not None
    spike_path = pickup_slot_id is None and drop.fulfilment != Drop.Fulfilment.PICKUP and not gated and not is_bundle
    if spike_path and connection.vendor == "postgresql" and quantity <= drop.per_customer_limit:
        # One round trip does it all (commerce.locks.hold_place_in_one_round_trip).
        try:
            typed, key = clean_email(email), normalize_email(email)
        except ValidationError as exc:
            raise _invalid_email() from exc
        if drop.pricing == Drop.Pricing.STEP_UP:
            drop.refresh_from_db(fields=["available"])  # its price follows sell-through
        hold = _new_hold(drop=drop, quantity=quantity, now=now, slot=None, client_key=client_key, partner_id=partner_id)
        attempt = locks.hold_place_in_one_round_trip(
            hold=hold, email=typed, email_key=key, name=name, now=now, client_cap=cap
        )
        if attempt.inserted:
            hold.drop = drop
            funnel.capture_cart(hold=hold, visitor_id=visitor_id, now=now)
            watch_codes_bind_visitor(visitor_id=visitor_id, customer_id=hold.customer_id, now=now)
            return hold
        # Refused: below, lapsed holds are released and a refusal is explained from a fresh read.
    drop = Drop.objects.select_related("sku").get(pk=drop_id)
    if not gated:  # the terms copy may be a second old: the fresh row decides who may hold it
        membership = hold_membership_check(drop=drop, member_pass=member_pass, now=now)
        gated = membership is not None
    bundle_id = bundles.Bundle.objects.filter(drop_id=drop.pk).values_list("pk", flat=True).first()
    if bundle_id is not None:
        bundles.bundle_quantity_check(quantity=quantity)
    if quantity > drop.per_customer_limit:
        raise LimitExceeded(
            f"You can buy at most {drop.per_customer_limit} of this drop.", limit=drop.per_customer_limit
        )
    slot = pickup_slot_for_hold(drop=drop, pickup_slot_id=pickup_slot_id)
    cap = hold_client_cap(quantity=drop.quantity, per_customer_limit=drop.per_customer_limit) if client_key else None
    with transaction.atomic():
        # One transaction (one commit) for the customer row, its lock, the stock and the hold.
        try:
            customer = customer_lock_or_create(email=email, name=name)
        except ValidationError as exc:
            raise _invalid_email() from exc
        if gated and customer.pk != membership.customer_id:
            raise MembersOnly(MEMBERS_ONLY_MESSAGE)  # another address than the member's: nothing is written
        if cap is not None:
            locks.hold_client_lock(client_key=client_key, drop_id=drop.pk)  # after the customer: one lock order
        if drop.pricing == Drop.Pricing.STEP_UP:
            drop.refresh_from_db(fields=["available"])
        hold = _new_hold(
            drop=drop,
            quantity=quantity,
            now=now,
            slot=slot,
            client_key=client_key,
            partner_id=partner_id,
            membership=membership,
        )
        hold.customer = customer
        inserted, already, theirs = locks.hold_insert_taking_stock(hold=hold, now=now, client_cap=cap)
        within_cap = cap is None or theirs + quantity <= cap
        if not inserted and already + quantity <= drop.per_customer_limit and within_cap:
            # Short of stock (or not open): give the drop's lapsed holds back first, then try once more.
            lapsed = list(
                Hold.objects.filter(drop_id=drop.pk, status=Hold.Status.ACTIVE, expires_at__lte=now)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "drop_id", "quantity")[:SWEEP_BATCH]
            )
            if _expire(lapsed, now):
                inserted, already, theirs = locks.hold_insert_taking_stock(hold=hold, now=now, client_cap=cap)
        if not inserted:
            if already + quantity > drop.per_customer_limit:
                raise _limit_error(drop, already)
            if cap is not None and theirs + quantity > cap:
                raise ClientLimitExceeded(
                    f"This drop is limited to {cap} units per buyer, and {theirs} are already held or bought "
                    "from your network. Let others have a chance, or try again when a hold expires.",
                    limit=cap,
                    already=theirs,
                )
            fresh = Drop.objects.select_related("session").get(pk=drop.pk)  # stock and session as they are now
            raise drop_unavailable_error(fresh, now)
        if slot is not None and not locks.pickup_slot_take(slot_id=slot.pk, now=now):
            # The slot looks full: give back its places held by lapsed holds (any drop), then try once more.
            lapsed = list(
                Hold.objects.filter(pickup_slot_id=slot.pk, status=Hold.Status.ACTIVE, expires_at__lte=now)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "drop_id", "quantity")[:SWEEP_BATCH]
            )
            if not (_expire(lapsed, now) and locks.pickup_slot_take(slot_id=slot.pk, now=now)):
                raise pickup_slot_unavailable_error(slot=slot, now=now)
        if bundle_id is not None and not bundles.bundle_seat_take_for_hold(hold=hold, bundle_id=bundle_id, now=now):
            # The seats look gone: give back the seats of the drop's lapsed holds, then try once more.
            lapsed = list(
                Hold.objects.filter(drop_id=drop.pk, status=Hold.Status.ACTIVE, expires_at__lte=now)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", "drop_id", "quantity")[:SWEEP_BATCH]
            )
            retaken = _expire(lapsed, now) and bundles.bundle_seat_take_for_hold(hold=hold, bundle_id=bundle_id, now=now)
            if not retaken:
                raise bundles.seats_gone_error(bundle_id=bundle_id)  # the unit taken above rolls back with it
        funnel.capture_cart(hold=hold, visitor_id=visitor_id, now=now)
        watch_codes_bind_visitor(visitor_id=visitor_id, customer_id=customer.pk, now=now)
    hold.drop = drop
    hold.customer = customer
    return hold


def _new_hold(
    *,
    drop: Drop,
    quantity: int,
    now: dt.datetime,
    slot,
    client_key: str = "",
    partner_id: int | None = None,
    membership=None,
) -> Hold:
    """An unsaved active hold at the drop's (and slot's) current price, expiring after drop.hold_seconds.

    For a `membership` granting access: min(member price, that price) (commerce.memberships.gating)."""
    quote = drop_price_quote(drop, now=now, slot=slot)
    member_price = member_unit_price(drop, membership, now=now, current_price_minor=quote.unit_price_minor)
    return Hold(
        drop=drop,
        quantity=quantity,
        unit_price_minor=quote.unit_price_minor if member_price is None else member_price,
        currency=drop.currency,
        price_step=quote.step,
        expires_at=now + dt.timedelta(seconds=drop.hold_seconds),
        pickup_slot=slot,
        client_key=client_key,
        partner_id=partner_id,
    )


def _invalid_email() -> InvalidInput:
    return InvalidInput("Enter a valid email address.", code=ErrorCode.INVALID_EMAIL, field="email")


def _limit_error(drop: Drop, already: int) -> LimitExceeded:
    """The per-customer limit bit. It never says how many units the address already holds or bought:
    whoever typed it may not be its owner (QA: "you already have 2" told anyone what someone bought)."""
    return LimitExceeded(
        f"You can buy at most {drop.per_customer_limit} of this drop per buyer.", limit=drop.per_customer_limit
    )


def hold_release(*, hold_id: int, now: dt.datetime | None = None) -> Hold:
    """Give up an active hold (buyer abandoned, checkout expired): its units return to stock.

    Idempotent for holds already released or expired. Raises InvalidTransition
    for a converted hold (refund the order instead).
    """
    now = now or timezone.now()
    with transaction.atomic():
        hold = Hold.objects.select_for_update().get(pk=hold_id)
        if hold.status in (Hold.Status.RELEASED, Hold.Status.EXPIRED):
            return hold
        if hold.status == Hold.Status.CONVERTED:
            raise InvalidTransition("This hold became an order; refund the order instead.")
        hold.status = Hold.Status.RELEASED
        hold.ended_at = now
        hold.save(update_fields=["status", "ended_at"])
        locks.drop_return_stock(drop_id=hold.drop_id, quantity=hold.quantity)
        if hold.pickup_slot_id:
            locks.pickup_slot_return(slot_id=hold.pickup_slot_id)
        bundles.bundle_seats_release(hold_ids=[hold.pk], now=now)
        waitlist_offer_freed(drop_id=hold.drop_id, now=now)
    return hold


def holds_release_for_session(*, session_id: int, now: dt.datetime) -> int:
    """Release every active hold on the session's drops (its session was cancelled); returns units freed.

    Call inside the caller's transaction (sessions_app.services.session_cancel, which holds the
    session's row lock). Holds are locked in primary-key order, then their units and pickup places
    go back, in the same order as the expiry sweep.
    """
    holds = list(
        Hold.objects.filter(drop__session_id=session_id, status=Hold.Status.ACTIVE)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", "drop_id", "quantity")
    )
    if not holds:
        return 0
    ids = [h[0] for h in holds]
    Hold.objects.filter(pk__in=ids).update(status=Hold.Status.RELEASED, ended_at=now)
    slot_ids = sorted(
        Hold.objects.filter(pk__in=ids, pickup_slot__isnull=False).values_list("pickup_slot_id", flat=True)
    )
    per_drop: dict[int, int] = {}
    for _pk, drop_id, quantity in holds:
        per_drop[drop_id] = per_drop.get(drop_id, 0) + quantity
    for drop_id in sorted(per_drop):
        locks.drop_return_stock(drop_id=drop_id, quantity=per_drop[drop_id])
    for slot_id in slot_ids:
        locks.pickup_slot_return(slot_id=slot_id)
    bundles.bundle_seats_release(hold_ids=ids, now=now)
    return sum(per_drop.values())


def hold_session_cancelled(hold: Hold) -> bool:
    """True if the hold's drop belongs to a cancelled session: it never becomes an order."""
    return hold.drop.session.status == "cancelled"


def hold_expire_locked(*, hold: Hold, now: dt.datetime) -> None:
    """Expire an active, locked hold whose `expires_at` has passed, as the sweeper would: its units go back.

    For a payment arriving while no worker has swept the hold yet (commerce.services.payments):
    the late-payment rule then takes the units again through the same conditional UPDATE.
    """
    if hold.status == Hold.Status.ACTIVE:
        _expire([(hold.pk, hold.drop_id, hold.quantity)], now)
        hold.refresh_from_db(fields=["status", "ended_at"])


def hold_convert(*, hold: Hold, now: dt.datetime, allow_lapsed: bool) -> bool:
    """Turn a locked hold into sold units. Call inside the caller's transaction with `hold` locked.

    An active hold converts (its units are already taken). A hold that expired or
    was released gave its units back, so they are taken again through the same
    conditional UPDATE (ignoring the drop's window) when `allow_lapsed`, with
    its pickup place if it had one; returns False if the units or the place are gone, or if the
    drop's session was cancelled (its holds never become orders: a late payment is refunded).
    """
    if hold.status == Hold.Status.CONVERTED:
        return True
    if hold_session_cancelled(hold):
        return False
    if hold.status != Hold.Status.ACTIVE and not (allow_lapsed and _take_again(hold, now)):
        return False
    hold.status = Hold.Status.CONVERTED
    hold.ended_at = now
    hold.save(update_fields=["status", "ended_at"])
    bundles.bundle_seat_confirm(hold_id=hold.pk, now=now)  # a bundle's seat is confirmed with its unit
    return True


def _take_again(hold: Hold, now: dt.datetime) -> bool:
    """Take a lapsed hold's units (and its pickup place) again, ignoring windows. True if both were there."""
    if not locks.drop_take_stock(drop_id=hold.drop_id, quantity=hold.quantity, now=now, require_open=False):
        return False
    if hold.pickup_slot_id and not locks.pickup_slot_take_any(slot_id=hold.pickup_slot_id):
        locks.drop_return_stock(drop_id=hold.drop_id, quantity=hold.quantity)
        return False
    if not bundles.bundle_seat_take_again(hold_id=hold.pk, now=now):  # a bundle: its seat too, or nothing
        locks.drop_return_stock(drop_id=hold.drop_id, quantity=hold.quantity)
        if hold.pickup_slot_id:
            locks.pickup_slot_return(slot_id=hold.pickup_slot_id)
        return False
    return True
