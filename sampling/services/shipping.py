"""Shipping with a fulfilment partner (3PL): CSV export of approved requests, tracking import.

Export format (UTF-8, comma-separated, header row, one sample per row):
    request_id, reference, campaign, sku, quantity, name, email, street_address,
    city, city_area, postal_code, country_area, country, declared_value, currency
`declared_value` is in major units with the currency's decimals ("12.50"; JPY
"1500"). Exporting changes nothing; export again at will.

Tracking import format (UTF-8 with or without BOM, header row):
    request_id (or reference), tracking_number, carrier, status
`status` is `shipped` (default when empty) or `delivered`; `delivered` also
accepts a request that is still approved (it is shipped and delivered). The
import is **all-or-nothing**: a file with any bad row changes nothing and the
report lists `row N, column 'X': problem` for each (unknown request, wrong
status for the change, missing tracking number, unknown status, a request
twice). Rows already in the target status with the same tracking number are
counted as unchanged, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from commerce.money import to_major

from ..exceptions import SamplingError
from ..models import SampleRequest
from .requests import sample_request_mark_delivered, sample_request_mark_shipped

S = SampleRequest.Status
EXPORT_COLUMNS = [
    "request_id",
    "reference",
    "campaign",
    "sku",
    "quantity",
    "name",
    "email",
    "street_address",
    "city",
    "city_area",
    "postal_code",
    "country_area",
    "country",
    "declared_value",
    "currency",
]


def shipments_to_export(*, campaign_id: int | None = None) -> QuerySet[SampleRequest]:
    """Approved requests (ready to ship), oldest approval first."""
    qs = SampleRequest.objects.filter(status=S.APPROVED).select_related("campaign__sku").order_by("approved_at", "pk")
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """Text a viewer typed is never read as a spreadsheet formula: a leading = + - @ gets a quote (OWASP)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def shipments_export_csv(*, campaign_id: int | None = None, requests=None) -> str:
    """The 3PL CSV (see module docstring) for approved requests, as text.

    Cells holding viewer-typed text that starts like a formula are prefixed with a quote.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for req in requests if requests is not None else shipments_to_export(campaign_id=campaign_id):
        c = req.campaign
        writer.writerow(
            _cell(v)
            for v in [
                req.pk,
                req.token[:12],
                c.slug,
                c.sku.code,
                1,
                req.ship_name,
                req.email,
                req.ship_street_address.replace("\r\n", "\n"),
                req.ship_city,
                req.ship_city_area,
                req.ship_postal_code,
                req.ship_country_area,
                req.ship_country,
                f"{to_major(c.declared_value_minor, c.currency)}",
                c.currency,
            ]
        )
    return out.getvalue()


@dataclass(frozen=True)
class RowError:
    """One problem: `row` is the CSV record number with the header as row 1."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.message}"


@dataclass
class TrackingReport:
    """What a tracking import did, row by row, and why it refused."""

    rows: int = 0
    shipped: int = 0
    delivered: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "shipped": self.shipped,
            "delivered": self.delivered,
            "unchanged": self.unchanged,
            "errors": [e.__dict__ for e in self.errors],
            "results": self.results,
        }


class TrackingFileError(ValueError):
    """The file cannot be read at all (not UTF-8, no header, missing columns)."""


def _read(data: bytes) -> list[dict]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TrackingFileError("the file is not UTF-8 text; export it as CSV UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not headers:
        raise TrackingFileError("the file is empty (a header row is needed)")
    if "tracking_number" not in headers or not ({"request_id", "reference"} & set(headers)):
        raise TrackingFileError("the header needs `request_id` (or `reference`) and `tracking_number` columns")
    reader.fieldnames = headers
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def tracking_import(
    *,
    data: bytes,
    actor=None,
    actor_label: str = "",
    now: dt.datetime | None = None,
    requests: QuerySet[SampleRequest] | None = None,
) -> TrackingReport:
    """Import tracking numbers from a 3PL CSV (format in the module docstring). All-or-nothing.

    `requests` limits which requests the file may name (a partner's: commerce.access); any
    other is reported as unknown, exactly like a missing one. Default: every request (staff).
    Returns a TrackingReport; when `errors` is non-empty nothing was changed.
    Raises TrackingFileError when the file cannot be read.
    """
    now = now or timezone.now()
    reachable = requests if requests is not None else SampleRequest.objects.all()
    rows = _read(data)
    report = TrackingReport(rows=len(rows))
    ids = {r.get("request_id") for r in rows if (r.get("request_id") or "").isdecimal()}
    refs = {r.get("reference") for r in rows if r.get("reference")}
    by_id = {str(r.pk): r for r in reachable.filter(pk__in=[int(i) for i in ids])}
    by_ref = {}
    if refs:
        match = Q()
        for ref in refs:
            match |= Q(token__startswith=ref)
        by_ref = {req.token[:12]: req for req in reachable.filter(match)}
    plan: list[tuple[int, SampleRequest, str, str, str]] = []
    seen: set[int] = set()
    for number, row in enumerate(rows, start=2):
        rid, ref = row.get("request_id", ""), row.get("reference", "")
        req = by_id.get(rid) if rid else by_ref.get(ref)
        if req is None:
            column = "request_id" if rid else "reference"
            report.errors.append(RowError(number, column, f"no sample request {rid or ref!r}"))
            continue
        if req.pk in seen:
            report.errors.append(RowError(number, "request_id", f"request {req.pk} appears twice in the file"))
            continue
        seen.add(req.pk)
        tracking, carrier = row.get("tracking_number", ""), row.get("carrier", "")
        status = (row.get("status") or "shipped").lower()
        if status not in ("shipped", "delivered"):
            report.errors.append(RowError(number, "status", f"{status!r} is not shipped or delivered"))
            continue
        if not tracking and req.status == S.APPROVED:
            report.errors.append(RowError(number, "tracking_number", "a tracking number is needed to ship"))
            continue
        target_done = {"shipped": (S.SHIPPED, S.DELIVERED), "delivered": (S.DELIVERED,)}[status]
        if req.status in target_done and (not tracking or tracking == req.tracking_number):
            plan.append((number, req, "unchanged", tracking, carrier))
            continue
        allowed_from = {"shipped": (S.APPROVED,), "delivered": (S.APPROVED, S.SHIPPED)}[status]
        if req.status not in allowed_from:
            report.errors.append(
                RowError(
                    number,
                    "status",
                    f"request {req.pk} is {req.get_status_display().lower()}; it cannot become {status}",
                )
            )
            continue
        plan.append((number, req, status, tracking, carrier))
    if report.errors:
        return report
    label = actor_label or (f"staff:{actor.get_username()}" if actor is not None else "3pl import")
    try:
        with transaction.atomic():
            for number, req, action, tracking, carrier in plan:
                try:
                    if action == "unchanged":
                        report.unchanged += 1
                    else:
                        if req.status == S.APPROVED:
                            sample_request_mark_shipped(
                                request_id=req.pk,
                                tracking_number=tracking,
                                carrier=carrier,
                                actor=actor,
                                actor_label=label,
                                now=now,
                            )
                            report.shipped += 1
                        if action == "delivered":
                            sample_request_mark_delivered(request_id=req.pk, actor=actor, actor_label=label, now=now)
                            report.delivered += 1
                except SamplingError as exc:  # changed by someone else since the file was read
                    report.errors.append(RowError(number, "status", exc.message))
                    raise
                report.results.append({"row": number, "request_id": req.pk, "result": action})
    except SamplingError:
        report.shipped = report.delivered = report.unchanged = 0
        report.results = []
    return report
