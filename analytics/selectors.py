"""Analytics reads: the KPI stack per session, drop, series, format and week; cohorts; experiments.

Every figure's definition lives in docs/metrics.md and in the docstring of the code that
computes it (`services.funnel` for the funnel, `services.purchases` for repeat/cohort/LTV).
Ratios are floats in 0..1 (None when the denominator is 0); money is integer minor units with
its ISO 4217 currency.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from sessions_app.models import LiveSession

from .models import FUNNEL_STEPS, CustomerStats, Event, FunnelActor, FunnelRollup, Purchase, SessionCost
from .services.funnel import ordered_funnel, session_windows


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator ÷ denominator, or None when the denominator is 0."""
    return numerator / denominator if denominator else None


def _funnel_dict(counts: dict, *, orders: int, revenue_minor: int, currency: str) -> dict:
    """The funnel part of a KPI stack from step counts (metrics.md §1, §2)."""
    visitors = {step: int(counts.get(step) or 0) for step in FUNNEL_STEPS}
    return {
        "visitors": visitors,
        "v2c": ratio(visitors["click"], visitors["view"]),
        "c2c": ratio(visitors["checkout"], visitors["click"]),
        "c2p": ratio(visitors["purchase"], visitors["checkout"]),
        "orders": orders,
        "revenue_minor": revenue_minor,
        "currency": currency,
        "aov_minor": round(revenue_minor / orders) if orders else None,
        "revenue_per_viewer_minor": round(revenue_minor / visitors["view"]) if visitors["view"] else None,
    }


def _rollup_counts(row: FunnelRollup | dict | None) -> tuple[dict, int, int, str]:
    if row is None:
        return {}, 0, 0, ""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return (
        {step: get(f"visitors_{step}") or 0 for step in FUNNEL_STEPS},
        get("orders") or 0,
        get("revenue_minor") or 0,
        get("currency") or "",
    )


def session_minutes(session: LiveSession) -> float:
    """On-air minutes: went_live_at → ended_at when both are known, else the planned duration."""
    if session.went_live_at and session.ended_at and session.ended_at > session.went_live_at:
        return (session.ended_at - session.went_live_at).total_seconds() / 60
    return session.duration_seconds / 60


def acquisition_stats(*, session_ids: Iterable[int]) -> dict:
    """Customers whose first purchase was in these sessions: count, repeat rates, cohort revenue, LTV.

    Shape: {"customers", "repeat_7d", "repeat_14d", "repeat_30d" (rates or None),
    "revenue_7d_minor", "revenue_14d_minor", "ltv_60d_minor" (averages per customer or None)}.
    """
    agg = CustomerStats.objects.filter(first_session_id__in=list(session_ids)).aggregate(
        customers=Count("pk"),
        r7=Count("pk", filter=Q(repeat_7d=True)),
        r14=Count("pk", filter=Q(repeat_14d=True)),
        r30=Count("pk", filter=Q(repeat_30d=True)),
        rev7=Avg("revenue_7d_minor"),
        rev14=Avg("revenue_14d_minor"),
        ltv=Avg("ltv_60d_minor"),
    )
    n = agg["customers"]
    return {
        "customers": n,
        "repeat_7d": ratio(agg["r7"], n),
        "repeat_14d": ratio(agg["r14"], n),
        "repeat_30d": ratio(agg["r30"], n),
        "revenue_7d_minor": round(agg["rev7"]) if agg["rev7"] is not None else None,
        "revenue_14d_minor": round(agg["rev14"]) if agg["rev14"] is not None else None,
        "ltv_60d_minor": round(agg["ltv"]) if agg["ltv"] is not None else None,
    }


def session_kpis(*, session_id: int) -> dict:
    """The whole KPI stack of one session, read from rollups (no raw events).

    Shape: {"session_id", "public_id", "title", "starts_at", "minutes", "visitors": {step: n},
    "v2c", "c2c", "c2p", "orders", "revenue_minor", "currency", "aov_minor",
    "revenue_per_viewer_minor", "acquisition": acquisition_stats(…), **session_costs(…),
    "roi_per_minute_minor", "drops": [{"drop_id", …funnel…}]}.
    ROI per minute = (revenue − sample cost − asset cost − manual adjustment) ÷ on-air minutes
    (metrics.md §2); an asset cost that cannot be converted is None and not subtracted.
    Raises LiveSession.DoesNotExist.
    """
    session = LiveSession.objects.get(pk=session_id)
    rows = {r.drop_id: r for r in FunnelRollup.objects.filter(session_id=session_id)}
    counts, orders, revenue, currency = _rollup_counts(rows.get(0))
    out = {
        "session_id": session.pk,
        "public_id": str(session.public_id),
        "title": session.title,
        "starts_at": session.starts_at,
        "minutes": round(session_minutes(session), 2),
        **_funnel_dict(counts, orders=orders, revenue_minor=revenue, currency=currency),
        "acquisition": acquisition_stats(session_ids=[session_id]),
    }
    out.update(session_costs(session_id=session_id, currency=currency))
    minutes = session_minutes(session)
    subtract = out["sample_cost_minor"] + (out["asset_cost_minor"] or 0) + out["cost_adjustment_minor"]
    out["roi_per_minute_minor"] = round((revenue - subtract) / minutes) if minutes else None
    out["drops"] = [
        {
            "drop_id": drop_id,
            **_funnel_dict(_rollup_counts(r)[0], orders=r.orders, revenue_minor=r.revenue_minor, currency=r.currency),
        }
        for drop_id, r in sorted(rows.items())
        if drop_id
    ]
    return out


def session_costs(*, session_id: int, currency: str) -> dict:
    """What ROI per minute subtracts for one session, in minor units of `currency` (metrics.md §2).

    - sample cost: units shipped × unit cost (sampling.selectors.session_sample_cost), converted
      with the fixed ASSET_FX rates when a campaign's currency differs; a currency with no rate is
      left out and named in "cost_notes";
    - asset cost: the cost ledger priced by sessions_app.assets.costs.session_asset_cost
      (storage + delivery + retrieval + requests, rounded once); None when it cannot be converted;
    - manual adjustment: the SessionCost row, if staff entered one (sample + asset columns, same
      currency only), added on top and shown separately.
    Shape: {"cost_currency", "sample_cost_minor", "asset_cost_minor" (int or None),
    "storage_cost_minor", "delivery_cost_minor", "asset_cost" (session_asset_cost dict or None),
    "cost_adjustment_minor", "cost_notes": [str]}.
    """
    from decimal import Decimal

    from commerce.money import minor_unit_exponent
    from sampling.selectors import session_sample_cost
    from sessions_app.assets.costs import CostError, fx_rate, price_table, session_asset_cost_or_none, to_minor_half_up

    notes: list[str] = []
    currency = currency or price_table()["currency"]
    sample = 0
    for cur, amount in session_sample_cost(session_id=session_id).items():
        if cur == currency:
            sample += amount
            continue
        try:
            major = Decimal(amount).scaleb(-minor_unit_exponent(cur)) * fx_rate(cur, currency)
            sample += to_minor_half_up(major, currency)
        except CostError as exc:
            notes.append(f"Sample cost in {cur} not subtracted: {exc.message}")
    asset, reason = session_asset_cost_or_none(session_id=session_id, currency=currency)
    if asset is None:
        notes.append(f"Asset cost not subtracted: {reason}")
    adjustment = 0
    manual = SessionCost.objects.filter(session_id=session_id).first()
    if manual and manual.currency == currency:
        adjustment = manual.sample_cost_minor + manual.asset_cost_minor
    elif manual:
        notes.append(f"Manual cost adjustment in {manual.currency} not subtracted (session currency {currency}).")
    return {
        "cost_currency": currency,
        "sample_cost_minor": sample,
        "asset_cost_minor": asset["total_minor"] if asset else None,
        "storage_cost_minor": asset["storage_minor"] if asset else None,
        "delivery_cost_minor": asset["delivery_minor"] if asset else None,
        "asset_cost": asset,
        "cost_adjustment_minor": adjustment,
        "cost_notes": notes,
    }


def session_funnel_from_events(
    *, session_id: int, steps: tuple[str, ...] = FUNNEL_STEPS, window: tuple | None | str = "session"
) -> dict:
    """The funnel computed straight from raw events (the reference the rollups are checked against).

    Streams the session's events ordered by actor; `window="session"` uses the session's
    attribution window, None is unbounded. Shape: {"visitors": {step: n}, "orders", "revenue_minor"}.
    """
    if window == "session":
        window = session_windows([session_id])[session_id]
    counts = dict.fromkeys(steps, 0)
    orders: dict = {}
    current, events = None, []

    def close(evts):
        for step in ordered_funnel(evts, steps=steps, window=window):
            counts[step] += 1

    qs = (
        Event.objects.filter(session_id=session_id)
        .order_by("actor")
        .values_list("actor", "name", "occurred_at", "seq", "order_id", "amount_minor")
    )
    for actor, name, at, seq, order_id, amount in qs.iterator(chunk_size=20000):
        if actor != current:
            if events:
                close(events)
            current, events = actor, []
        events.append((name, at, seq))
        if name == "purchase":
            orders[(actor, order_id if order_id is not None else f"seq:{seq}")] = amount or 0
    if events:
        close(events)
    return {"visitors": counts, "orders": len(orders), "revenue_minor": sum(orders.values())}


def _sessions_kpis(sessions: QuerySet[LiveSession]) -> dict:
    """Sums of the sessions' funnel rollups (session-visits, metrics.md §4) plus acquisition."""
    ids = list(sessions.values_list("pk", flat=True))
    agg = FunnelRollup.objects.filter(session_id__in=ids, drop_id=0).aggregate(
        **{step: Sum(f"visitors_{step}") for step in FUNNEL_STEPS},
        orders=Sum("orders"),
        revenue=Sum("revenue_minor"),
    )
    currencies = set(
        FunnelRollup.objects.filter(session_id__in=ids, drop_id=0)
        .exclude(currency="")
        .values_list("currency", flat=True)
    )
    currency = currencies.pop() if len(currencies) == 1 else ("" if not currencies else "MIXED")
    return {
        "sessions": len(ids),
        **_funnel_dict(agg, orders=agg["orders"] or 0, revenue_minor=agg["revenue"] or 0, currency=currency),
        "acquisition": acquisition_stats(session_ids=ids),
    }


def week_start(session: LiveSession) -> dt.date:
    """Monday of the session's week, in the session's own timezone."""
    local = session.starts_at.astimezone(zoneinfo.ZoneInfo(session.timezone)).date()
    return local - dt.timedelta(days=local.weekday())


def weekly_kpis(sessions: QuerySet[LiveSession]) -> list[dict]:
    """KPI stacks per week (Monday, session timezone) of these sessions, oldest first."""
    by_week: dict[dt.date, list[int]] = defaultdict(list)
    for session in sessions.only("pk", "starts_at", "timezone"):
        by_week[week_start(session)].append(session.pk)
    return [
        {"week": week.isoformat(), **_sessions_kpis(LiveSession.objects.filter(pk__in=ids))}
        for week, ids in sorted(by_week.items())
    ]


def series_kpis(*, series_id: int) -> dict:
    """A series' KPI stack overall and per week: {"series_id", "name", "total": …, "weeks": [...]}."""
    from sessions_app.models import Series

    series = Series.objects.get(pk=series_id)
    sessions = LiveSession.objects.filter(series=series).exclude(status=LiveSession.Status.CANCELLED)
    return {
        "series_id": series.pk,
        "name": series.name,
        "total": _sessions_kpis(sessions),
        "weeks": weekly_kpis(sessions),
    }


def format_kpis(*, format_id: int) -> dict:
    """A format's KPI stack overall and per week: {"format_id", "slug", "name", "total", "weeks"}."""
    from sessions_app.models import SessionFormat

    fmt = SessionFormat.objects.get(pk=format_id)
    sessions = LiveSession.objects.filter(format=fmt).exclude(status=LiveSession.Status.CANCELLED)
    return {
        "format_id": fmt.pk,
        "slug": fmt.slug,
        "name": fmt.name,
        "total": _sessions_kpis(sessions),
        "weeks": weekly_kpis(sessions),
    }


def drop_kpis(*, drop_id: int) -> dict:
    """One drop's funnel (its session's views as the first step): funnel dict plus "drop_id"."""
    row = FunnelRollup.objects.filter(drop_id=drop_id).exclude(drop_id=0).first()
    counts, orders, revenue, currency = _rollup_counts(row)
    return {"drop_id": drop_id, **_funnel_dict(counts, orders=orders, revenue_minor=revenue, currency=currency)}


# --- repeat, cohorts, LTV -----------------------------------------------------------------------


def _stats(source: str | None) -> QuerySet[CustomerStats]:
    qs = CustomerStats.objects.all()
    return qs.filter(source=source) if source else qs


def repeat_rate(*, source: str | None = None, days: int = 30) -> dict:
    """Repeat purchase rate within `days` (7, 14 or 30; later-day rule, metrics.md §3).

    Shape: {"customers", "repeaters", "rate"}.
    """
    if days not in (7, 14, 30):
        raise ValueError("days must be 7, 14 or 30")
    agg = _stats(source).aggregate(n=Count("pk"), r=Count("pk", filter=Q(**{f"repeat_{days}d": True})))
    return {"customers": agg["n"], "repeaters": agg["r"], "rate": ratio(agg["r"], agg["n"])}


def cohort_table(*, source: str | None = None, period: str = "week") -> list[dict]:
    """Customers by first-purchase week (ISO Monday) or month: the 7-/14-day cohort table.

    Row shape: {"cohort" (YYYY-MM-DD start), "customers", "repeat_7d", "repeat_14d", "repeat_30d"
    (counts), "repeat_7d_rate", "repeat_14d_rate", "repeat_30d_rate", "revenue_minor",
    "revenue_7d_minor", "revenue_14d_minor", "ltv_60d_minor" (sums), "ltv_60d_avg_minor",
    "currency"}.
    """
    trunc = {"week": TruncWeek, "month": TruncMonth}[period]
    rows = (
        _stats(source)
        .annotate(cohort=trunc("first_day"))
        .values("cohort", "currency")
        .annotate(
            customers=Count("pk"),
            repeat_7d=Count("pk", filter=Q(repeat_7d=True)),
            repeat_14d=Count("pk", filter=Q(repeat_14d=True)),
            repeat_30d=Count("pk", filter=Q(repeat_30d=True)),
            revenue_minor=Sum("revenue_minor"),
            revenue_7d_minor=Sum("revenue_7d_minor"),
            revenue_14d_minor=Sum("revenue_14d_minor"),
            ltv_60d_minor=Sum("ltv_60d_minor"),
        )
        .order_by("cohort", "currency")
    )
    out = []
    for row in rows:
        cohort = row["cohort"]
        cohort = cohort.date() if isinstance(cohort, dt.datetime) else cohort
        n = row["customers"]
        out.append(
            {
                **row,
                "cohort": cohort.isoformat(),
                "repeat_7d_rate": ratio(row["repeat_7d"], n),
                "repeat_14d_rate": ratio(row["repeat_14d"], n),
                "repeat_30d_rate": ratio(row["repeat_30d"], n),
                "ltv_60d_avg_minor": round(row["ltv_60d_minor"] / n) if n else None,
            }
        )
    return out


def cohort_retention(*, source: str | None = None, weeks: int = 12) -> dict:
    """The cohort heat map: share of each first-purchase-week cohort buying in week 0..`weeks`−1.

    Week k of a customer = days first_day + 7k … first_day + 7k + 6. Shape:
    {"weeks": weeks, "rows": [{"cohort", "customers", "cells": [rate or None, …]}]}.
    """
    first = dict(_stats(source).values_list("customer_key", "first_day"))
    purchases = (
        Purchase.objects.filter(customer_key__in=first.keys())
        if source is None
        else Purchase.objects.filter(source=source)
    )
    active: dict[dt.date, list[set]] = defaultdict(lambda: [set() for _ in range(weeks)])
    for key, day in purchases.order_by().values_list("customer_key", "day").iterator(chunk_size=20000):
        start = first.get(key)
        if start is None:
            continue
        offset = (day - start).days // 7
        if 0 <= offset < weeks:
            active[start - dt.timedelta(days=start.weekday())][offset].add(key)
    sizes: dict[dt.date, int] = defaultdict(int)
    for start in first.values():
        sizes[start - dt.timedelta(days=start.weekday())] += 1
    rows = [
        {
            "cohort": week.isoformat(),
            "customers": sizes[week],
            "cells": [ratio(len(active[week][k]), sizes[week]) for k in range(weeks)],
        }
        for week in sorted(sizes)
    ]
    return {"weeks": weeks, "rows": rows}


def revenue_total(*, source: str | None = None) -> dict[str, int]:
    """Revenue of all purchases by currency: {currency: amount_minor}."""
    qs = Purchase.objects.all()
    if source:
        qs = qs.filter(source=source)
    return dict(qs.order_by("currency").values("currency").annotate(s=Sum("amount_minor")).values_list("currency", "s"))


def viewer_revenues(*, session_ids: Iterable[int], currency: str) -> list[int]:
    """Revenue (minor units) of every viewer of these sessions, 0 for viewers who did not buy."""
    return list(
        FunnelActor.objects.filter(session_id__in=list(session_ids), drop_id=0, view_at__isnull=False)
        .filter(Q(currency=currency) | Q(currency=""))
        .values_list("revenue_minor", flat=True)
    )


def events_export(*, session_id: int | None = None, since_seq: int | None = None) -> QuerySet[Event]:
    """Raw events in sequence order for export; filter by session and `seq > since_seq`."""
    qs = Event.objects.order_by("seq")
    if session_id is not None:
        qs = qs.filter(session_id=session_id)
    if since_seq is not None:
        qs = qs.filter(seq__gt=since_seq)
    return qs


def _audience(*, names: tuple[str, ...], series_id: int | None) -> set[str]:
    """Normalized e-mails of identified customers with an event named in `names` (optionally in one series)."""
    from commerce.models import Customer
    from sessions_app.models import LiveSession

    events = Event.objects.filter(name__in=names, customer_id__isnull=False)
    if series_id is not None:
        events = events.filter(session_id__in=LiveSession.objects.filter(series_id=series_id).values("pk"))
    return set(
        Customer.objects.filter(pk__in=events.values("customer_id").distinct()).values_list(
            "email_normalized", flat=True
        )
    )


def audience_attendees(*, series_id: int | None) -> set[str]:
    """People who watched a session (a `view` event), as normalized e-mails; for sampling's targeting.

    Only identified visitors count (their anonymous views are merged with the
    customer once they give their e-mail). `series_id=None` means any series.
    """
    return _audience(names=("view",), series_id=series_id)


def audience_drop_clickers(*, series_id: int | None) -> set[str]:
    """People who clicked a drop's call to action (a `click` event), as normalized e-mails."""
    return _audience(names=("click",), series_id=series_id)


def visitor_customer_id(*, visitor_id: str | None) -> int | None:
    """The customer a visitor (cookie id) was identified as (VisitorAlias), or None if not (yet) known."""
    from .models import VisitorAlias

    if not visitor_id:
        return None
    return VisitorAlias.objects.filter(visitor_id=visitor_id).values_list("customer_id", flat=True).first()
