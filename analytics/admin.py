"""Analytics in the back office: dashboards per session, series and format, cohorts, experiments.

Every dashboard is drawn by Chart.js (vendored, templates/static/vendor/chartjs/) from selector
output, and every table on it downloads as CSV with `?csv=<table key>` (raw values: ratios 0..1,
money in minor units with a currency column). Views are thin: read selectors, shape, render.
"""

from __future__ import annotations

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from commerce.admin_money import MoneyAdminMixin, money_column
from commerce.models import Drop
from commerce.money import MoneyError, check_currency, format_money, to_major
from commerce.staff_access import has_staff_perms, staff_permission_required
from sessions_app.models import LiveSession, Series, SessionFormat

from . import selectors
from .experiments import experiment_result
from .models import FUNNEL_STEPS, CustomerStats, Event, Experiment, ExperimentSession, FunnelRollup, SessionCost

FUNNEL_COLUMNS = [
    *[(f"visitors_{s}", s.capitalize(), "int") for s in FUNNEL_STEPS],
    ("v2c", "V2C", "ratio"),
    ("c2c", "C2C", "ratio"),
    ("c2p", "C2P", "ratio"),
    ("orders", "Orders", "int"),
    ("revenue_minor", "Revenue", "money"),
    ("aov_minor", "AOV", "money"),
    ("revenue_per_viewer_minor", "Revenue / viewer", "money"),
]
COHORT_COLUMNS = [
    ("cohort", "Cohort (first purchase)", "text"),
    ("customers", "Customers", "int"),
    ("repeat_7d_rate", "Repeat 7 d", "ratio"),
    ("repeat_14d_rate", "Repeat 14 d", "ratio"),
    ("repeat_30d_rate", "Repeat 30 d", "ratio"),
    ("revenue_7d_minor", "Revenue 7 d", "money"),
    ("revenue_14d_minor", "Revenue 14 d", "money"),
    ("ltv_60d_avg_minor", "LTV 60 d / customer", "money"),
]
VIEW_DASHBOARDS = "analytics.view_dashboards"
EXPORT_DASHBOARDS = "analytics.export_dashboards"
dashboard_view = staff_permission_required(VIEW_DASHBOARDS)

PALETTE = ["#2071b5", "#e07b39", "#3a9e5f", "#a13d63", "#7c6bb0"]


def _flat(kpis: dict) -> dict:
    return {**kpis, **{f"visitors_{k}": v for k, v in kpis["visitors"].items()}}


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _money(value, currency) -> str:
    return (
        "–" if value is None else format_money(value, currency or "USD") if currency != "MIXED" else f"{value} (mixed)"
    )


def _funnel_chart(kpis: dict, title: str = "Funnel: distinct visitors per step") -> dict:
    counts = [kpis["visitors"][s] for s in FUNNEL_STEPS]
    return {
        "id": "funnel",
        "title": title,
        "config": {
            "type": "bar",
            "data": {
                "labels": [s.capitalize() for s in FUNNEL_STEPS],
                "datasets": [{"label": "Visitors", "data": counts, "backgroundColor": PALETTE[0]}],
            },
            "options": {"indexAxis": "y", "plugins": {"legend": {"display": False}}},
        },
    }


def _major(amount_minor: int, currency: str) -> float:
    """Chart values are in major units of the currency (12.5 for 1250 EUR); minor units if it is unknown."""
    try:
        return float(to_major(amount_minor, currency))
    except MoneyError:
        return amount_minor


def _revenue_label(currency: str) -> str:
    try:
        return f"Revenue ({check_currency(currency)})"
    except MoneyError:
        return "Revenue (minor units, several currencies)"


def _weeks_chart(weeks: list[dict], currency: str = "") -> dict:
    labels = [w["week"] for w in weeks]
    return {
        "id": "weeks",
        "title": "KPIs across the weeks",
        "config": {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    {"label": name, "data": [w[key] for w in weeks], "borderColor": PALETTE[i], "yAxisID": "y"}
                    for i, (key, name) in enumerate([("v2c", "V2C"), ("c2c", "C2C"), ("c2p", "C2P")])
                ]
                + [
                    {
                        "label": _revenue_label(currency),
                        "data": [_major(w["revenue_minor"], currency) for w in weeks],
                        "type": "bar",
                        "backgroundColor": "rgba(58,158,95,.35)",
                        "yAxisID": "revenue",
                    }
                ],
            },
            "options": {"scales": {"revenue": {"position": "right", "grid": {"drawOnChartArea": False}}}},
            "percentAxis": "y",
        },
    }


def _cards(kpis: dict) -> list[tuple[str, str]]:
    cur = kpis["currency"]
    cards = [
        ("Viewers", f"{kpis['visitors']['view']:,}"),
        ("V2C", _pct(kpis["v2c"])),
        ("C2C", _pct(kpis["c2c"])),
        ("C2P", _pct(kpis["c2p"])),
        ("Revenue", _money(kpis["revenue_minor"], cur)),
        ("AOV", _money(kpis["aov_minor"], cur)),
    ]
    acq = kpis.get("acquisition")
    if acq:
        cards += [
            ("New customers", f"{acq['customers']:,}"),
            ("Repeat 30 d", _pct(acq["repeat_30d"])),
            ("LTV 60 d", _money(acq["ltv_60d_minor"], cur)),
        ]
    return cards


COST_PARTS = [("storage", "Storage"), ("delivery", "Delivery"), ("retrieval", "Retrieval"), ("requests", "Requests")]
WHAT_IF_COLUMNS = [
    ("scenario", "Scenario", "text"),
    ("total_minor", "Asset cost", "money"),
    ("vs_actual_minor", "Difference vs as stored", "money"),
]
WHAT_IF_SCENARIOS = [
    ("actual", "As stored (tiers, dedup, edge hot set)"),
    ("no_tiers", "Without tiers (everything in the fast tier)"),
    ("no_dedup", "Without dedup (every reference stored)"),
    ("no_tiers_no_dedup", "Without tiers and without dedup"),
    ("no_hot_set", "Without the edge hot set (every byte read from the origin)"),
]


def _costs_chart(kpis: dict) -> dict:
    """Revenue next to what the session cost (sample, storage, delivery, other asset costs)."""
    ccur = kpis["cost_currency"]
    asset = kpis["asset_cost"] or {}
    bars = [
        ("Revenue", kpis["revenue_minor"] if kpis["currency"] in ("", ccur) else 0),
        ("Sample cost", kpis["sample_cost_minor"]),
        ("Storage", asset.get("storage_minor", 0)),
        ("Delivery", asset.get("delivery_minor", 0)),
        ("Retrieval + requests", asset.get("retrieval_minor", 0) + asset.get("requests_minor", 0)),
    ]
    return {
        "id": "costs",
        "title": f"Revenue and costs ({ccur})",
        "config": {
            "type": "bar",
            "data": {
                "labels": [label for label, _ in bars],
                "datasets": [
                    {
                        "label": ccur,
                        "data": [_major(v, ccur) for _, v in bars],
                        "backgroundColor": [PALETTE[2], PALETTE[1], PALETTE[0], PALETTE[3], PALETTE[4]],
                    }
                ],
            },
            "options": {"plugins": {"legend": {"display": False}}},
        },
    }


def _costs_table(kpis: dict) -> dict:
    """Asset cost per tier and part (minor units of the cost currency)."""
    asset = kpis["asset_cost"]
    rows = []
    if asset:
        for tier, parts in asset["by_tier"].items():
            rows.append({"tier": tier, **parts, "currency": asset["currency"]})
        rows.append({"tier": "total", **{f"{p}_minor": asset[f"{p}_minor"] for p, _ in COST_PARTS},
                     "total_minor": asset["total_minor"], "currency": asset["currency"]})
    return {
        "key": "asset_costs",
        "title": "Asset cost by tier",
        "columns": [("tier", "Tier", "text")]
        + [(f"{p}_minor", label, "money") for p, label in COST_PARTS]
        + [("total_minor", "Total", "money")],
        "rows": rows,
    }


def _what_if_table(session_ids: list[int], *, title: str) -> dict:
    """Cost with and without tiers, dedup and the edge hot set, summed over `session_ids`
    (in the price table's currency; docs/asset-costs.md "What-if")."""
    from sessions_app.assets.costs import CostError, session_asset_what_if

    totals: dict[str, int] = dict.fromkeys((k for k, _ in WHAT_IF_SCENARIOS), 0)
    currency = ""
    for sid in session_ids:
        try:
            w = session_asset_what_if(session_id=sid)
        except CostError:
            continue
        currency = w["currency"]
        for key in totals:
            totals[key] += w[key]
    rows = [
        {
            "scenario": label,
            "total_minor": totals[key],
            "vs_actual_minor": totals[key] - totals["actual"],
            "currency": currency,
        }
        for key, label in WHAT_IF_SCENARIOS
    ]
    return {"key": "what_if", "title": title, "columns": WHAT_IF_COLUMNS, "rows": rows if currency else []}


class DashboardAdmin(admin.ModelAdmin):
    """'Analytics dashboards' in the admin menu; its changelist is the dashboard index."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return has_staff_perms(request.user, [VIEW_DASHBOARDS])

    def has_module_permission(self, request):
        return has_staff_perms(request.user, [VIEW_DASHBOARDS])

    @dashboard_view
    def changelist_view(self, request, extra_context=None):
        return redirect("admin:analytics_dashboards")

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboards/", wrap(self.index_view), name="analytics_dashboards"),
            path("session/<id:session_id>/", wrap(self.session_view), name="analytics_session"),
            path("series/<id:series_id>/", wrap(self.series_view), name="analytics_series"),
            path("format/<id:format_id>/", wrap(self.format_view), name="analytics_format"),
            path("cohorts/", wrap(self.cohorts_view), name="analytics_cohorts"),
            path("retention/", wrap(self.retention_view), name="analytics_retention"),
            path("experiment/<id:experiment_id>/", wrap(self.experiment_view), name="analytics_experiment"),
            *super().get_urls(),
        ]

    # --- rendering ---------------------------------------------------------------------------

    def _render(self, request, context: dict):
        wanted = request.GET.get("csv")
        if wanted:
            if not has_staff_perms(request.user, [EXPORT_DASHBOARDS]):
                raise PermissionDenied
            table = next((t for t in context.get("tables", []) if t["key"] == wanted), None)
            if table is None:
                raise Http404
            return _csv(table, filename=f"{context['kind']}-{wanted}.csv")
        for chart in context.get("charts", []):
            chart["json_id"] = f"chart-{chart['id']}"
        query = "&".join(f"{k}={v}" for k, v in request.GET.items() if k != "csv")
        context = {
            **self.admin_site.each_context(request),
            "query_prefix": f"{query}&" if query else "",
            **context,
        }
        return TemplateResponse(request, "analytics/dashboard.html", context)

    @dashboard_view
    def index_view(self, request):
        sessions = LiveSession.objects.select_related("format", "series").order_by("-starts_at")[:100]
        rollups = {
            r.session_id: r for r in FunnelRollup.objects.filter(session_id__in=[s.pk for s in sessions], drop_id=0)
        }
        rows = []
        for session in sessions:
            r = rollups.get(session.pk)
            kpis = selectors._funnel_dict(
                *selectors._rollup_counts(r)[:1],
                orders=r.orders if r else 0,
                revenue_minor=r.revenue_minor if r else 0,
                currency=r.currency if r else "",
            )
            rows.append(
                {
                    "session": (str(session), reverse("admin:analytics_session", args=[session.pk])),
                    "format": session.format.name,
                    "series": session.series.name if session.series else "",
                    "status": session.status,
                    **_flat(kpis),
                }
            )
        links = [
            (f"Series: {s.name}", reverse("admin:analytics_series", args=[s.pk])) for s in Series.objects.all()
        ] + [(f"Format: {f.name}", reverse("admin:analytics_format", args=[f.pk])) for f in SessionFormat.objects.all()]
        links += [("Cohorts", reverse("admin:analytics_cohorts"))]
        links += [("Retention (memberships, trials, share-to-unlock)", reverse("admin:analytics_retention"))]
        links += [
            (f"Experiment: {e.name}", reverse("admin:analytics_experiment", args=[e.pk]))
            for e in Experiment.objects.all()
        ]
        return self._render(
            request,
            {
                "title": "Analytics dashboards",
                "kind": "index",
                "links": links,
                "tables": [
                    {
                        "key": "sessions",
                        "title": "Sessions (latest 100)",
                        "columns": [
                            ("session", "Session", "link"),
                            ("format", "Format", "text"),
                            ("series", "Series", "text"),
                            ("status", "Status", "text"),
                            *FUNNEL_COLUMNS,
                        ],
                        "rows": rows,
                    },
                    _what_if_table(
                        [s.pk for s in sessions], title="What if: asset cost of these sessions (overall)"
                    ),
                ],
            },
        )

    @dashboard_view
    def session_view(self, request, session_id: int):
        try:
            kpis = selectors.session_kpis(session_id=session_id)
        except LiveSession.DoesNotExist as exc:
            raise Http404 from exc
        cur = kpis["currency"]
        ccur = kpis["cost_currency"]
        cards = _cards(kpis) + [
            ("Storage cost", _money(kpis["storage_cost_minor"], ccur)),
            ("Delivery cost", _money(kpis["delivery_cost_minor"], ccur)),
            ("Asset cost", _money(kpis["asset_cost_minor"], ccur)),
            ("Sample cost", _money(kpis["sample_cost_minor"], ccur)),
            ("Minutes on air", f"{kpis['minutes']:g}"),
            ("ROI / minute", _money(kpis["roi_per_minute_minor"], cur or ccur)),
        ]
        if kpis["cost_adjustment_minor"]:
            cards.append(("Manual cost adjustment", _money(kpis["cost_adjustment_minor"], ccur)))
        names = {
            d.pk: str(d)
            for d in Drop.objects.select_related("sku__product").filter(pk__in=[d["drop_id"] for d in kpis["drops"]])
        }
        drops = [{**_flat(d), "drop": names.get(d["drop_id"], f"Drop {d['drop_id']}")} for d in kpis["drops"]]
        return self._render(
            request,
            {
                "title": f"Session: {kpis['title']}",
                "kind": "session",
                "cards": cards,
                "note": "Distinct visitors per step; a step counts only after the previous one within the session's "
                "attribution window (docs/metrics.md). ROI per minute = (revenue − sample cost − asset cost − manual "
                "adjustment) ÷ minutes; asset cost from the cost ledger (docs/asset-costs.md). "
                + " ".join(kpis["cost_notes"]),
                "charts": [_funnel_chart(kpis), _costs_chart(kpis)],
                "tables": [
                    {"key": "funnel", "title": "Funnel", "columns": FUNNEL_COLUMNS, "rows": [_flat(kpis)]},
                    {
                        "key": "drops",
                        "title": "Per drop",
                        "columns": [("drop", "Drop", "text"), *FUNNEL_COLUMNS],
                        "rows": drops,
                    },
                    _costs_table(kpis),
                    _what_if_table([session_id], title="What if: this session's asset cost"),
                ],
            },
        )

    def _group_view(self, request, data: dict, kind: str, title: str):
        total = data["total"]
        weeks = [_flat(w) for w in data["weeks"]]
        return self._render(
            request,
            {
                "title": title,
                "kind": kind,
                "cards": [("Sessions", str(total["sessions"])), *_cards(total)],
                "note": "Weekly figures are sums over the week's sessions (a visitor of two sessions counts twice).",
                "charts": [
                    _weeks_chart(data["weeks"], total.get("currency") or ""),
                    _funnel_chart(total, "Funnel over all sessions"),
                ],
                "tables": [
                    {
                        "key": "weeks",
                        "title": "Per week",
                        "columns": [
                            ("week", "Week (Monday)", "text"),
                            ("sessions", "Sessions", "int"),
                            *FUNNEL_COLUMNS,
                        ],
                        "rows": weeks,
                    }
                ],
            },
        )

    @dashboard_view
    def series_view(self, request, series_id: int):
        try:
            data = selectors.series_kpis(series_id=series_id)
        except Series.DoesNotExist as exc:
            raise Http404 from exc
        return self._group_view(request, data, "series", f"Series: {data['name']}")

    @dashboard_view
    def format_view(self, request, format_id: int):
        try:
            data = selectors.format_kpis(format_id=format_id)
        except SessionFormat.DoesNotExist as exc:
            raise Http404 from exc
        return self._group_view(request, data, "format", f"Format: {data['name']}")

    @dashboard_view
    def cohorts_view(self, request):
        sources = list(CustomerStats.objects.order_by("source").values_list("source", flat=True).distinct())
        source = request.GET.get("source") or ("live" if "live" in sources else (sources[0] if sources else "live"))
        if source not in sources and sources:
            raise Http404
        period = "month" if request.GET.get("period") == "month" else "week"
        weeks = 12
        heat = selectors.cohort_retention(source=source, weeks=weeks)
        heat_rows = [
            {"cohort": r["cohort"], "customers": r["customers"], **{f"w{k}": v for k, v in enumerate(r["cells"])}}
            for r in heat["rows"]
        ]
        rate = selectors.repeat_rate(source=source, days=30)
        table = selectors.cohort_table(source=source, period=period)
        return self._render(
            request,
            {
                "title": f"Cohorts ({source})",
                "kind": "cohorts",
                "links": [(f"Source: {s}", f"?source={s}&period={period}") for s in sources]
                + [
                    (
                        "By month" if period == "week" else "By week",
                        f"?source={source}&period={'month' if period == 'week' else 'week'}",
                    )
                ],
                "cards": [
                    ("Customers", f"{rate['customers']:,}"),
                    ("Repeat purchase rate 30 d", _pct(rate["rate"])),
                ],
                "note": "Cohort = customers by first purchase week (Monday). Repeat within k days = a purchase on a later "
                "day, at most k days after the first. Heat map: share of the cohort buying in week k after their first purchase.",
                "charts": [
                    {
                        "id": "cohorts",
                        "title": "Repeat rates by cohort",
                        "config": {
                            "type": "bar",
                            "data": {
                                "labels": [r["cohort"] for r in table],
                                "datasets": [
                                    {
                                        "label": f"Repeat {k} d",
                                        "data": [r[f"repeat_{k}d_rate"] for r in table],
                                        "backgroundColor": PALETTE[i],
                                    }
                                    for i, k in enumerate((7, 14, 30))
                                ],
                            },
                            "percentAxis": "y",
                        },
                    }
                ],
                "tables": [
                    {
                        "key": "heatmap",
                        "title": "Cohort heat map (share buying in week k)",
                        "columns": [("cohort", "Cohort", "text"), ("customers", "Customers", "int")]
                        + [(f"w{k}", f"W{k}", "heat") for k in range(weeks)],
                        "rows": heat_rows,
                        "heat": True,
                    },
                    {
                        "key": "cohorts",
                        "title": f"Cohort table (by {period})",
                        "columns": [*COHORT_COLUMNS[:2], ("currency", "Currency", "text"), *COHORT_COLUMNS[2:]],
                        "rows": table,
                    },
                ],
            },
        )

    @dashboard_view
    def retention_view(self, request):
        """Members' vs non-members' 60-day LTV, weekly churn, trial-to-keep, share-to-unlock (metrics.md §7)."""
        from django.utils import timezone

        from .admin_retention import retention_context

        return self._render(request, retention_context(now=timezone.now()))

    @dashboard_view
    def experiment_view(self, request, experiment_id: int):
        try:
            result = experiment_result(experiment_id=experiment_id)
        except Experiment.DoesNotExist as exc:
            raise Http404 from exc
        cur = result["experiment"]["currency"]
        rows = []
        for metric, label, kind in (("c2p", "C2P", "ratio"), ("revenue_per_viewer", "Revenue per viewer", "money")):
            r = result[metric]
            a = r["a"]["rate"] if metric == "c2p" else r["a"]["mean"]
            b = r["b"]["rate"] if metric == "c2p" else r["b"]["mean"]
            fmt = _pct if kind == "ratio" else (lambda v: "–" if v is None else format_money(round(v), cur))
            ci = r["ci"] or [None, None]
            rows.append(
                {
                    "metric": label,
                    "a": fmt(a),
                    "b": fmt(b),
                    "effect": fmt(r["effect"])
                    if kind == "money"
                    else ("–" if r["effect"] is None else f"{r['effect'] * 100:+.1f} pts"),
                    "ci": "–"
                    if ci[0] is None
                    else f"[{fmt(ci[0]) if kind == 'money' else f'{ci[0] * 100:+.1f}'} … {fmt(ci[1]) if kind == 'money' else f'{ci[1] * 100:+.1f} pts'}]",
                    "p_value": "–" if r["p_value"] is None else f"{r['p_value']:.4f}",
                    "n": f"{r['a'].get('trials', r['a'].get('n'))} / {r['b'].get('trials', r['b'].get('n'))}",
                    "required": "–" if r["required_per_arm"] is None else str(r["required_per_arm"]),
                    "enough": "yes" if r["enough"] else "not yet",
                }
            )
        arms = result["arms"]
        return self._render(
            request,
            {
                "title": f"Experiment: {result['experiment']['name']}",
                "kind": "experiment",
                "note": "B vs A. C2P: two-proportion z-test, Newcombe 95 % interval; revenue per viewer: Welch t-test and "
                "interval. 'Enough' = both arms have the sample needed for 80 % power at α = 0.05 (docs/metrics.md §5).",
                "charts": [
                    {
                        "id": "arms",
                        "title": "C2P and V2C per arm",
                        "config": {
                            "type": "bar",
                            "data": {
                                "labels": ["V2C", "C2C", "C2P"],
                                "datasets": [
                                    {
                                        "label": f"Arm {arm}",
                                        "data": [arms[arm]["v2c"], arms[arm]["c2c"], arms[arm]["c2p"]],
                                        "backgroundColor": PALETTE[i],
                                    }
                                    for i, arm in enumerate(("A", "B"))
                                ],
                            },
                            "percentAxis": "y",
                        },
                    }
                ],
                "tables": [
                    {
                        "key": "results",
                        "title": "Results",
                        "columns": [
                            ("metric", "Metric", "text"),
                            ("a", "A", "text"),
                            ("b", "B", "text"),
                            ("effect", "Effect (B − A)", "text"),
                            ("ci", "95 % CI", "text"),
                            ("p_value", "p", "text"),
                            ("n", "n (A / B)", "text"),
                            ("required", "Needed per arm", "text"),
                            ("enough", "Large enough", "text"),
                        ],
                        "rows": rows,
                    },
                    {
                        "key": "arms",
                        "title": "Arms",
                        "columns": [("arm", "Arm", "text"), ("sessions", "Sessions", "int"), *FUNNEL_COLUMNS],
                        "rows": [{"arm": arm, **_flat(arms[arm])} for arm in ("A", "B")],
                    },
                ],
            },
        )


def _csv(table: dict, *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    keys = [key for key, _label, _kind in table["columns"]]
    has_money = any(kind == "money" for *_x, kind in table["columns"])
    writer.writerow(keys + (["currency"] if has_money and "currency" not in keys else []))
    for row in table["rows"]:
        values = []
        for key, _label, kind in table["columns"]:
            value = row.get(key)
            values.append(value[0] if kind == "link" and value else ("" if value is None else value))
        if has_money and "currency" not in keys:
            values.append(row.get("currency", ""))
        writer.writerow(values)
    return response


class SessionKpis(FunnelRollup):
    class Meta:
        proxy = True
        verbose_name = "analytics dashboard"
        verbose_name_plural = "analytics dashboards"
        permissions = [
            ("view_dashboards", "Can view the analytics dashboards"),
            ("export_dashboards", "Can download dashboard tables as CSV"),
        ]


admin.site.register(SessionKpis, DashboardAdmin)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Raw events, read only (the source every rollup is rebuilt from)."""

    list_display = [
        "seq",
        "name",
        "occurred_at",
        "actor",
        "session_id",
        "drop_id",
        "order_id",
        "amount_minor",
        "currency",
    ]
    list_filter = ["name"]
    search_fields = ["=actor", "=visitor_id", "=session_id"]
    show_full_result_count = False
    ordering = ["-seq"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CustomerStats)
class CustomerStatsAdmin(admin.ModelAdmin):
    list_display = ["customer_key", "source", "first_day", "purchases", "repeat_30d", "ltv", "first_session_id"]
    list_filter = ["source", "repeat_30d"]
    search_fields = ["=customer_key"]
    show_full_result_count = False

    @admin.display(description="LTV 60 d", ordering="ltv_60d_minor")
    def ltv(self, obj):
        return format_money(obj.ltv_60d_minor, obj.currency)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SessionCost)
class SessionCostAdmin(MoneyAdminMixin, admin.ModelAdmin):
    """Manual cost ADJUSTMENTS only: ROI per minute computes sample cost (units shipped × unit cost)
    and asset cost (the cost ledger) itself and adds these amounts on top (docs/metrics.md §2)."""

    list_display = ["session_id", "sample_cost", "asset_cost"]
    money_fields = {"sample_cost_minor": "currency", "asset_cost_minor": "currency"}
    sample_cost = money_column("sample_cost_minor", description="Manual sample cost adjustment")
    asset_cost = money_column("asset_cost_minor", description="Manual asset cost adjustment")
    TITLE = "Manual cost adjustments (added on top of the computed sample and asset costs)"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "title": self.TITLE})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, {**(extra_context or {}), "title": self.TITLE})


class ExperimentSessionInline(admin.TabularInline):
    model = ExperimentSession
    extra = 1
    autocomplete_fields = ["session"]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "format_a", "format_b", "results"]
    inlines = [ExperimentSessionInline]

    @admin.display(description="Results")
    def results(self, obj):
        return format_html('<a href="{}">Open</a>', reverse("admin:analytics_experiment", args=[obj.pk]))
