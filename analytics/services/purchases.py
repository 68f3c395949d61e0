"""Purchases, per-customer stats (repeat, cohorts, LTV) and the transaction-log import.

Definitions, written once (this docstring and docs/metrics.md §3). Days are UTC calendar days;
`first_day` is the customer's earliest purchase day; "within k days" means a day d with
d ≤ first_day + k days.

* **Repeat within k days** (k = 7, 14, 30): the customer has at least one purchase on a
  *later* day d with first_day < d ≤ first_day + k. Extra purchases on the first day do not
  count. The repeat purchase rate (30 d) = repeaters ÷ customers of the group.
* **Revenue in k days** (k = 7, 14) and **LTV (60 d)**: the sum of the customer's purchase
  amounts with first_day ≤ d ≤ first_day + k (k = 60 for LTV), first day included, in the
  currency of the first purchase (amounts in another currency are not added).
* **Cohort**: customers grouped by the week (Monday, ISO) or month of `first_day`; the
  acquisition session of a shop customer is the session of their first purchase.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import connection, transaction

from commerce.money import MoneyError, check_currency, to_minor

from ..models import CustomerStats, PendingCustomer, Purchase

CHUNK = 5000


def customer_stats_compute(purchases: list[tuple[dt.date, int, str, int | None, dt.datetime]]) -> dict:
    """Stats of one customer from their purchases [(day, amount_minor, currency, session_id, occurred_at)].

    Returns the CustomerStats field values (rules in the module docstring). Pure function.
    """
    purchases = sorted(purchases, key=lambda p: (p[4], p[0]))
    first_day, _amount, currency, first_session, _at = purchases[0]
    same = [p for p in purchases if p[2] == currency]
    later = {p[0] for p in purchases if p[0] > first_day}

    def repeat(k: int) -> bool:
        return any(d <= first_day + dt.timedelta(days=k) for d in later)

    def revenue(k: int) -> int:
        return sum(p[1] for p in same if p[0] <= first_day + dt.timedelta(days=k))

    return {
        "first_day": first_day,
        "first_session_id": first_session,
        "currency": currency,
        "purchases": len(purchases),
        "revenue_minor": sum(p[1] for p in same),
        "repeat_7d": repeat(7),
        "repeat_14d": repeat(14),
        "repeat_30d": repeat(30),
        "revenue_7d_minor": revenue(7),
        "revenue_14d_minor": revenue(14),
        "ltv_60d_minor": revenue(60),
    }


def customer_stats_recompute(*, keys: Iterable[str]) -> int:
    """Recompute CustomerStats for these customer keys from their Purchase rows. Returns count."""
    keys = sorted(set(keys))
    done = 0
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        with transaction.atomic():
            _lock_keys(chunk)
            _recompute_chunk(chunk)
        done += len(chunk)
    return done


def _lock_keys(keys: list[str]) -> None:
    """Serialize recomputes of the same customers across workers (PostgreSQL advisory locks on
    hash buckets, taken in bucket order so workers never deadlock)."""
    if connection.vendor != "postgresql":
        return  # SQLite transactions here are IMMEDIATE: writers are already serialized
    with connection.cursor() as cursor:
        cursor.execute(
            # 512 hash buckets bound the locks a transaction holds (max_locks_per_transaction)
            "SELECT pg_advisory_xact_lock(6, b) FROM (SELECT DISTINCT abs(hashtext(k) %% 512) AS b "
            "FROM unnest(%s::text[]) AS k ORDER BY b) AS locks",
            [keys],
        )


def _recompute_chunk(chunk: list[str]) -> None:
    rows: dict[str, list] = defaultdict(list)
    sources: dict[str, str] = {}
    for key, day, amount, currency, session_id, at, source in (
        Purchase.objects.filter(customer_key__in=chunk)
        .order_by()
        .values_list("customer_key", "day", "amount_minor", "currency", "session_id", "occurred_at", "source")
    ):
        rows[key].append((day, amount, currency, session_id, at))
        sources.setdefault(key, source)
    CustomerStats.objects.filter(customer_key__in=chunk).delete()
    CustomerStats.objects.bulk_create(
        [
            CustomerStats(customer_key=key, source=sources[key], **customer_stats_compute(items))
            for key, items in rows.items()
        ],
        batch_size=2000,
    )


def pending_customers_process(*, limit: int = 20000) -> int:
    """Drain PendingCustomer rows (SKIP LOCKED on PostgreSQL) and recompute their stats."""
    done = 0
    while done < limit:
        with transaction.atomic():
            qs = PendingCustomer.objects.order_by("customer_key")
            if connection.vendor == "postgresql":
                qs = qs.select_for_update(skip_locked=True)
            claimed = list(qs.values_list("pk", "customer_key")[: min(CHUNK, limit - done)])
            if not claimed:
                break
            customer_stats_recompute(keys=[key for _pk, key in claimed])
            PendingCustomer.objects.filter(pk__in=[pk for pk, _ in claimed]).delete()
            done += len(claimed)
    return done


# --- transaction-log import --------------------------------------------------------------------

COLUMN_ALIASES = {
    "customer": {"customer", "customer_id", "customerid", "user_id", "id"},
    "date": {"date", "day", "order_date", "invoicedate"},
    "quantity": {"quantity", "number_of_cds", "qty", "items"},
    "amount": {"amount", "dollar_value", "revenue", "value", "total"},
}
_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d")


@dataclass
class ImportReport:
    """Outcome of transactions_import: rows read, purchases added, customers, per-row errors."""

    rows: int = 0
    added: int = 0
    customers: int = 0
    revenue_minor: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _split(line: str) -> list[str]:
    return [c.strip() for c in (line.split(",") if "," in line else line.split())]


def _parse_date(text: str, lineno: int) -> dt.date:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).date()
        except ValueError:
            continue
    raise ValueError(f"row {lineno}, column 'date': {text!r} is not YYYYMMDD or YYYY-MM-DD")


def transactions_parse(
    path: Path, *, columns: list[str] | None = None, currency: str = "USD"
) -> tuple[list[tuple[int, str, dt.date, int, int]], list[str]]:
    """Read a transaction log: [(line number, customer, day, quantity, amount_minor)], errors.

    Whitespace- or comma-separated, CRLF or LF. A first line that is not data is a header
    whose names are mapped through COLUMN_ALIASES; otherwise `columns` names each column
    ("customer,date,quantity,amount" by default; "_" skips one). Amounts are decimals in major
    units of `currency`; negative or malformed amounts, unknown dates and missing customers are
    reported per row as "row N, column 'X': problem".
    """
    errors: list[str] = []
    rows: list[tuple[int, str, dt.date, int, int]] = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], ["the file is not UTF-8 text"]
    lines = text.splitlines()
    positions: dict[str, int] = {}
    first = 0
    if lines and not re.match(r"^\s*\d", lines[0]):
        header = [c.lower() for c in _split(lines[0])]
        for name, aliases in COLUMN_ALIASES.items():
            for i, col in enumerate(header):
                if col in aliases:
                    positions[name] = i
                    break
        first = 1
    else:
        for i, name in enumerate(columns or ["customer", "date", "quantity", "amount"]):
            if name != "_":
                positions[name] = i
    missing = [n for n in ("customer", "date", "amount") if n not in positions]
    if missing:
        return [], [f"missing column(s): {', '.join(missing)}"]
    for index, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        cells = _split(line)
        try:
            if len(cells) <= max(positions.values()):
                raise ValueError(f"row {index}: expected {max(positions.values()) + 1} columns, got {len(cells)}")
            customer = cells[positions["customer"]].lstrip("0") or "0"
            if not re.match(r"^[\w.-]{1,60}$", customer):
                raise ValueError(f"row {index}, column 'customer': {cells[positions['customer']]!r} is not an id")
            day = _parse_date(cells[positions["date"]], index)
            quantity = 1
            if "quantity" in positions:
                try:
                    quantity = int(cells[positions["quantity"]])
                except ValueError as exc:
                    raise ValueError(f"row {index}, column 'quantity': not a whole number") from exc
            try:
                amount = to_minor(Decimal(cells[positions["amount"]]), currency)
            except (MoneyError, InvalidOperation) as exc:
                raise ValueError(f"row {index}, column 'amount': {exc}") from exc
        except ValueError as exc:
            errors.append(str(exc))
            continue
        rows.append((index, customer, day, quantity, amount))
    return rows, errors


def transactions_import(
    path: Path,
    *,
    source: str,
    currency: str = "USD",
    columns: list[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Load a transaction log (customer, date, quantity, amount) as purchases; all or nothing.

    Customers become keys `import:<source>:<customer id>`; each row's `external_ref` is
    `<source>:<line number>`, so importing the same file twice changes nothing. A file with any
    bad row imports nothing and reports every problem. Then CustomerStats are recomputed for
    the file's customers. `progress(n)` is called as rows are written.
    """
    currency = check_currency(currency)
    if not re.match(r"^[a-z0-9_-]{1,30}$", source):
        raise ValueError("source must be 1–30 characters of a-z, 0-9, _ and -")
    rows, errors = transactions_parse(path, columns=columns, currency=currency)
    report = ImportReport(rows=len(rows) + len(errors), errors=errors)
    if errors:
        return report
    tag = f"import:{source}"
    with transaction.atomic():
        before = Purchase.objects.filter(source=tag).count()
        for start in range(0, len(rows), CHUNK):
            Purchase.objects.bulk_create(
                [
                    Purchase(
                        customer_key=f"{tag}:{customer}",
                        occurred_at=dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC),
                        day=day,
                        amount_minor=amount,
                        currency=currency,
                        quantity=quantity,
                        source=tag,
                        external_ref=f"{source}:{lineno}",
                    )
                    for lineno, customer, day, quantity, amount in rows[start : start + CHUNK]
                ],
                ignore_conflicts=True,
            )
            if progress:
                progress(len(rows[start : start + CHUNK]))
        report.added = Purchase.objects.filter(source=tag).count() - before
        keys = {f"{tag}:{customer}" for _l, customer, *_ in rows}
        report.customers = len(keys)
        report.revenue_minor = sum(r[4] for r in rows)
        customer_stats_recompute(keys=keys)
    return report
