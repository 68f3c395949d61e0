"""The one place that changes scarce counters.

Each function is a single conditional UPDATE (no lock wait, no read-modify-write):
`UPDATE drop SET available = available - n WHERE id = … AND available >= n`.
When it matches no row the caller raises; CHECK constraints on the tables are
the last line of defence. Callers run these inside their own transaction.

Stock shards (Drop.stock_shards = N > 1, docs/holds-and-stock.md): a drop's units neither sold nor
held are spread over N counter rows, shard 0 being the drop's own `available` and shards 1..N-1
DropStockShard rows. A taker tries one shard picked at random, then the others in turn, and answers
sold out only once every shard refused (a quantity no single shard covers is first consolidated into
shard 0 under the locks of all rows). Give-backs land on shard 0, the drop's row. Lock order for
anything that locks more than one row of a drop: the drop's row, then its shard rows by index.
A taker holds one shard row at a time, so it never waits on another of the same drop.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from django.db import ProgrammingError, connection, transaction
from django.db.models import F, Q, Sum

from .models import Bundle, Coupon, Drop, DropStockShard, Hold, PickupSlot
from .models.drop import MAX_STOCK_SHARDS
from .selectors import session_selling_q


def drop_take_stock(*, drop_id: int, quantity: int, now, require_open: bool = True) -> bool:
    """Take `quantity` units from a drop; True if taken.

    With require_open (the default) only while the drop sells at `now`: its window is open and its
    session sells (live, or scheduled inside its pre-sale window: commerce.selectors.session_selling_q).
    On PostgreSQL the session's row is first locked FOR KEY SHARE when it sells, so an End/Cancel
    (which locks it FOR UPDATE) waits for this transaction, or this one sees the session ended.
    require_open=False (a lapsed hold paid late, a waitlist offer) ignores both.

    The drop's own row (shard 0) is tried first: an unsharded drop takes exactly one UPDATE. When it
    cannot cover `quantity` and the drop has stock shards, the shards that can are tried in random
    order, and if none can alone, the units are consolidated into shard 0 (drop_consolidate_stock)
    and taken from there. False only when every shard refused: sold out (or not selling).
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
    if qs.update(available=F("available") - quantity):
        return True
    # Shard 0 refused: short of units there, or the window is shut (then every shard would refuse).
    sharded = Drop.objects.filter(pk=drop_id, stock_shards__gt=1)
    if require_open:
        sharded = sharded.filter(opens_at__lte=now, closes_at__gt=now)
        if connection.vendor != "postgresql":
            sharded = sharded.filter(session_selling_q(now=now))
    if not sharded.exists():
        return False
    indexes = list(
        DropStockShard.objects.filter(drop_id=drop_id, available__gte=quantity).values_list("index", flat=True)
    )
    random.shuffle(indexes)
    for index in indexes:
        if _shard_take(drop_id=drop_id, index=index, quantity=quantity):
            return True
    return drop_consolidate_stock(drop_id=drop_id, quantity=quantity, take=True)


def _shard_take(*, drop_id: int, index: int, quantity: int) -> bool:
    """One conditional UPDATE on shard `index` (0: the drop's row). True if taken."""
    if index == 0:
        return bool(
            Drop.objects.filter(pk=drop_id, available__gte=quantity).update(available=F("available") - quantity)
        )
    return bool(
        DropStockShard.objects.filter(drop_id=drop_id, index=index, available__gte=quantity).update(
            available=F("available") - quantity
        )
    )


def _lock_shards(drop_id: int) -> tuple[Drop | None, list[DropStockShard]]:
    """Lock the drop's row, then its shard rows by index (the one multi-row lock order); returns them.

    The drop's row FOR NO KEY UPDATE, not FOR UPDATE: a hold that took a unit from a shard row checks
    its foreign key to the drop at commit (FOR KEY SHARE on the drop's row), and must not wait for a
    transaction that waits for that hold's shard row.
    """
    drop = Drop.objects.select_for_update(of=("self",), no_key=True).filter(pk=drop_id).first()
    if drop is None:
        return None, []
    return drop, list(DropStockShard.objects.select_for_update().filter(drop_id=drop_id).order_by("index"))


def _spread(drop: Drop, shards: list[DropStockShard], *, total: int, count: int, quantity: int | None = None) -> None:
    """Under _lock_shards' locks: set `quantity` (if given) and spread `total` units evenly over `count`
    shards (shard 0 the drop's row, which gets the remainder); shard rows beyond count are deleted."""
    share, extra = divmod(total, count)
    fields = {"available": share + extra, "stock_shards": count}
    if quantity is not None:
        fields["quantity"] = quantity
    Drop.objects.filter(pk=drop.pk).update(**fields)
    existing = {s.index: s for s in shards}
    DropStockShard.objects.filter(drop_id=drop.pk, index__gte=count).delete()
    for index in range(1, count):
        if index in existing:
            if existing[index].available != share:
                DropStockShard.objects.filter(pk=existing[index].pk).update(available=share)
        else:
            DropStockShard.objects.create(drop_id=drop.pk, index=index, available=share)


def drop_set_stock_shards(*, drop_id: int, shards: int) -> bool:
    """Spread a drop's units over `shards` counter rows (1..MAX_STOCK_SHARDS), evenly; False if no such drop.

    Locks the drop's row and its shard rows (that order), so the total is exact whatever holds and
    give-backs run meanwhile (they wait a moment). Going back to 1 puts every unit on the drop's row.
    Raises ValueError outside 1..MAX_STOCK_SHARDS.
    """
    if not 1 <= shards <= MAX_STOCK_SHARDS:
        raise ValueError(f"stock_shards must be between 1 and {MAX_STOCK_SHARDS}")
    with transaction.atomic():
        drop, rows = _lock_shards(drop_id)
        if drop is None:
            return False
        total = drop.available + sum(r.available for r in rows)
        _spread(drop, rows, total=total, count=shards)
    return True


def drop_consolidate_stock(*, drop_id: int, quantity: int, take: bool = False) -> bool:
    """Move units from the shard rows onto shard 0 (the drop's row) until it has `quantity`, under the
    locks of every row of the drop; with `take`, take them there too. False if the total is short.

    For a quantity that no single shard covers although the shards together do: a hold answers sold
    out only when the drop's total is short. Window and session are the caller's concern.
    """
    with transaction.atomic():
        drop, rows = _lock_shards(drop_id)
        if drop is None or drop.available + sum(r.available for r in rows) < quantity:
            return False
        need = quantity - drop.available
        for row in rows:
            if need <= 0:
                break
            moved = min(row.available, need)
            if moved:
                DropStockShard.objects.filter(pk=row.pk).update(available=F("available") - moved)
                Drop.objects.filter(pk=drop_id).update(available=F("available") + moved)
                need -= moved
        if take:
            return _shard_take(drop_id=drop_id, index=0, quantity=quantity)
    return True


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
_HOLD_TYPES = "varchar, bigint, timestamptz, integer, varchar, bigint, varchar, smallint, bigint, timestamptz, varchar, integer, bigint"
# What both hold statements start with: the session gate (locked FOR KEY SHARE), the customer, the
# units they and their client already hold or bought on the drop.
_HOLD_COMMON_CTES = """
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
), """
_HOLD_SQL = _HOLD_COMMON_CTES + """took AS (
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
"""  # noqa: S608 - constants only
_EXECUTE_HOLD = f"EXECUTE {_HOLD_STATEMENT} ({', '.join(f'%({name})s' for name in _HOLD_PARAMS)})"

# The same statement for a drop whose stock is spread over shards (Drop.stock_shards > 1): $14 is the
# shard to take from (0: the drop's row, else a DropStockShard row); the gate, the window and both
# limits are the same conditions. A fifth column says whether the drop sells at all (gate and
# window), so a refusal by an empty shard (try the next one) is told from a closed drop (stop); a
# sixth gives the drop's total over all shards as the statement found it (read only on a refusal),
# so a hold on a sold-out drop stops after one round trip instead of visiting every shard.
_HOLD_SHARD_STATEMENT = "mm_hold_place_shard_v3"  # v3: the total left, read on a refusal
_HOLD_SHARD_PARAMS = (*_HOLD_PARAMS, "shard")
_HOLD_SHARD_TYPES = _HOLD_TYPES + ", smallint"
_HOLD_SHARD_SQL = _HOLD_COMMON_CTES + """sells AS (
    SELECT per_customer_limit AS lim FROM commerce_drop
    WHERE id = $2 AND opens_at <= $3 AND closes_at > $3 AND EXISTS (SELECT 1 FROM gate)
), allowed AS (
    SELECT 1 FROM sells
    WHERE (SELECT n FROM mine) + $4 <= sells.lim AND ($11 = '' OR (SELECT n FROM theirs) + $4 <= $12)
), took0 AS (
    UPDATE commerce_drop SET available = available - $4
    WHERE $14 = 0 AND id = $2 AND available >= $4 AND EXISTS (SELECT 1 FROM allowed)
    RETURNING id
), tookn AS (
    UPDATE commerce_dropstockshard SET available = available - $4
    WHERE $14 > 0 AND drop_id = $2 AND "index" = $14 AND available >= $4 AND EXISTS (SELECT 1 FROM allowed)
    RETURNING drop_id AS id
), took AS (
    SELECT id FROM took0 UNION ALL SELECT id FROM tookn
), ins AS (
    INSERT INTO commerce_hold (token, drop_id, customer_id, quantity, unit_price_minor, currency, price_step,
                               pickup_slot_id, status, client_key, expires_at, created_at, partner_id)
    SELECT $5, took.id, cust.id, $4, $6, $7, $8, $9, 'active', $11, $10, $3, $13
    FROM took, cust
    RETURNING id
)
SELECT (SELECT n FROM mine), (SELECT id FROM ins), (SELECT id FROM cust), (SELECT n FROM theirs),
       EXISTS (SELECT 1 FROM sells),
       CASE WHEN (SELECT id FROM ins) IS NULL THEN
           (SELECT available FROM commerce_drop WHERE id = $2)
           + COALESCE((SELECT SUM(available) FROM commerce_dropstockshard WHERE drop_id = $2), 0)
       END
"""  # noqa: S608 - constants only
_EXECUTE_HOLD_SHARD = f"EXECUTE {_HOLD_SHARD_STATEMENT} ({', '.join(f'%({name})s' for name in _HOLD_SHARD_PARAMS)})"


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
        for name, types, sql in (
            (_HOLD_STATEMENT, _HOLD_TYPES, _HOLD_SQL),
            (_HOLD_SHARD_STATEMENT, _HOLD_SHARD_TYPES, _HOLD_SHARD_SQL),
        ):
            cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f"PREPARE {name} ({types}) AS {sql}")  # noqa: S608 - constants
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
    params = _hold_params(hold, hold.customer.email_normalized, now, client_cap)

    def run(shard: int | None) -> tuple:
        with connection.cursor() as cursor:
            if shard is None:
                cursor.execute(_EXECUTE_HOLD, params)
            else:
                cursor.execute(_EXECUTE_HOLD_SHARD, {**params, "shard": shard})
            return cursor.fetchone()

    already, pk, customer_id, theirs = _over_shards(hold, run, params["cap"])
    if pk is not None:
        _saved(hold, pk, customer_id, now)
    return HoldAttempt(pk is not None, already, theirs)


def _over_shards(hold: Hold, run, cap: int) -> tuple:
    """Run the hold statement (`run(None)`: the one-row statement; `run(k)`: the shard statement on
    shard k) until it inserts or a refusal is final; returns (already, hold id or None, customer id,
    client's units). `cap`: the client's cap (0: none).

    An unsharded drop: one run of the one-row statement, as before shards existed. A drop with N > 1
    shards (as the hold's drop copy says; a stale copy only means fewer shards tried before the
    caller's fresh retry): shards from a random start in turn; stop at the first insert, or when the
    drop does not sell or a limit refuses (the fifth column, and the counts), or the drop's total is
    short of the quantity (the sixth: sold out, exact at that statement's snapshot); once every shard
    refused a quantity the total covers, consolidate it into shard 0 and try there once more.
    """
    shards = hold.drop.stock_shards if "drop" in hold._state.fields_cache else 1
    if shards <= 1:
        return run(None)
    start = random.randrange(shards)
    row = None
    for step in range(shards):
        row = run((start + step) % shards)
        already, pk, _customer_id, theirs, sells, left = row
        over_limit = already + hold.quantity > hold.drop.per_customer_limit or (cap and theirs + hold.quantity > cap)
        if pk is not None or not sells or over_limit or (left or 0) < hold.quantity:
            return row[:4]  # taken, or a final refusal: not selling, a limit, or the whole drop short
    if hold.quantity > 1 and drop_consolidate_stock(drop_id=hold.drop_id, quantity=hold.quantity):
        row = run(0)
    return row[:4]


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

    def run(shard: int | None) -> tuple:
        try:
            return _run_one_round_trip(params, shard)
        except ProgrammingError as exc:
            # The server forgot the statement (DISCARD ALL, a pooler handing over another session):
            # nothing ran, so prepare it again and retry once, unless a caller's transaction is now broken.
            if _HOLD_STATEMENT not in str(exc) and _HOLD_SHARD_STATEMENT not in str(exc) or connection.in_atomic_block:
                raise
            connection.connection._mm_hold_prepared = False
            _prepare_hold_statement()
            return _run_one_round_trip(params, shard)

    already, pk, customer_id, theirs = _over_shards(hold, run, params["cap"])
    hold.customer_id = customer_id
    if pk is not None:
        _saved(hold, pk, customer_id, now)
    return HoldAttempt(pk is not None, already, theirs)


def _run_one_round_trip(params: dict, shard: int | None = None) -> tuple:
    execute = _EXECUTE_HOLD if shard is None else _EXECUTE_HOLD_SHARD
    statements = [_CUSTOMER_LOCK_SQL, *([_CLIENT_LOCK_SQL] if params["client"] else []), execute]
    with connection.cursor() as cursor:
        cursor.execute(";".join(statements), params if shard is None else {**params, "shard": shard})
        for _ in statements[1:]:
            cursor.nextset()
        return cursor.fetchone()


def drop_set_quantity(*, drop_id: int, quantity: int) -> bool:
    """Set a drop's quantity, moving its available units by the same delta; False if that would go below 0.

    Unsharded: one UPDATE; the delta is computed from the row as the UPDATE finds it (both SET
    expressions read the old row), so two staff saving at once cannot leave `available` out of step
    with `quantity`. Sharded (stock_shards > 1): under the locks of the drop's row and its shard rows
    (that order) the new total is spread evenly again over the shards.
    """
    if Drop.objects.filter(pk=drop_id, stock_shards=1, available__gte=F("quantity") - quantity).update(
        quantity=quantity, available=F("available") + (quantity - F("quantity"))
    ):
        return True
    with transaction.atomic():
        drop, rows = _lock_shards(drop_id)
        if drop is None:
            return False
        total = drop.available + sum(r.available for r in rows) + quantity - drop.quantity
        if total < 0:  # below the units sold or held
            return False
        _spread(drop, rows, total=total, count=drop.stock_shards, quantity=quantity)
    return True


# A give-back to a sharded drop, checked against its quantity over all rows. It runs after the
# shard-0 UPDATE has locked the drop's row: a re-spread (which locks that row first) is then
# either committed and seen whole by this statement's fresh snapshot, or waits for this
# transaction; concurrent takers only lower the shards, never make the check pass wrongly.
_SHARDED_TOTAL_SQL = (
    "SELECT d.quantity, d.available + COALESCE((SELECT SUM(s.available) FROM commerce_dropstockshard s"
    " WHERE s.drop_id = d.id), 0) FROM commerce_drop d WHERE d.id = %s"
)


def drop_return_stock(*, drop_id: int, quantity: int) -> None:
    """Give `quantity` units back (a cancelled order, an expired hold, a refund of unfulfilled units).

    They land on the drop's own row (shard 0) whatever its stock_shards: one UPDATE, and the lock
    order (the drop's row before its shard rows) holds for a transaction that then offers them to
    the waitlist. Raises RuntimeError if the drop's total would exceed its quantity (an accounting
    bug: nothing may be given back twice). A sharded drop also checks its total over all rows.
    """
    if quantity <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE commerce_drop SET available = available + %s WHERE id = %s AND available <= quantity - %s"
            " RETURNING stock_shards",
            [quantity, drop_id, quantity],
        )
        row = cursor.fetchone()
        if row is not None and row[0] > 1:
            cursor.execute(_SHARDED_TOTAL_SQL, [drop_id])
            total_quantity, total = cursor.fetchone()
            if total > total_quantity:
                row = None
    if row is None:
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
    return bool(
        Bundle.objects.filter(pk=bundle_id, seats_available__gte=1).update(seats_available=F("seats_available") - 1)
    )


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
