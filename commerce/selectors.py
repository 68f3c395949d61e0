"""Commerce reads."""

from __future__ import annotations

import copy
import datetime as dt

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .memo import MISSING, ProcessMemo
from .models import Bundle, Drop, Hold, Order, ProductImage, WaitlistEntry
from .pricing import drop_price_quote

# A drop's terms (price schedule, per-customer limit, hold time, currency, fulfilment) as read for
# hold placement, remembered per process for DROP_TERMS_CACHE_SECONDS: during a spike every
# "add to cart" would otherwise read the same row. Saving a drop in this process forgets them.
drop_terms = ProcessMemo("DROP_TERMS_CACHE_SECONDS", 1, max_entries=256)


# ---------------------------------------------------------------------------------------------
# The selling rule (docs/sessions-and-times.md). A drop sells only while its session sells:
#   live                                   → sells
#   scheduled and presale_opens_at <= now  → sells (pre-sale window set by staff)
#   scheduled otherwise                    → does not sell yet (code session_not_live)
#   ended                                  → never again (session_ended; the drop shows Closed)
#   cancelled                              → never again (session_cancelled; the drop shows Cancelled)
# and, on top of that, only inside the drop's own window [opens_at, closes_at) and while stock lasts.
# The rule exists in three spellings that must agree (tests/sessions_app/test_selling_rule.py):
# session_sale_state() here (pages, status.json, error messages), session_selling_q() here (ORM
# writes on SQLite, commerce.locks.drop_take_stock) and the `gate` CTE of commerce.locks._HOLD_SQL
# (the PostgreSQL hold statement, which also locks the session row against a concurrent End/Cancel).
# ---------------------------------------------------------------------------------------------
SESSION_SELLING = ("live", "presale")


def session_sale_state(*, status: str, presale_opens_at: dt.datetime | None, now: dt.datetime) -> str:
    """The selling state of a session at `now`: live | presale | scheduled | ended | cancelled.

    `status` is LiveSession.status; `presale_opens_at` its pre-sale start (aware, or None).
    Drops sell only when the answer is in SESSION_SELLING.
    """
    if status == "scheduled":
        return "presale" if presale_opens_at is not None and presale_opens_at <= now else "scheduled"
    return status


def session_selling_q(*, now: dt.datetime, prefix: str = "session__") -> Q:
    """session_sale_state(...) in SESSION_SELLING, as an ORM filter on a model reaching the session by `prefix`."""
    return Q(**{f"{prefix}status": "live"}) | Q(
        **{f"{prefix}status": "scheduled", f"{prefix}presale_opens_at__lte": now}
    )


def drop_for_hold(*, drop_id: int) -> Drop:
    """The drop (a private copy) whose terms a new hold follows; raises Drop.DoesNotExist.

    May be up to DROP_TERMS_CACHE_SECONDS (default 1 s) old in this process, which is the
    same freshness as the live status viewers see. Only the price inputs, the hold time and
    the currency come from this copy: the window, the stock and the per-customer limit are
    checked by the database in the statement that takes the stock (commerce.locks), and a
    refused hold is explained from a fresh read. `available` is not to be trusted here.
    """
    if (remembered := drop_terms.get(drop_id)) is not MISSING:
        return copy.copy(remembered)
    # its SKU: members-only (gating); bundle_pk: the drop's community bundle, if any (a bundle hold takes
    # the slow path: docs/bundles.md)
    drop = (
        Drop.objects.with_total_available()
        .select_related("sku")
        .annotate(bundle_pk=Subquery(Bundle.objects.filter(drop=OuterRef("pk")).values("pk")[:1]))
        .get(pk=drop_id)
    )
    drop_terms.put(drop_id, copy.copy(drop))
    return drop


def with_effective_stock(qs: QuerySet[Drop], *, now: dt.datetime) -> QuerySet[Drop]:
    """Annotate `lapsed_units`: units in active holds past their expiry, not yet swept back, and
    `shard_units` (Drop.objects.with_total_available: the units on a sharded drop's extra rows).

    Effective stock = total_available + lapsed_units, so an expired hold never hides
    stock from viewers even if the sweeping worker is down; when people wait on the drop's waitlist
    lapsed_units is 0 (those units will be offered to the line, not sold to whoever clicks). One subquery, no extra round trip.
    """
    lapsed = (
        Hold.objects.filter(drop=OuterRef("pk"), status=Hold.Status.ACTIVE, expires_at__lte=now)
        .values("drop")
        .annotate(n=Sum("quantity"))
        .values("n")
    )
    # Units of lapsed holds go to the waitlist first when people wait (commerce.services.waitlist):
    # then they are not free for everyone, and the page must not offer them (QA: "Buy now" → sold out).
    waiting = WaitlistEntry.objects.filter(drop=OuterRef("pk"), status=WaitlistEntry.Status.WAITING)
    return qs.with_total_available().annotate(
        lapsed_units=Case(
            When(Exists(waiting), then=Value(0)),
            default=Coalesce(Subquery(lapsed, output_field=IntegerField()), Value(0)),
            output_field=IntegerField(),
        )
    )


def drops_for_session(*, session_id: int, now: dt.datetime | None = None) -> QuerySet[Drop]:
    """A session's drops in opening order, with SKU/product loaded and `lapsed_units` annotated."""
    now = now or timezone.now()
    qs = (
        Drop.objects.filter(session_id=session_id)
        .select_related("sku__product", "session", "bundle")
        .order_by("opens_at", "pk")
    )
    return with_effective_stock(qs, now=now)


def drop_with_stock(*, drop_id: int, now: dt.datetime | None = None) -> Drop:
    """One drop with `lapsed_units` annotated (raises Drop.DoesNotExist)."""
    now = now or timezone.now()
    return with_effective_stock(Drop.objects.select_related("sku__product", "session", "bundle"), now=now).get(
        pk=drop_id
    )


def effective_available(drop: Drop) -> int:
    """Units a buyer can still get: stock over all shards (Drop.total_available) plus units of lapsed
    holds (`lapsed_units`, annotated by with_effective_stock, which also annotates the shards' units).

    A community bundle's drop (loaded with select_related("bundle")) sells a unit and a seat together,
    so it offers no more than its seats left either (each lapsed bundle hold also holds one seat:
    docs/bundles.md); the page shows sold out when the seats run out first.
    """
    lapsed = getattr(drop, "lapsed_units", 0)
    units = max(drop.total_available + lapsed, 0)
    bundle = drop._state.fields_cache.get("bundle")  # only when select_related: never a query per drop
    if bundle is not None:
        units = min(units, max(bundle.seats_available + lapsed, 0))
    return units


def drop_status(*, drop: Drop, now: dt.datetime | None = None) -> dict:
    """The live status of a drop as plain data (what pages and the API show).

    Shape: {"id", "state" (not_yet_open|live|sold_out|closed|cancelled), "session_state"
    (scheduled|presale|live|ended|cancelled, session_sale_state), "available" (effective:
    lapsed holds count as free), "quantity", "price_minor" (current unit price from the price
    schedule), "base_price_minor", "currency", "price_step", "next_price_change_at" (ISO 8601
    UTC or null), "opens_at", "closes_at" (ISO 8601 UTC), "seconds_to_open" (≥ 0),
    "seconds_to_close" (≥ 0 while the drop is live or sold out, null when it is not yet open,
    closed or cancelled), "members_only" (exclusive to members: the drop or its SKU),
    "member_price_minor" (members' price ceiling, or null: commerce.memberships.gating)}.

    The session decides first (the selling rule above): a drop of an ended session is `closed`,
    of a cancelled one `cancelled`, of a scheduled one outside pre-sale `not_yet_open` whatever
    its own window says; only then the drop's window and stock decide.
    """
    now = now or timezone.now()
    available = effective_available(drop)
    quote = drop_price_quote(drop, now=now, available=available)
    session = drop.session
    session_state = session_sale_state(status=session.status, presale_opens_at=session.presale_opens_at, now=now)
    if session_state == "cancelled":
        state = "cancelled"
    elif session_state == "ended" or now >= drop.closes_at:
        state = Drop.State.CLOSED
    elif session_state not in SESSION_SELLING or now < drop.opens_at:
        state = Drop.State.NOT_YET_OPEN
    elif available <= 0:
        state = Drop.State.SOLD_OUT
    else:
        state = Drop.State.LIVE
    return {
        "id": drop.pk,
        "state": str(state),
        "session_state": session_state,
        "available": available,
        "quantity": drop.quantity,
        "price_minor": quote.unit_price_minor,
        "base_price_minor": drop.price_minor,
        "currency": drop.currency,
        "price_step": quote.step,
        "next_price_change_at": quote.next_change_at.isoformat() if quote.next_change_at else None,
        "opens_at": drop.opens_at.isoformat(),
        "closes_at": drop.closes_at.isoformat(),
        "seconds_to_open": max(int((drop.opens_at - now).total_seconds()), 0),
        # Only a drop whose window is open and selling (live, or sold out until holds lapse) counts
        # down to its close; a closed, cancelled or not-yet-open one has no countdown.
        "seconds_to_close": max(int((drop.closes_at - now).total_seconds()), 0)
        if state in (Drop.State.LIVE, Drop.State.SOLD_OUT)
        else None,
        # members-only (docs/members-only.md): exclusive drops sell to members only, at member_price_minor
        # when lower than price_minor
        "members_only": bool(drop.members_only or drop.sku.members_only),
        "member_price_minor": drop.member_price_minor,
    }


def orders_list() -> QuerySet[Order]:
    """Orders newest first, with customer, session and lines loaded."""
    return (
        Order.objects.select_related("customer", "session")
        .prefetch_related("lines__sku")
        .order_by("-created_at", "-pk")
    )


def sku_picture(*, sku) -> ProductImage | None:
    """The ready image a page shows for a SKU, or None (the page shows the placeholder).

    Order: an image uploaded for this SKU; the product image fetched from the SKU's catalog
    `Variant Image` URL; the product's first ready image by position. One query.
    """
    images = list(
        ProductImage.objects.filter(product_id=sku.product_id, state=ProductImage.State.READY)
        .filter(Q(sku__isnull=True) | Q(sku_id=sku.pk))
        .order_by("position", "pk")
    )
    own = [img for img in images if img.sku_id == sku.pk]
    variant = [img for img in images if sku.image_url and img.source_url == sku.image_url and img.sku_id is None]
    shared = [img for img in images if img.sku_id is None]
    return next(iter(own + variant + shared), None)
