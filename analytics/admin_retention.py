"""The retention dashboard (issue #14): 60-day LTV of members vs non-members, weekly churn, trial-to-keep
and share-to-unlock conversion, drawn from analytics.selectors_retention (definitions: docs/metrics.md §7).
`retention_context` shapes the selector output for templates/analytics/dashboard.html (cards, Chart.js
configs, CSV-downloadable tables); the admin view in analytics/admin.py only renders it."""

from __future__ import annotations

import datetime as dt

from commerce.money import format_money

from . import selectors_retention as retention

PALETTE = ["#2071b5", "#e07b39", "#3a9e5f", "#a13d63", "#7c6bb0"]


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _money(value, currency) -> str:
    return "–" if value is None else format_money(value, currency)


def _major(amount_minor: int | None, currency: str) -> float | None:
    from commerce.money import MoneyError, to_major

    if amount_minor is None:
        return None
    try:
        return float(to_major(amount_minor, currency))
    except MoneyError:
        return amount_minor


def retention_context(*, now: dt.datetime) -> dict:
    """Cards, charts and tables of the retention dashboard at `now` (see the module doc)."""
    data = retention.retention_summary(now=now)
    ltv, churn, trials, share = data["ltv_60d"], data["weekly_churn"], data["trial_to_keep"], data["share"]
    cards: list[tuple[str, str]] = []
    ltv_rows = []
    for cur, groups in ltv["currencies"].items():
        m, n = groups["members"], groups["non_members"]
        cards += [
            (f"LTV 60 d, members ({cur})", _money(m["ltv_avg_minor"], cur)),
            (f"LTV 60 d, non-members ({cur})", _money(n["ltv_avg_minor"], cur)),
        ]
        for key, label in (("members", "Members"), ("non_members", "Non-members")):
            g = groups[key]
            ltv_rows.append(
                {
                    "group": label,
                    "currency": cur,
                    "customers": g["customers"],
                    "ltv_total_minor": g["ltv_total_minor"],
                    "ltv_avg_minor": g["ltv_avg_minor"],
                    "maturing": groups["maturing"],
                }
            )
    last = churn[-2] if len(churn) >= 2 else (churn[-1] if churn else None)  # the last complete week
    cards += [
        ("Weekly churn (last full week)", _pct(last["churn"]) if last else "–"),
        ("Trial-to-keep", _pct(trials["rate"])),
        ("Share → unlock", _pct(share["unlock_rate"])),
        ("Unlock → purchase", _pct(share["purchase_rate"])),
    ]
    currencies = list(ltv["currencies"])
    charts = [
        {
            "id": "ltv",
            "title": "60-day LTV per customer: members vs non-members",
            "config": {
                "type": "bar",
                "data": {
                    "labels": currencies,
                    "datasets": [
                        {
                            "label": label,
                            "data": [_major(ltv["currencies"][c][key]["ltv_avg_minor"], c) for c in currencies],
                            "backgroundColor": PALETTE[i],
                        }
                        for i, (key, label) in enumerate((("members", "Members"), ("non_members", "Non-members")))
                    ],
                },
            },
        },
        {
            "id": "churn",
            "title": "Weekly churn of memberships",
            "config": {
                "type": "line",
                "data": {
                    "labels": [str(r["week"]) for r in churn],
                    "datasets": [
                        {
                            "label": "Churn",
                            "data": [r["churn"] for r in churn],
                            "borderColor": PALETTE[3],
                            "yAxisID": "y",
                        },
                        {
                            "label": "Active at week start",
                            "data": [r["active_at_start"] for r in churn],
                            "type": "bar",
                            "backgroundColor": "rgba(32,113,181,.3)",
                            "yAxisID": "members",
                        },
                    ],
                },
                "options": {"scales": {"members": {"position": "right", "grid": {"drawOnChartArea": False}}}},
                "percentAxis": "y",
            },
        },
        {
            "id": "trials",
            "title": "Trials past their window: kept vs returned",
            "config": {
                "type": "doughnut",
                "data": {
                    "labels": ["Kept", "Returned"],
                    "datasets": [
                        {"data": [trials["kept"], trials["returned"]], "backgroundColor": [PALETTE[2], PALETTE[1]]}
                    ],
                },
            },
        },
        {
            "id": "share",
            "title": "Share-to-unlock funnel per campaign: share → visit → unlock → purchase",
            "config": {
                "type": "bar",
                "data": {
                    "labels": [c["campaign"] for c in share["campaigns"]] or ["No campaigns yet"],
                    "datasets": [
                        {
                            "label": label,
                            "data": [c[key] for c in share["campaigns"]] or [0],
                            "backgroundColor": PALETTE[i],
                        }
                        for i, (key, label) in enumerate(
                            (
                                ("links", "Links shared"),
                                ("visits", "Counted visits"),
                                ("unlocks", "Unlocks"),
                                ("purchases", "Purchases"),
                            )
                        )
                    ],
                },
            },
        },
    ]
    tables = [
        {
            "key": "ltv",
            "title": "60-day LTV, members vs non-members",
            "columns": [
                ("group", "Group", "text"),
                ("currency", "Currency", "text"),
                ("customers", "Customers (window complete)", "int"),
                ("ltv_total_minor", "Net revenue in 60 d", "money"),
                ("ltv_avg_minor", "LTV 60 d / customer", "money"),
                ("maturing", "Still inside their 60 d (not counted)", "int"),
            ],
            "rows": ltv_rows,
        },
        {
            "key": "churn",
            "title": "Weekly churn (weeks start Monday 00:00 UTC)",
            "columns": [
                ("week", "Week", "text"),
                ("active_at_start", "Active at week start", "int"),
                ("churned", "Ended during the week", "int"),
                ("churn", "Churn", "ratio"),
            ],
            "rows": churn,
        },
        {
            "key": "trials",
            "title": "Trial-to-keep",
            "columns": [
                ("past_window", "Trial lines past their window", "int"),
                ("kept", "Kept", "int"),
                ("returned", "Returned (received)", "int"),
                ("rate", "Trial-to-keep", "ratio"),
                ("in_window", "Still inside their window", "int"),
            ],
            "rows": [trials],
        },
        {
            "key": "share",
            "title": "Share-to-unlock campaigns",
            "columns": [
                ("campaign", "Campaign", "text"),
                ("links", "Links shared", "int"),
                ("visits", "Counted visits", "int"),
                ("unlocks", "Unlocks", "int"),
                ("purchases", "Purchases", "int"),
                ("unlock_rate", "Unlocks / links", "ratio"),
                ("purchase_rate", "Purchases / unlocks", "ratio"),
            ],
            "rows": share["campaigns"],
        },
    ]
    return {
        "title": "Retention: memberships, trials, share-to-unlock",
        "kind": "retention",
        "note": "Definitions in docs/metrics.md §7. LTV 60 d = net revenue (paid − refunded) in the 60 days after a "
        "customer's first paid order, for customers whose 60 days are over; members = a membership granted access "
        "at some time in those 60 days. Churn = memberships active at week start that ended during the week ÷ "
        "active at week start. Trial-to-keep = trial lines past their window without a received return ÷ trial "
        "lines past their window. Share: unlocks ÷ links shared; purchases with an unlock's code ÷ unlocks.",
        "cards": cards,
        "charts": charts,
        "tables": tables,
    }
