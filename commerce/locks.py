"""The one place that changes scarce counters.

Each function is a single conditional UPDATE (no lock wait, no read-modify-write):
`UPDATE drop SET available = available - n WHERE id = … AND available >= n`.
When it matches no row the caller raises; CHECK constraints on the tables are
the last line of defence. Callers run these inside their own transaction.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import ProgrammingError, connection
from django.db.models import F, Q, Sum

from .models import Bundle, Coupon, Drop, Hold, PickupSlot
from .selectors import session_selling_q


def drop_take_stock(*, drop_id: int, quantity: int, now, require_open: bool = True) -> bool:
    """Take `quantity` units from a drop; True if taken.

    With require_open (the default) only while the drop sells at `now`: its window is open and its
    session sells (live, or scheduled inside its pre-sale window: commerce.selectors.session_selling_q).
    On PostgreSQL the session's row is first locked FOR KEY SHARE when it sells, so an End/Cancel
    (which locks it FOR UPDATE) waits for this transaction, or this one sees the session ended.
    require_open=False (a lapsed hold paid late) ignores both.
    """
    qs = Drop.objects.filter(pk=drop_id, available__gte=quantity)
    if require_open:
        qs = qs.filter(opens_at__lte=now, closes_at__gt=now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_SESSION_GATE_SQL, {"drop": drop_id, "now": now})
                if cursor.fetchone() is None:
                    return False
        else:  # SQLite runs one write transaction at a time: the filter is the gate
            qs = qs.filter(session_selling_q(now=now))
    return bool(qs.update(available=F("available") - quantity))


# The selling rule's session gate (commerce.selectors.session_sale_state, docs/sessions-and-times.md)
# in SQL: the drop's session row if it sells at `now`, locked FOR KEY SHARE until the transaction
# ends. session_end / session_cancel lock that row FOR UPDATE, which conflicts: a hold either
# commits before the session's state changes, or waits and then re-reads the row (READ COMMITTED
# rechecks a locked row's newest version) and finds it no longer selling. Many holds share the lock.
_SESSION_GATE_SQL = """
WITH gate AS (
    SELECT s.id FROM sessions_app_livesession s
    WHERE s.id = (SELECT session_id FROM commerce_drop WHERE id = %(drop)s)
      AND (s.status = 'live' OR (s.status = 'scheduled' AND s.presale_opens_at <= %(now)s))
    FOR KEY SHARE
) SELECT id FROM gate"""


def customer_units_on_drop(*, customer_id: int, drop_id: int, now) -> int:
    """Units the customer holds (live holds) or bought (converted holds) on a drop."""
    return (
        Hold.objects.filter(customer_id=customer_id, drop_id=drop_id)
        .filter(Q(status=Hold.Status.CONVERTED) | Q(status=Hold.Status.ACTIVE, expires_at__gt=now))
        .aggregate(n=Sum("quantity"))["n"]
        or 0
    )


# The customer's row, created if new and locked until the transaction ends (DO UPDATE locks it):
# services.customers.customer_lock_or_create's upsert, as SQL text so that it can travel in the
# same query string as the hold statement.
_CUSTOMER_LOCK_SQL = """
INSERT INTO commerce_customer (email, email_normalized, name, created_at)
VALUES (%(email)s, %(email_key)s, %(name)s, %(now)s)
ON CONFLICT (email_normalized) DO UPDATE SET email_normalized = EXCLUDED.email_normalized
RETURNING id
"""

# One client's holds on one drop, serialized across all its e-mails: a transaction-scoped advisory
# lock on (client, drop), taken before the hold statement's snapshot (released at commit). No row
# is written for it; the hold statement then counts the client's units under that lock.
_CLIENT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%(client)s || '|' || %(drop)s::text, 0))"

# Count the customer's and the client's live units, take the stock if both limits, the stock and
# the window allow, insert the hold; returns (units the customer already had, hold id or NULL,
# customer id, units the client already had). Prepared once per database connection (a hold is
# planned once, not on every request during a spike). An empty client ($11) is not capped; $13 is
# the partner that placed the hold through the API (its owner, commerce.access; NULL on the storefront).
# `gate` is the selling rule's session gate (see _SESSION_GATE_SQL: the same condition and lock):
# no row, no stock taken, no hold.
_HOLD_STATEMENT = "mm_hold_place_v4"  # v4: the session gate (v3: client cap + owning partner)
_HOLD_PARAMS = (
    "email_key", "drop", "now", "quantity", "token", "price", "currency", "step", "slot", "expires", "client", "cap",
    "partner",
)  # fmt: skip
_HOLD_TYPES = (
    "varchar, bigint, timestamptz, integer, varchar, bigint, varchar, smallint, bigint, timestamptz, varchar, integer, bigint"
)
_HOLD_SQL = """
WITH gate AS (
    SELECT s.id FROM sessions_app_livesession s
    WHERE s.id = (SELECT session_id FROM commerce_drop WHERE id = $2)
      AND (s.status = 'live' OR (s.status = 'scheduled' AND s.presale_opens_at <= $3))
    FOR KEY SHARE
), cust AS (
    SELECT id FROM commerce_customer WHERE email_normalized = $1
), mine AS (
    SELECT COALESCE(SUM(quantity), 0) AS n FROM commerce_hold
    WHERE customer_id = (SELECT id FROM cust) AND drop_id = $2
      AND (status = 'converted' OR (status = 'active' AND expires_at > $3))
), theirs AS (
    SELECT COALESCE(SUM(quantity), 0) AS n FROM commerce_hold
    WHERE $11 <> '' AND drop_id = $2 AND client_key = $11
      AND (status = 'converted' OR (status = 'active' AND expires_at > $3))
), took AS (
    UPDATE commerce_drop SET available = available - $4
    WHERE id = $2 AND available >= $4 AND opens_at <= $3 AND closes_at > $3
      AND EXISTS (SELECT 1 FROM gate)
      AND (SELECT n FROM mine) + $4 <= per_customer_limit
      AND ($11 = '' OR (SELECT n FROM theirs) + $4 <= $12)
    RETURNING id
), ins AS (
    INSERT INTO commerce_hold (token, drop_id, customer_id, quantity, unit_price_minor, currency, price_step,
                               pickup_slot_id, status, client_key, expires_at, created_at, partner_id)
    SELECT $5, took.id, cust.id, $4, $6, $7, $8, $9, 'active', $11, $10, $3, $13
    FROM took, cust
    RETURNING id
)
SELECT (SELECT n FROM mine), (SELECT id FROM ins), (SELECT id FROM cust), (SELECT n FROM theirs)
"""
_EXECUTE_HOLD = f"EXECUTE {_HOLD_STATEMENT} ({', '.join(f'%({name})s' for name in _HOLD_PARAMS)})"


class HoldAttempt(NamedTuple):
    """What a hold statement did: `inserted`, and the units the customer and the client already had."""

    inserted: bool
    already: int
    client_already: int = 0


def _prepare_hold_statement() -> None:
    """PREPARE the hold statement on this database connection unless it already has it."""
    connection.ensure_connection()
    raw = connection.connection
    if getattr(raw, "_mm_hold_prepared", False):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [_HOLD_STATEMENT])
        if cursor.fetchone() is None:
            cursor.execute(f"PREPARE {_HOLD_STATEMENT} ({_HOLD_TYPES}) AS {_HOLD_SQL}")  # noqa: S608 - constants
    raw._mm_hold_prepared = True


def _hold_params(hold: Hold, email_key: str, now, client_cap: int | None) -> dict:
    capped = bool(hold.client_key) and client_cap is not None
    return {
        "email_key": email_key,
        "drop": hold.drop_id,
        "now": now,
        "quantity": hold.quantity,
        "token": hold.token,
        "price": hold.unit_price_minor,
        "currency": hold.currency,
        "step": hold.price_step,
        "slot": hold.pickup_slot_id,
        "expires": hold.expires_at,
        "client": hold.client_key if capped else "",
        "cap": client_cap if capped else 0,
        "partner": hold.partner_id,
    }


def _saved(hold: Hold, pk: int, customer_id: int, now) -> None:
    hold.pk, hold.customer_id, hold.created_at = pk, customer_id, now
    hold._state.adding = False
    hold._state.db = "default"


def client_units_on_drop(*, client_key: str, drop_id: int, now) -> int:
    """Units one client (any e-mail) holds (live holds) or bought (converted holds) on a drop."""
    return (
        Hold.objects.filter(client_key=client_key, drop_id=drop_id)
        .filter(Q(status=Hold.Status.CONVERTED) | Q(status=Hold.Status.ACTIVE, expires_at__gt=now))
        .aggregate(n=Sum("quantity"))["n"]
        or 0
    )


def hold_client_lock(*, client_key: str, drop_id: int) -> None:
    """Serialize one client's holds on one drop until the transaction ends (PostgreSQL advisory lock).

    SQLite needs none: its write transactions (IMMEDIATE) already run one at a time.
    """
    if client_key and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CLIENT_LOCK_SQL, {"client": client_key, "drop": drop_id})


def hold_insert_taking_stock(*, hold: Hold, now, client_cap: int | None = None) -> HoldAttempt:
    """Insert an unsaved active `hold` (its `drop` and `customer` loaded) if the customer's limit,
    the client's cap, the drop's stock and its window allow it.

    Inside the caller's transaction, with the customer's row locked and, when capped, the
    client's lock held (hold_client_lock): those serialize one customer's and one client's holds,
    so neither count can race. The units the customer already has on the drop (live or converted
    holds) plus `hold.quantity` must not exceed the drop's per-customer limit; the units of
    every hold with the same `hold.client_key` plus `hold.quantity` must not exceed `client_cap`
    (None or an empty client key: no cap). The stock is taken by the same conditional UPDATE as
    drop_take_stock. On PostgreSQL the counts, the UPDATE and the INSERT are one statement.
    """
    capped = bool(hold.client_key) and client_cap is not None
    if connection.vendor != "postgresql":
        already = customer_units_on_drop(customer_id=hold.customer_id, drop_id=hold.drop_id, now=now)
        theirs = client_units_on_drop(client_key=hold.client_key, drop_id=hold.drop_id, now=now) if capped else 0
        if (
            already + hold.quantity > hold.drop.per_customer_limit
            or (capped and theirs + hold.quantity > client_cap)
            or not drop_take_stock(drop_id=hold.drop_id, quantity=hold.quantity, now=now)
        ):
            return HoldAttempt(False, already, theirs)
        hold.created_at = now
        hold.save(force_insert=True)
        return HoldAttempt(True, already, theirs)
    _prepare_hold_statement()
    with connection.cursor() as cursor:
        cursor.execute(_EXECUTE_HOLD, _hold_params(hold, hold.customer.email_normalized, now, client_cap))
        already, pk, customer_id, theirs = cursor.fetchone()
    if pk is not None:
        _saved(hold, pk, customer_id, now)
    return HoldAttempt(pk is not None, already, theirs)


def hold_place_in_one_round_trip(
    *, hold: Hold, email: str, email_key: str, name: str, now, client_cap: int | None = None
) -> HoldAttempt:
    """PostgreSQL only: the customer upsert-and-lock, the client lock and hold_insert_taking_stock
    in one round trip.

    The statements go to the server as one query string, which PostgreSQL runs as one
    transaction (an implicit one in autocommit, else part of the caller's): the first
    creates or locks the customer's row, the second (only when the client is capped) takes the
    client's advisory lock, the last, with a snapshot taken after those locks, counts, takes and
    inserts. The drop's row is therefore locked only while the server runs the last statement
    and commits, never while the client thinks. Sets `hold.customer_id`.
    """
    params = {**_hold_params(hold, email_key, now, client_cap), "email": email, "name": name}
    _prepare_hold_statement()
    try:
        row = _run_one_round_trip(params)
    except ProgrammingError as exc:
        # The server forgot the statement (DISCARD ALL, a pooler handing over another session):
        # nothing ran, so prepare it again and retry once, unless a caller's transaction is now broken.
        if _HOLD_STATEMENT not in str(exc) or connection.in_atomic_block:
            raise
        connection.connection._mm_hold_prepared = False
        _prepare_hold_statement()
        row = _run_one_round_trip(params)
    already, pk, customer_id, theirs = row
    hold.customer_id = customer_id
    if pk is not None:
        _saved(hold, pk, customer_id, now)
    return HoldAttempt(pk is not None, already, theirs)


def _run_one_round_trip(params: dict) -> tuple:
    statements = [_CUSTOMER_LOCK_SQL, *([_CLIENT_LOCK_SQL] if params["client"] else []), _EXECUTE_HOLD]
    with connection.cursor() as cursor:
        cursor.execute(";".join(statements), params)
        for _ in statements[1:]:
            cursor.nextset()
        return cursor.fetchone()


def drop_set_quantity(*, drop_id: int, quantity: int) -> bool:
    """Set a drop's quantity, moving `available` by the same delta; False if that would go below 0.

    The delta is computed from the row as the UPDATE finds it (both SET expressions read the old
    row), so two staff saving at once cannot leave `available` out of step with `quantity`.
    """
    return bool(
        Drop.objects.filter(pk=drop_id, available__gte=F("quantity") - quantity).update(
            quantity=quantity, available=F("available") + (quantity - F("quantity"))
        )
    )


def drop_return_stock(*, drop_id: int, quantity: int) -> None:
    """Give `quantity` units back (a cancelled order, an expired hold, a refund of unfulfilled units)."""
    if quantity <= 0:
        return
    updated = Drop.objects.filter(pk=drop_id, available__lte=F("quantity") - quantity).update(
        available=F("available") + quantity
    )
    if not updated:
        raise RuntimeError(f"returning {quantity} units to drop {drop_id} would exceed its quantity")


def coupon_take_redemption(*, coupon_id: int) -> bool:
    """Count one redemption if the total cap allows it. True if taken."""
    return bool(
        Coupon.objects.filter(pk=coupon_id)
        .filter(Q(max_redemptions__isnull=True) | Q(redemptions__lt=F("max_redemptions")))
        .update(redemptions=F("redemptions") + 1)
    )


def coupon_return_redemption(*, coupon_id: int) -> None:
    """Give one redemption back (its order was cancelled or never paid)."""
    Coupon.objects.filter(pk=coupon_id, redemptions__gt=0).update(redemptions=F("redemptions") - 1)


def pickup_slot_take(*, slot_id: int, now) -> bool:
    """Take one place in an open pickup slot (not closed, not ended at `now`). True if taken."""
    return bool(
        PickupSlot.objects.filter(pk=slot_id, available__gte=1, closed=False, ends_at__gt=now).update(
            available=F("available") - 1
        )
    )


def pickup_slot_take_any(*, slot_id: int) -> bool:
    """Take one place back for a hold that lapsed and is now paid late (ignores closed/ended). True if taken."""
    return bool(PickupSlot.objects.filter(pk=slot_id, available__gte=1).update(available=F("available") - 1))


def pickup_slot_return(*, slot_id: int) -> None:
    """Give one place back (hold expired or released, order cancelled, booking cancelled or moved)."""
    updated = PickupSlot.objects.filter(pk=slot_id, available__lt=F("capacity")).update(available=F("available") + 1)
    if not updated:
        raise RuntimeError(f"returning a place to pickup slot {slot_id} would exceed its capacity")


def pickup_slot_set_capacity(*, slot_id: int, capacity: int) -> bool:
    """Change a slot's capacity; `available` moves by the same delta. False if that would go below the places used."""
    slot = PickupSlot.objects.filter(pk=slot_id).values("capacity").first()
    if slot is None:
        return False
    delta = capacity - slot["capacity"]
    return bool(
        PickupSlot.objects.filter(pk=slot_id, capacity=slot["capacity"], available__gte=-delta).update(
            capacity=capacity, available=F("available") + delta
        )
    )


# Community bundles (docs/bundles.md). Lock order on a bundle hold: the customer's row, the drop's row
# (its stock UPDATE), then the bundle's row (its seats UPDATE); releases lock the holds first, then drops,
# then bundles, so no two paths wait on each other in opposite orders.


def bundle_seat_take(*, bundle_id: int, now=None) -> bool:
    """Take one seat of a bundle if one is left (one conditional UPDATE). True if taken."""
    return bool(Bundle.objects.filter(pk=bundle_id, seats_available__gte=1).update(seats_available=F("seats_available") - 1))


def bundle_seats_return(*, bundle_id: int, seats: int) -> None:
    """Give `seats` seats back (their holds lapsed or were released, their orders cancelled or refunded)."""
    if seats <= 0:
        return
    updated = Bundle.objects.filter(pk=bundle_id, seats_available__lte=F("seat_cap") - seats).update(
        seats_available=F("seats_available") + seats
    )
    if not updated:
        raise RuntimeError(f"returning {seats} seats to bundle {bundle_id} would exceed its cap")


def bundle_set_seat_cap(*, bundle_id: int, seat_cap: int) -> bool:
    """Change a bundle's seat cap; `seats_available` moves by the same delta. False if below the seats taken.

    Both SET expressions read the row as the UPDATE finds it, so a hold taking a seat meanwhile is counted.
    """
    return bool(
        Bundle.objects.filter(pk=bundle_id, seats_available__gte=F("seat_cap") - seat_cap).update(
            seat_cap=seat_cap, seats_available=F("seats_available") + (seat_cap - F("seat_cap"))
        )
    )
