"""What a session's assets cost: the price table, the daily cost ledger and the what-if table.

Definitions and sources: docs/asset-costs.md. Units: bytes; byte-days (bytes held × UTC days);
prices are `Decimal` in the price table's currency (USD for the defaults); amounts shown or
subtracted are integer minor units of the session's currency, half-up, rounded ONCE per session
total (the money rule of commerce/money.py: exact Decimal arithmetic, one quantize at the end).
The components (storage, delivery, retrieval, requests) are each rounded for display, so they
may differ from the total by a minor unit or two.

Ownership: an object shared by several sessions (dedup) is charged to the session that first
referenced it (the earliest Recording/Clip row pointing at it, by created_at then id); the others
pay nothing for it. Its deliveries are charged to the same session.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from commerce.money import MoneyError, check_currency, minor_unit_exponent

from .models import AssetCostDay, AssetDelivery, AssetObject, Clip, Recording, Tier

GB = Decimal(2**30)  # AWS bills a GB as 2^30 bytes ("GB-Month" in the S3 pricing FAQ)
TIERS = (Tier.FAST, Tier.MID, Tier.ARCHIVE)
TIER_ORDER = {t: i for i, t in enumerate(TIERS)}

# Public list prices, AWS us-east-1, first pricing band, read on 2026-12-01 from
# https://aws.amazon.com/s3/pricing/ and https://aws.amazon.com/cloudfront/pricing/
# (fast = S3 Standard, mid = S3 Standard-IA, archive = S3 Glacier Flexible Retrieval).
# Origin egress = S3 data transfer out to the internet (first 10 TB/month); CDN egress =
# CloudFront to the internet, North America (first 10 TB/month); origin → CloudFront is free.
_S3_EGRESS = {"egress_origin_per_gb": Decimal("0.09"), "egress_cdn_per_gb": Decimal("0.085")}
DEFAULT_PRICES: dict[str, dict] = {
    "s3": {
        "currency": "USD",
        "tiers": {
            Tier.FAST: {
                "storage_gb_month": Decimal("0.023"),
                "retrieval_per_gb": Decimal("0"),
                "put_per_1000": Decimal("0.005"),
                "get_per_1000": Decimal("0.0004"),
                "min_object_bytes": 0,
                "min_days": 0,
                **_S3_EGRESS,
            },
            Tier.MID: {
                "storage_gb_month": Decimal("0.0125"),
                "retrieval_per_gb": Decimal("0.01"),
                "put_per_1000": Decimal("0.01"),
                "get_per_1000": Decimal("0.001"),
                "min_object_bytes": 128 * 1024,
                "min_days": 30,
                **_S3_EGRESS,
            },
            Tier.ARCHIVE: {
                "storage_gb_month": Decimal("0.0036"),
                "retrieval_per_gb": Decimal("0.01"),  # Standard retrieval (3–5 h)
                "put_per_1000": Decimal("0.03"),
                "get_per_1000": Decimal("0.0004"),
                "min_object_bytes": 128 * 1024,  # see docs: AWS adds 40 KB overhead; we bill 128 KB minimum
                "min_days": 90,
                **_S3_EGRESS,
            },
        },
    },
    # The local disk: an EBS gp3 volume (https://aws.amazon.com/ebs/pricing/, $0.08/GB-month),
    # the same for every tier folder; egress as EC2 data transfer out to the internet.
    "filesystem": {
        "currency": "USD",
        "tiers": {
            t: {
                "storage_gb_month": Decimal("0.08"),
                "retrieval_per_gb": Decimal("0"),
                "put_per_1000": Decimal("0"),
                "get_per_1000": Decimal("0"),
                "min_object_bytes": 0,
                "min_days": 0,
                **_S3_EGRESS,
            }
            for t in TIERS
        },
    },
}


class CostError(Exception):
    """A cost that cannot be computed (unknown provider, no FX rate); `code` is stable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def price_table(provider: str | None = None) -> dict:
    """The price table of `provider` (default settings.ASSET_PROVIDER): defaults merged with
    settings.ASSET_PRICES[provider] (same shape; any field may be overridden, values Decimal-able).

    Shape: {"currency": "USD", "tiers": {tier: {"storage_gb_month", "retrieval_per_gb",
    "put_per_1000", "get_per_1000", "egress_origin_per_gb", "egress_cdn_per_gb" (Decimal),
    "min_object_bytes", "min_days" (int)}}}. Raises CostError("unknown_provider").
    """
    provider = provider or getattr(settings, "ASSET_PROVIDER", "s3")
    overrides = getattr(settings, "ASSET_PRICES", {}).get(provider, {})
    base = DEFAULT_PRICES.get(provider)
    if base is None and not overrides:
        raise CostError("unknown_provider", f"No price table for asset provider {provider!r}.")
    base = base or {"currency": "USD", "tiers": {}}
    table = {"currency": overrides.get("currency", base["currency"]), "tiers": {}}
    for tier in TIERS:
        row = dict(base["tiers"].get(tier, {}))
        row.update(overrides.get("tiers", {}).get(tier, {}))
        for key, value in row.items():
            row[key] = int(value) if key in ("min_object_bytes", "min_days") else Decimal(str(value))
        table["tiers"][tier] = row
    return table


def fx_rate(source: str, target: str) -> Decimal:
    """Units of `target` per unit of `source` from settings.ASSET_FX ({"USD": {"EUR": "0.86"}}).

    Fixed, documented rates (docs/asset-costs.md), not market data. Raises CostError("no_fx_rate").
    """
    source, target = check_currency(source), check_currency(target)
    if source == target:
        return Decimal(1)
    rates = getattr(settings, "ASSET_FX", {})
    if target in rates.get(source, {}):
        return Decimal(str(rates[source][target]))
    if source in rates.get(target, {}):
        return Decimal(1) / Decimal(str(rates[target][source]))
    raise CostError("no_fx_rate", f"No exchange rate {source}→{target} in ASSET_FX: asset cost not converted.")


def to_minor_half_up(amount: Decimal, currency: str) -> int:
    """A Decimal amount in major units of `currency` → integer minor units, half-up (commerce/money.py rule)."""
    return int(amount.scaleb(minor_unit_exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- ownership ---------------------------------------------------------------------------------


def asset_owners(asset_ids=None) -> dict[int, int]:
    """{asset_id: session_id} — the session that first referenced each object (created_at, then id)."""
    refs: list[tuple] = []
    for model, fields in ((Recording, ("asset", "poster", "strip")), (Clip, ("asset", "poster"))):
        for field in fields:
            qs = model.objects.filter(**{f"{field}__isnull": False})
            if asset_ids is not None:
                qs = qs.filter(**{f"{field}_id__in": asset_ids})
            refs += qs.values_list(f"{field}_id", "created_at", "pk", "session_id")
    owners: dict[int, tuple] = {}
    for asset_id, created_at, pk, session_id in refs:
        key = (created_at, pk)
        if asset_id not in owners or key < owners[asset_id][0]:
            owners[asset_id] = (key, session_id)
    return {asset_id: v[1] for asset_id, v in owners.items()}


def session_asset_ids(*, session_id: int) -> set[int]:
    """Ids of the objects this session's Recording/Clip rows reference."""
    ids: set[int] = set()
    for model, fields in ((Recording, ("asset", "poster", "strip")), (Clip, ("asset", "poster"))):
        for field in fields:
            ids.update(
                model.objects.filter(session_id=session_id, **{f"{field}__isnull": False}).values_list(
                    f"{field}_id", flat=True
                )
            )
    return ids


def session_owned_asset_ids(*, session_id: int) -> list[int]:
    """Ids of the objects this session owns (it referenced them first)."""
    return [a for a, s in asset_owners(session_asset_ids(session_id=session_id)).items() if s == session_id]


def session_reference_bytes(*, session_id: int) -> dict:
    """Bytes the session's rows reference: {"logical": Σ size per reference, "stored": Σ size of
    the distinct objects it owns}. Dedup saving for the session = logical − stored (from references,
    not from ref_count, so another session's references do not count here)."""
    sizes: list[tuple[int, int]] = []
    for model, fields in ((Recording, ("asset", "poster", "strip")), (Clip, ("asset", "poster"))):
        for field in fields:
            sizes += model.objects.filter(session_id=session_id, **{f"{field}__isnull": False}).values_list(
                f"{field}_id", f"{field}__size_bytes"
            )
    owned = {a for a, s in asset_owners({a for a, _ in sizes}).items() if s == session_id}
    stored = sum(dict(sizes).get(a, 0) for a in owned)
    return {"logical": sum(s for _, s in sizes), "stored": stored}


def dedup_savings() -> dict:
    """Whole store: {"logical": Σ over references of size, "stored": Σ size of objects, "saved"}.

    From references (every Recording/Clip FK counts once), which equals Σ (ref_count − 1) × size
    when ref_count only counts those rows (open uploads also hold refs, so references are exact)."""
    logical = 0
    for model, fields in ((Recording, ("asset", "poster", "strip")), (Clip, ("asset", "poster"))):
        for field in fields:
            logical += model.objects.filter(**{f"{field}__isnull": False}).aggregate(s=Sum(f"{field}__size_bytes"))[
                "s"
            ] or 0
    stored = AssetObject.objects.filter(ref_count__gt=0).aggregate(s=Sum("size_bytes"))["s"] or 0
    return {"logical": logical, "stored": stored, "saved": logical - stored}


# --- the ledger --------------------------------------------------------------------------------


def tier_on(obj: AssetObject, day: dt.date) -> str | None:
    """The object's tier on UTC `day`, or None if it did not exist yet.

    Before `tier_changed_at` the object was in the tier before its current one (policy order
    fast → mid → archive); a backfill further back than one move is an estimate (docs).
    """
    if obj.created_at.date() > day:
        return None
    if obj.tier_changed_at and day < obj.tier_changed_at.date():
        return TIERS[max(TIER_ORDER.get(obj.tier, 0) - 1, 0)]
    return obj.tier


def _entered_tier(obj: AssetObject) -> dt.date:
    return (obj.tier_changed_at or obj.created_at).date()


def asset_cost_ledger_record(*, day: dt.date, provider: str | None = None) -> int:
    """Write the ledger for UTC `day`: one AssetCostDay per session and tier. Returns rows written.

    Idempotent: the day's rows are replaced in one transaction. Per row:
    byte_days = Σ size of objects owned by the session and held in that tier that day;
    billable_byte_days = Σ max(size, tier's min_object_bytes), plus the early-deletion charge
    (remaining days of the tier's minimum duration × billable size) on the day an unreferenced
    object that entered the tier less than min_days ago is released; bytes_delivered = Σ
    AssetDelivery bytes_origin + bytes_edge that day; bytes_retrieved = origin bytes read from a tier
    with a retrieval fee (mid) plus bytes restored from the archive that day; requests = origin GETs.
    """
    prices = price_table(provider)["tiers"]
    objects = AssetObject.objects.only(
        "pk", "size_bytes", "tier", "created_at", "tier_changed_at", "unreferenced_at", "restore_ready_at"
    ).iterator(chunk_size=5000)
    owners = asset_owners()
    deliveries = {
        d["asset_id"]: d
        for d in AssetDelivery.objects.filter(day=day).values("asset_id", "requests", "bytes_origin", "bytes_edge")
    }
    rows: dict[tuple[int, str], dict] = defaultdict(lambda: defaultdict(int))
    for obj in objects:
        session_id = owners.get(obj.pk)
        tier = tier_on(obj, day)
        if session_id is None or tier is None:
            continue
        price = prices[tier]
        row = rows[(session_id, tier)]
        billable = max(obj.size_bytes, price["min_object_bytes"])
        row["byte_days"] += obj.size_bytes
        row["billable_byte_days"] += billable
        if obj.unreferenced_at and obj.unreferenced_at.date() == day and price["min_days"]:
            held = (day - _entered_tier(obj)).days + 1
            row["billable_byte_days"] += max(price["min_days"] - held, 0) * billable
        d = deliveries.get(obj.pk)
        if d:
            row["bytes_delivered"] += d["bytes_origin"] + d["bytes_edge"]
            row["requests"] += d["requests"]
            if price["retrieval_per_gb"] and tier != Tier.ARCHIVE:
                row["bytes_retrieved"] += d["bytes_origin"]
        if tier == Tier.ARCHIVE and obj.restore_ready_at and obj.restore_ready_at.date() == day:
            row["bytes_retrieved"] += obj.size_bytes
    with transaction.atomic():
        AssetCostDay.objects.filter(day=day).delete()
        AssetCostDay.objects.bulk_create(
            AssetCostDay(session_id=session_id, day=day, tier=tier, **values)
            for (session_id, tier), values in rows.items()
        )
    return len(rows)


def asset_cost_ledger_backfill(*, start: dt.date, end: dt.date, progress=None) -> int:
    """Re-record every UTC day from `start` to `end` inclusive; `progress(day)` after each. Returns days."""
    if end < start:
        raise CostError("bad_range", "The end day is before the start day.")
    day, n = start, 0
    while day <= end:
        asset_cost_ledger_record(day=day)
        n += 1
        if progress:
            progress(day)
        day += dt.timedelta(days=1)
    return n


# --- session cost ------------------------------------------------------------------------------


def _row_cost(row, price: dict, *, tiers: bool = True, fast: dict | None = None, cdn: bool) -> dict[str, Decimal]:
    """Exact Decimal cost of one ledger row (price currency). tiers=False prices everything as fast."""
    if not tiers:
        price = fast
    days_in_month = calendar.monthrange(row.day.year, row.day.month)[1]
    storage_bytes = row.billable_byte_days if tiers else row.byte_days
    egress = price["egress_cdn_per_gb"] if cdn else price["egress_origin_per_gb"]
    return {
        "storage": Decimal(storage_bytes) / GB / days_in_month * price["storage_gb_month"],
        "delivery": Decimal(row.bytes_delivered) / GB * egress,
        "retrieval": Decimal(row.bytes_retrieved if tiers else 0) / GB * price["retrieval_per_gb"],
        "requests": Decimal(row.requests) / 1000 * price["get_per_1000"],
    }


def _puts(session_id: int, prices: dict) -> Decimal:
    """PUT/COPY charges of the session's objects that still exist: one PUT into fast at creation,
    one COPY (PUT-priced, in the new class) per tier move so far. Collected objects are not counted."""
    total = Decimal(0)
    owned = session_owned_asset_ids(session_id=session_id)
    for tier in AssetObject.objects.filter(pk__in=owned).values_list("tier", flat=True):
        for t in TIERS[: TIER_ORDER.get(tier, 0) + 1]:
            total += prices[t]["put_per_1000"] / 1000
    return total


def cdn_in_front() -> bool:
    """True when a CDN bills the delivered bytes (settings.ASSET_CDN_PROVIDER is not "none")."""
    return getattr(settings, "ASSET_CDN_PROVIDER", "none") != "none"


def session_asset_cost(
    *, session_id: int, currency: str | None = None, provider: str | None = None, tiers: bool = True
) -> dict:
    """The session's asset cost from its ledger rows, in `currency` (default: the price table's).

    Shape: {"storage_minor", "delivery_minor", "retrieval_minor", "requests_minor", "total_minor"
    (ints, minor units of "currency"; total rounded once from the exact sum), "currency",
    "price_currency", "provider", "by_tier": {tier: {"storage_minor", …, "total_minor"}},
    "bytes": {"byte_days", "billable_byte_days", "delivered", "retrieved", "requests"},
    "days": number of ledger days}. Raises CostError("no_fx_rate") when no rate converts the price
    currency into `currency` (callers must then not subtract it), CostError("unknown_provider").
    """
    table = price_table(provider)
    prices = table["tiers"]
    currency = check_currency(currency or table["currency"])
    rate = fx_rate(table["currency"], currency)
    cdn = cdn_in_front()
    rows = list(AssetCostDay.objects.filter(session_id=session_id))
    by_tier: dict[str, dict[str, Decimal]] = {t: defaultdict(Decimal) for t in TIERS}
    nbytes = dict.fromkeys(("byte_days", "billable_byte_days", "delivered", "retrieved", "requests"), 0)
    for row in rows:
        for part, amount in _row_cost(row, prices[row.tier], tiers=tiers, fast=prices[Tier.FAST], cdn=cdn).items():
            by_tier[row.tier][part] += amount
        nbytes["byte_days"] += row.byte_days
        nbytes["billable_byte_days"] += row.billable_byte_days
        nbytes["delivered"] += row.bytes_delivered
        nbytes["retrieved"] += row.bytes_retrieved
        nbytes["requests"] += row.requests
    by_tier[Tier.FAST]["requests"] += _puts(session_id, prices)
    parts = ("storage", "delivery", "retrieval", "requests")
    totals = {p: sum((by_tier[t][p] for t in TIERS), Decimal(0)) * rate for p in parts}
    return {
        **{f"{p}_minor": to_minor_half_up(totals[p], currency) for p in parts},
        "total_minor": to_minor_half_up(sum(totals.values(), Decimal(0)), currency),
        "currency": currency,
        "price_currency": table["currency"],
        "provider": provider or getattr(settings, "ASSET_PROVIDER", "s3"),
        "by_tier": {
            t: {
                **{f"{p}_minor": to_minor_half_up(by_tier[t][p] * rate, currency) for p in parts},
                "total_minor": to_minor_half_up(sum(by_tier[t].values(), Decimal(0)) * rate, currency),
            }
            for t in TIERS
        },
        "bytes": nbytes,
        "days": len({r.day for r in rows}),
    }


def session_asset_cost_or_none(*, session_id: int, currency: str) -> tuple[dict | None, str]:
    """session_asset_cost in `currency`, or (None, reason) when it cannot be converted/priced."""
    try:
        return session_asset_cost(session_id=session_id, currency=currency), ""
    except (CostError, MoneyError) as exc:
        return None, getattr(exc, "message", str(exc))


def session_asset_what_if(*, session_id: int, currency: str | None = None) -> dict:
    """Cost of the session's assets as stored and under alternatives (minor units of `currency`).

    Shape: {"currency", "actual", "no_tiers" (everything in fast, no minimums, no retrieval fees),
    "no_dedup" (storage scaled by logical ÷ stored bytes of the session's references),
    "no_hot_set" (every delivered byte read from the origin: retrieval fees on mid-tier reads and
    origin GETs scaled by delivered ÷ origin bytes), "no_tiers_no_dedup", "bytes": {...}} — each a
    total_minor int. Raises like session_asset_cost.
    """
    actual = session_asset_cost(session_id=session_id, currency=currency)
    cur = actual["currency"]
    flat = session_asset_cost(session_id=session_id, currency=cur, tiers=False)
    refs = session_reference_bytes(session_id=session_id)
    factor = Decimal(refs["logical"]) / Decimal(refs["stored"]) if refs["stored"] else Decimal(1)

    def no_dedup(cost: dict) -> int:
        return cost["total_minor"] + to_minor_half_up(
            Decimal(cost["storage_minor"]).scaleb(-minor_unit_exponent(cur)) * (factor - 1), cur
        )

    # Without the hot set: every delivered byte is an origin read.
    owned = session_owned_asset_ids(session_id=session_id)
    agg = AssetDelivery.objects.filter(asset_id__in=owned).aggregate(
        o=Sum("bytes_origin"), e=Sum("bytes_edge"), r=Sum("requests")
    )
    origin, edge, reqs = agg["o"] or 0, agg["e"] or 0, agg["r"] or 0
    table = price_table()
    rate = fx_rate(table["currency"], cur)
    mid = table["tiers"][Tier.MID]
    mid_share = (
        Decimal(actual["bytes"]["retrieved"]) / Decimal(origin) if origin and actual["bytes"]["retrieved"] else 0
    )
    extra_retrieval = Decimal(edge) * Decimal(mid_share) / GB * mid["retrieval_per_gb"]
    extra_gets = (Decimal(reqs) * Decimal(edge) / Decimal(origin) if origin else Decimal(0)) / 1000 * mid["get_per_1000"]
    no_hot = actual["total_minor"] + to_minor_half_up((extra_retrieval + extra_gets) * rate, cur)
    return {
        "currency": cur,
        "actual": actual["total_minor"],
        "no_tiers": flat["total_minor"],
        "no_dedup": no_dedup(actual),
        "no_tiers_no_dedup": no_dedup(flat),
        "no_hot_set": no_hot,
        "bytes": {**refs, "dedup_saved": refs["logical"] - refs["stored"], "origin": origin, "edge": edge},
    }
