"""Order export as CSV (a read: no state changes). Used by the admin's action and list-page button.

One row per order line; the order's columns repeat on each of its lines (an order without lines
still gets one row). Amounts are in **major units** of the row's currency as plain decimals
("12.50", JPY "1500", KWD "1.250") beside an ISO 4217 `currency` column; times are ISO 8601 UTC.

CSV injection: a cell that a spreadsheet would read as a formula (starting with = + - @, a tab or a
carriage return) is prefixed with a single quote (OWASP "CSV Injection" guidance).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from .models import Order
from .money import MoneyError, minor_unit_exponent, to_major

ADDRESS_KEYS = [
    "name",
    "company_name",
    "street_address",
    "city_area",
    "city",
    "postal_code",
    "country_area",
    "country_code",
]

ORDER_COLUMNS = [
    "order_number",
    "status",
    "created_at_utc",
    "paid_at_utc",
    "customer_email",
    "customer_name",
    "payment_provider",
    "currency",
    "subtotal",
    "discount",
    "shipping",
    "tax",
    "tax_included",
    "total",
    "refunded",
    "shipping_rate",
    *(f"ship_{key}" for key in ADDRESS_KEYS),
]
LINE_COLUMNS = [
    "line_sku",
    "line_title",
    "line_quantity",
    "line_unit_price",
    "line_discount",
    "line_total",
    "line_fulfilled",
    "line_refunded",
]
COLUMNS = ORDER_COLUMNS + LINE_COLUMNS
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    """The cell as text, with a leading ' when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def major(amount_minor: int | None, currency: str) -> str:
    """Minor units → major units as plain text with the currency's decimals (1250 EUR → '12.50')."""
    if amount_minor is None:
        return ""
    try:
        return f"{to_major(amount_minor, currency):.{minor_unit_exponent(currency)}f}"
    except MoneyError:
        return str(amount_minor)


def _iso(value) -> str:
    return value.isoformat() if value else ""


def order_export_rows(orders: QuerySet[Order]) -> Iterator[list[str]]:
    """The header, then one list of cells per order line (COLUMNS), for `orders` in their given order.

    Queries: two per chunk of 500 orders (orders with customers, then their lines with SKUs).
    """
    yield list(COLUMNS)
    orders = orders.select_related("customer").prefetch_related("lines__sku")
    for order in orders.iterator(chunk_size=500):
        cur = order.currency
        address = order.shipping_address if isinstance(order.shipping_address, dict) else {}
        head = [
            order.number,
            order.status,
            _iso(order.created_at),
            _iso(order.paid_at),
            order.customer.email,
            order.customer.name,
            order.payment_provider,
            cur,
            major(order.subtotal_minor, cur),
            major(order.discount_minor, cur),
            major(order.shipping_minor, cur),
            major(order.tax_minor, cur),
            "yes" if order.tax_included else "no",
            major(order.total_minor, cur),
            major(order.refunded_minor, cur),
            order.shipping_rate_name,
            *(address.get(key, "") for key in ADDRESS_KEYS),
        ]
        lines = sorted(order.lines.all(), key=lambda line: line.pk)
        if not lines:
            yield [csv_safe(v) for v in head + [""] * len(LINE_COLUMNS)]
        for line in lines:
            yield [
                csv_safe(v)
                for v in head
                + [
                    line.sku.code,
                    line.title,
                    line.quantity,
                    major(line.unit_price_minor, line.currency),
                    major(line.discount_minor, line.currency),
                    major(line.total_minor, line.currency),
                    line.fulfilled_quantity,
                    line.refunded_quantity,
                ]
            ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """Each row as one CSV-encoded line (for a StreamingHttpResponse): nothing is held in memory."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)
