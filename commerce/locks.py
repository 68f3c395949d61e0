"""The one place that changes scarce counters.

Each function is a single conditional UPDATE (no lock wait, no read-modify-write):
`UPDATE drop SET available = available - n WHERE id = … AND available >= n`.
When it matches no row the caller raises; CHECK constraints on the tables are
the last line of defence. Callers run these inside their own transaction.
"""

from __future__ import annotations

from django.db import ProgrammingError, connection
from django.db.models import F, Q, Sum

from .models import Coupon, Drop, Hold, PickupSlot


def drop_take_stock(*, drop_id: int, quantity: int, now, require_open: bool = True) -> bool:
    """Take `quantity` units from a drop (open at `now` unless require_open=False). True if taken."""
    qs = Drop.objects.filter(pk=drop_id, available__gte=quantity)
    if require_open:
        qs = qs.filter(opens_at__lte=now, closes_at__gt=now)
    return bool(qs.update(available=F("available") - quantity))


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

# Count the customer's live units, take the stock if the limit, stock and window allow, insert the
# hold; returns (units the customer already had, hold id or NULL, customer id). Prepared once per
# database connection (a hold is planned once, not on every request during a spike).
_HOLD_STATEMENT = "mm_hold_place_v2"  # v2: the hold records its owning partner
_HOLD_PARAMS = (
    "email_key", "drop", "now", "quantity", "token", "price", "currency", "step", "slot", "expires", "partner"
)  # fmt: skip
_HOLD_TYPES = "varchar, bigint, timestamptz, integer, varchar, bigint, varchar, smallint, bigint, timestamptz, bigint"
_HOLD_SQL = """
WITH cust AS (
    SELECT id FROM commerce_customer WHERE email_normalized = $1
), mine AS (
    SELECT COALESCE(SUM(quantity), 0) AS n FROM commerce_hold
    WHERE customer_id = (SELECT id FROM cust) AND drop_id = $2
      AND (status = 'converted' OR (status = 'active' AND expires_at > $3))
), took AS (
    UPDATE commerce_drop SET available = available - $4
    WHERE id = $2 AND available >= $4 AND opens_at <= $3 AND closes_at > $3
      AND (SELECT n FROM mine) + $4 <= per_customer_limit
    RETURNING id
), ins AS (
    INSERT INTO commerce_hold (token, drop_id, customer_id, quantity, unit_price_minor, currency, price_step,
                               pickup_slot_id, status, expires_at, created_at, partner_id)
    SELECT $5, took.id, cust.id, $4, $6, $7, $8, $9, 'active', $10, $3, $11
    FROM took, cust
    RETURNING id
)
SELECT (SELECT n FROM mine), (SELECT id FROM ins), (SELECT id FROM cust)
"""
_EXECUTE_HOLD = f"EXECUTE {_HOLD_STATEMENT} ({', '.join(f'%({name})s' for name in _HOLD_PARAMS)})"


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


def _hold_params(hold: Hold, email_key: str, now) -> dict:
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
        "partner": hold.partner_id,
    }


def _saved(hold: Hold, pk: int, customer_id: int, now) -> None:
    hold.pk, hold.customer_id, hold.created_at = pk, customer_id, now
    hold._state.adding = False
    hold._state.db = "default"


def hold_insert_taking_stock(*, hold: Hold, now) -> tuple[bool, int]:
    """Insert an unsaved active `hold` (its `drop` and `customer` loaded) if the customer's limit,
    the drop's stock and its window allow it. Returns (inserted, units the customer already had).

    Inside the caller's transaction, with the customer's row already locked (that lock
    serializes one customer's holds, so the per-customer count cannot race). The units the
    customer already has on the drop (live or converted holds) plus `hold.quantity` must not
    exceed the drop's per-customer limit; the stock is taken by the same conditional UPDATE as
    drop_take_stock. On PostgreSQL the count, the UPDATE and the INSERT are one statement.
    """
    if connection.vendor != "postgresql":
        already = customer_units_on_drop(customer_id=hold.customer_id, drop_id=hold.drop_id, now=now)
        if already + hold.quantity > hold.drop.per_customer_limit or not drop_take_stock(
            drop_id=hold.drop_id, quantity=hold.quantity, now=now
        ):
            return False, already
        hold.created_at = now
        hold.save(force_insert=True)
        return True, already
    _prepare_hold_statement()
    with connection.cursor() as cursor:
        cursor.execute(_EXECUTE_HOLD, _hold_params(hold, hold.customer.email_normalized, now))
        already, pk, customer_id = cursor.fetchone()
    if pk is not None:
        _saved(hold, pk, customer_id, now)
    return pk is not None, already


def hold_place_in_one_round_trip(*, hold: Hold, email: str, email_key: str, name: str, now) -> tuple[bool, int]:
    """PostgreSQL only: the customer upsert-and-lock and hold_insert_taking_stock in one round trip.

    Both statements go to the server as one query string, which PostgreSQL runs as one
    transaction (an implicit one in autocommit, else part of the caller's): the first
    creates or locks the customer's row, the second, with a snapshot taken after that lock,
    counts, takes and inserts. The drop's row is therefore locked only while the server runs
    the second statement and commits, never while the client thinks. Sets `hold.customer_id`
    and returns (inserted, units the customer already had).
    """
    params = {**_hold_params(hold, email_key, now), "email": email, "name": name}
    _prepare_hold_statement()
    try:
        already, pk, customer_id = _run_one_round_trip(params)
    except ProgrammingError as exc:
        # The server forgot the statement (DISCARD ALL, a pooler handing over another session):
        # nothing ran, so prepare it again and retry once, unless a caller's transaction is now broken.
        if _HOLD_STATEMENT not in str(exc) or connection.in_atomic_block:
            raise
        connection.connection._mm_hold_prepared = False
        _prepare_hold_statement()
        already, pk, customer_id = _run_one_round_trip(params)
    hold.customer_id = customer_id
    if pk is not None:
        _saved(hold, pk, customer_id, now)
    return pk is not None, already


def _run_one_round_trip(params: dict) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(_CUSTOMER_LOCK_SQL + ";" + _EXECUTE_HOLD, params)
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
