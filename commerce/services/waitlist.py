"""Waitlists: "notify me" on a sold-out drop, and personal offers that RESERVE freed units.

The reservation rule (docs/waitlist.md): an open offer has taken its units out of
`Drop.available` through the same conditional UPDATE as a hold (commerce.locks.drop_take_stock),
so sold + live holds + open offers + available = quantity at every commit, the public never
grabs a unit promised to the line, and there are never more open offers than freed units.

Who serves the line: `waitlist_offer_freed(drop_id=, now=)`, called in the SAME transaction right
after units return to a drop (a lapsed or released hold, a cancelled order, a raised quantity, a
lapsed or withdrawn offer). Strategy (proved by tests/commerce/test_waitlist_races.py): the
drop's row is locked FOR UPDATE first (a transaction that just returned units already holds
it through its UPDATE), which serializes every offer maker of one drop, then waiting entries
are walked in FIFO order with FOR UPDATE SKIP LOCKED (an entry a concurrent leave holds is
skipped, never waited for). Each entry takes `entry.quantity` units; the walk stops at the first
entry that does not fit (first come, first served: a later, smaller request never overtakes).
When nobody waits the hook costs one indexed EXISTS (partial index `waitlist_waiting_fifo`).

Lock order everywhere: offer → entry → drop → (other entries, SKIP LOCKED).
"""

from __future__ import annotations

import datetime as dt
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import locks
from ..exceptions import CommerceError, InvalidInput, LimitExceeded, MembersOnly
from ..identity import clean_email, normalize_email
from ..memberships.gating import drop_is_exclusive
from ..models import Drop, Hold, WaitlistEntry, WaitlistOffer
from ..pricing import drop_price_quote
from .customers import customer_get_or_create
from .outbox import outbox_enqueue

OFFER_BATCH = 100
SELLING_SESSION_STATUSES = ("live", "scheduled")


class WaitlistError(CommerceError):
    """A waitlist request that cannot be done (see `code`): not_sold_out, waitlist_closed, offer_expired,
    offer_claimed, offer_withdrawn, waitlist_pickup_only."""

    status = 409


class OfferGone(WaitlistError):
    """The offer can no longer be taken: it expired, was claimed or withdrawn (`code`)."""

    status = 410


def offer_minutes() -> int:
    """How long an offer link stays valid (settings.WAITLIST_OFFER_MINUTES, default 10)."""
    return int(getattr(settings, "WAITLIST_OFFER_MINUTES", 10))


# --- joining and leaving -------------------------------------------------------------------------


def waitlist_join(
    *, drop_id: int, email: str, quantity: int = 1, now: dt.datetime | None = None, partner_id: int | None = None
) -> WaitlistEntry:
    """Put `email` in line for `quantity` units (1..drop.per_customer_limit) of a drop.

    Returns the entry: the new one, or the address's live entry when it is already in line (the
    caller answers both the same way, so nobody learns whether an address is on the list). A new
    entry gets an e-mail (outbox kind `waitlist_email`) with its leave-the-list link.

    Raises InvalidInput (invalid_email / invalid_quantity, 422), WaitlistError (waitlist_closed: the
    drop closed or its session ended or was cancelled; not_sold_out: the drop can sell that many
    now and nobody waits; waitlist_pickup_only), Drop.DoesNotExist.
    """
    now = now or timezone.now()
    drop = Drop.objects.select_related("session", "sku").get(pk=drop_id)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= drop.per_customer_limit:
        raise InvalidInput(
            f"Quantity must be between 1 and {drop.per_customer_limit}.", code="invalid_quantity", field="quantity"
        )
    try:
        typed, key = clean_email(email), normalize_email(email)
    except ValidationError as exc:
        raise InvalidInput("Enter a valid email address.", code="invalid_email", field="email") from exc
    if drop.fulfilment == Drop.Fulfilment.PICKUP:
        raise WaitlistError("Pickup-only drops have no waitlist.", code="waitlist_pickup_only")
    if drop_is_exclusive(drop):  # an offer would hand a non-member a hold (docs/members-only.md)
        raise MembersOnly("Members-only drops have no waitlist.")
    if drop.session.status not in SELLING_SESSION_STATUSES or now >= drop.closes_at:
        raise WaitlistError("This drop has closed; its waitlist is closed too.", code="waitlist_closed")
    someone_waits = WaitlistEntry.objects.filter(drop_id=drop.pk, status=WaitlistEntry.Status.WAITING).exists()
    if drop.total_available >= quantity and not someone_waits:
        raise WaitlistError("This drop is not sold out: you can buy it now.", code="not_sold_out")
    existing = WaitlistEntry.objects.filter(
        drop_id=drop.pk, email_normalized=key, status__in=WaitlistEntry.LIVE_STATUSES
    ).first()
    if existing is not None:
        return existing
    customer = customer_get_or_create(email=typed)
    try:
        with transaction.atomic():
            entry = WaitlistEntry.objects.create(
                drop=drop,
                email=typed,
                email_normalized=key,
                customer=customer,
                quantity=quantity,
                position=time.time_ns() // 1000,  # FIFO: microseconds since the epoch; ties by id
                partner_id=partner_id,
                created_at=now,
            )
            outbox_enqueue(
                kind="waitlist_email",
                key=f"waitlist-joined:{entry.pk}",
                payload={"kind": "joined", "entry_id": entry.pk},
                now=now,
            )
    except IntegrityError:  # the same address joined at the same moment: one entry
        return WaitlistEntry.objects.get(drop_id=drop.pk, email_normalized=key, status__in=WaitlistEntry.LIVE_STATUSES)
    return entry


def waitlist_leave(*, token: str, now: dt.datetime | None = None) -> WaitlistEntry:
    """Leave the line by the entry's (e-mailed) token. An open offer is withdrawn and its units pass
    on to the next in line in the same transaction. Idempotent. Raises WaitlistEntry.DoesNotExist."""
    now = now or timezone.now()
    with transaction.atomic():
        offer = (
            WaitlistOffer.objects.select_for_update()
            .filter(entry__token=token, status=WaitlistOffer.Status.OPEN)
            .first()
        )  # lock order: offer → entry → drop
        entry = WaitlistEntry.objects.select_for_update().get(token=token)
        if entry.status not in WaitlistEntry.LIVE_STATUSES:
            return entry
        if offer is not None:
            _offer_end_locked(offer, status=WaitlistOffer.Status.WITHDRAWN, now=now)
        entry.status, entry.ended_at = WaitlistEntry.Status.LEFT, now
        entry.save(update_fields=["status", "ended_at"])
        if offer is not None:
            waitlist_offer_freed(drop_id=offer.drop_id, now=now)
    return entry


# --- serving the line ----------------------------------------------------------------------------


def waitlist_offer_freed(*, drop_id: int, now: dt.datetime) -> int:
    """Offer a drop's free units to the people waiting, FIFO; returns the number of offers made.

    Call INSIDE the transaction that returned the units (see the module docstring for the lock
    strategy). Each offer takes its entry's units by conditional UPDATE (ignoring the drop's
    window), expires after WAITLIST_OFFER_MINUTES but never after the drop closes, and queues the
    offer e-mail in the outbox. No offers for a drop past `closes_at` or whose session ended or
    was cancelled (its units stay available).
    """
    if not WaitlistEntry.objects.filter(drop_id=drop_id, status=WaitlistEntry.Status.WAITING).exists():
        return 0  # the hot path: one indexed EXISTS
    # NO KEY: a hold committing a unit taken from a stock shard row checks its foreign key to this row
    # (FOR KEY SHARE) while this transaction may wait for that shard row (commerce.locks).
    drop = Drop.objects.select_for_update(of=("self",), no_key=True).select_related("session").get(pk=drop_id)
    if drop.session.status not in SELLING_SESSION_STATUSES or now >= drop.closes_at:
        return 0
    expires_at = min(now + dt.timedelta(minutes=offer_minutes()), drop.closes_at)
    made = 0
    while True:
        entries = list(
            WaitlistEntry.objects.filter(drop_id=drop_id, status=WaitlistEntry.Status.WAITING)
            .select_for_update(skip_locked=True)
            .order_by("position", "pk")[:OFFER_BATCH]
        )
        for entry in entries:
            if not locks.drop_take_stock(drop_id=drop_id, quantity=entry.quantity, now=now, require_open=False):
                return made  # first come, first served: nobody behind overtakes this entry
            offer = WaitlistOffer.objects.create(
                entry=entry, drop_id=drop_id, quantity=entry.quantity, expires_at=expires_at, created_at=now
            )
            entry.status = WaitlistEntry.Status.OFFERED
            entry.save(update_fields=["status"])
            outbox_enqueue(
                kind="waitlist_email", key=f"waitlist-offer:{offer.pk}", payload={"kind": "offer", "offer_id": offer.pk}
            )
            made += 1
        if len(entries) < OFFER_BATCH:
            return made


def _offer_end_locked(offer: WaitlistOffer, *, status: str, now: dt.datetime) -> None:
    """End a locked open offer without a hold (expired / withdrawn): its units go back to the drop.
    The caller then calls waitlist_offer_freed (after its other returns, in drop-id order)."""
    offer.status, offer.ended_at = status, now
    offer.save(update_fields=["status", "ended_at"])
    locks.drop_return_stock(drop_id=offer.drop_id, quantity=offer.quantity)


def _offer_lapse_locked(offer: WaitlistOffer, *, now: dt.datetime, status: str = WaitlistOffer.Status.EXPIRED) -> None:
    """End a locked open offer as `status` (expired, or withdrawn when its drop stopped selling):
    units back, its entry lapsed (it leaves the line)."""
    _offer_end_locked(offer, status=status, now=now)
    WaitlistEntry.objects.filter(pk=offer.entry_id, status=WaitlistEntry.Status.OFFERED).update(
        status=WaitlistEntry.Status.LAPSED, ended_at=now
    )


def waitlist_offers_withdraw(
    *, drop_id: int | None = None, session_id: int | None = None, now: dt.datetime | None = None
) -> int:
    """Withdraw the open offers of a drop (closed now) or of every drop of a session (ended or
    cancelled): their units go back to their drop and nobody else is offered them (the drop no longer
    sells; a carry-over then moves them on). Call inside the transaction that closes the drop or ends
    the session (sessions_app.services.session_end / session_cancel, the control room's close).
    The entries leave the line (status lapsed). Returns the number of offers withdrawn.
    """
    now = now or timezone.now()
    qs = WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OPEN)
    qs = qs.filter(drop_id=drop_id) if drop_id is not None else qs.filter(drop__session_id=session_id)
    with transaction.atomic():
        offers = list(qs.select_for_update(of=("self",)).order_by("drop_id", "pk"))
        for offer in offers:
            _offer_lapse_locked(offer, now=now, status=WaitlistOffer.Status.WITHDRAWN)
    return len(offers)


def waitlist_offers_expire(*, now: dt.datetime | None = None) -> int:
    """Lapse open offers past `expires_at` (the per-minute schedule); returns offers lapsed.

    Rows are claimed FOR UPDATE SKIP LOCKED (a claim in progress or another sweep is skipped, never
    waited for), units go back and, in the same transaction, pass on to the next in line.
    """
    now = now or timezone.now()
    lapsed = 0
    while True:
        with transaction.atomic():
            batch = list(
                WaitlistOffer.objects.filter(status=WaitlistOffer.Status.OPEN, expires_at__lte=now)
                .select_for_update(skip_locked=True)
                .order_by("pk")[:OFFER_BATCH]
            )
            for offer in sorted(batch, key=lambda o: (o.drop_id, o.pk)):
                _offer_lapse_locked(offer, now=now)
            for drop_id in sorted({o.drop_id for o in batch}):
                waitlist_offer_freed(drop_id=drop_id, now=now)
        lapsed += len(batch)
        if len(batch) < OFFER_BATCH:
            return lapsed


def waitlist_offer_lapse_if_due(*, token: str, now: dt.datetime | None = None) -> WaitlistOffer:
    """Read an offer by token, lapsing it first if its time is up (lapse on read). Raises DoesNotExist."""
    now = now or timezone.now()
    offer = WaitlistOffer.objects.select_related("drop__session", "drop__sku", "entry").get(token=token)
    if offer.status == WaitlistOffer.Status.OPEN and offer.expires_at <= now:
        with transaction.atomic():
            locked = WaitlistOffer.objects.select_for_update(skip_locked=True).filter(pk=offer.pk).first()
            if locked is not None and locked.status == WaitlistOffer.Status.OPEN:
                _offer_lapse_locked(locked, now=now)
                waitlist_offer_freed(drop_id=locked.drop_id, now=now)
        offer.refresh_from_db(fields=["status", "ended_at"])
    return offer


def waitlist_offer_claim(*, token: str, now: dt.datetime | None = None) -> Hold:
    """Turn an open offer into an active Hold at the drop's CURRENT price (commerce.pricing).

    The offer's units move to the hold (no stock is taken again); the hold expires after the
    drop's `hold_seconds`. One transaction with the offer row locked: a double click gets one hold.
    Raises OfferGone (410: offer_expired — it lapsed now and passed on, offer_claimed, offer_withdrawn —
    also when the drop closed or its session ended since the offer went out),
    LimitExceeded (the address already holds or bought the drop's per-customer limit: the offer
    stays open until it lapses), WaitlistOffer.DoesNotExist.
    """
    now = now or timezone.now()
    lapsed = closed = False
    with transaction.atomic():
        offer = WaitlistOffer.objects.select_for_update().get(token=token)
        if offer.status == WaitlistOffer.Status.CLAIMED:
            raise OfferGone("You already took this offer.", code="offer_claimed")
        if offer.status != WaitlistOffer.Status.OPEN:
            raise OfferGone(_gone_message(offer.status), code=f"offer_{offer.status}")
        drop = Drop.objects.select_related("session").get(pk=offer.drop_id)
        closed = now >= drop.closes_at or drop.session.status not in SELLING_SESSION_STATUSES
        if closed:  # the drop closed or its session ended since the offer went out: it no longer sells
            _offer_lapse_locked(offer, now=now, status=WaitlistOffer.Status.WITHDRAWN)
        elif offer.expires_at <= now:
            _offer_lapse_locked(offer, now=now)
            waitlist_offer_freed(drop_id=offer.drop_id, now=now)
            lapsed = True
        else:
            entry = WaitlistEntry.objects.select_for_update().get(pk=offer.entry_id)
            customer = entry.customer or customer_get_or_create(email=entry.email)
            already = locks.customer_units_on_drop(customer_id=customer.pk, drop_id=drop.pk, now=now)
            if already + offer.quantity > drop.per_customer_limit:
                raise LimitExceeded(
                    f"You can buy at most {drop.per_customer_limit} of this drop per buyer.",
                    limit=drop.per_customer_limit,
                )
            quote = drop_price_quote(drop, now=now)
            hold = Hold.objects.create(
                drop=drop,
                customer=customer,
                quantity=offer.quantity,
                unit_price_minor=quote.unit_price_minor,
                currency=drop.currency,
                price_step=quote.step,
                expires_at=now + dt.timedelta(seconds=drop.hold_seconds),
                partner_id=entry.partner_id,
            )
            offer.status, offer.ended_at, offer.hold = WaitlistOffer.Status.CLAIMED, now, hold
            offer.save(update_fields=["status", "ended_at", "hold"])
            entry.status, entry.ended_at = WaitlistEntry.Status.CONVERTED, now
            entry.save(update_fields=["status", "ended_at"])
    if closed:
        raise OfferGone("This drop has closed; the offer ended with it.", code="offer_withdrawn")
    if lapsed:  # committed: the units went to the next in line (if anyone waited)
        raise OfferGone(_gone_message(WaitlistOffer.Status.EXPIRED), code="offer_expired")
    hold.drop = drop
    return hold


def _gone_message(status: str) -> str:
    return {
        WaitlistOffer.Status.EXPIRED: "This offer has expired; its units went back to the drop for the next person in line.",
        WaitlistOffer.Status.WITHDRAWN: "This offer was withdrawn.",
        WaitlistOffer.Status.CLAIMED: "You already took this offer.",
    }.get(status, "This offer is no longer available.")


def waitlist_offer_freed_now(*, drop_id: int, now: dt.datetime | None = None) -> int:
    """Staff: run waitlist_offer_freed for a drop in its own transaction (free units that sit
    available because the first in line wanted more than were freed, after a quantity edit…)."""
    now = now or timezone.now()
    with transaction.atomic():
        return waitlist_offer_freed(drop_id=drop_id, now=now)
