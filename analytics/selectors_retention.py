"""Retention metrics of issue #14: 60-day LTV of members vs non-members, weekly membership churn,
trial-to-keep rate, share-to-unlock conversion. Each is defined once, in docs/metrics.md §7; this module
computes them straight from the commerce tables (orders, refunds, memberships, trial returns, share
unlocks), so the figures are exact at the moment they are read.

Money: integer minor units per ISO 4217 currency (never summed across currencies). Time: aware UTC;
weeks are ISO weeks starting Monday 00:00 UTC. Ratios: floats 0..1, or None when the denominator is 0.
Averages of minor units round half up to an integer (commerce.money's rule for per-line discounts).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, Sum

from commerce.memberships.models import Membership, TrialReturn
from commerce.models import Order, OrderLine, Refund
from commerce.referrals.selectors import share_campaigns_funnel

LTV_DAYS = 60
GRANTING_STATUSES = (Membership.Status.ACTIVE, Membership.Status.PAST_DUE, Membership.Status.ENDED)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _avg_half_up(total: int, count: int) -> int | None:
    """total / count rounded half up (away from zero for halves), integer minor units; None for count 0."""
    if not count:
        return None
    q, r = divmod(abs(total) * 2 + count, 2 * count)
    return q if total >= 0 else -q


def _paid_orders():
    """Orders that were paid (paid_at set): paid, later refunded, or even cancelled after payment."""
    return Order.objects.filter(paid_at__isnull=False)


def memberships_granting_during(*, start: dt.datetime, end: dt.datetime):
    """Memberships that granted access at some instant of [start, end): started (started_at set, so not a
    checkout that never completed) before `end` and not ended at or before `start`. metrics.md §7.1."""
    return Membership.objects.filter(status__in=GRANTING_STATUSES, started_at__isnull=False, started_at__lt=end).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start)
    )


def ltv_60d_members(*, now: dt.datetime, start: dt.datetime | None = None, end: dt.datetime | None = None) -> dict:
    """60-day LTV of members against non-members, per currency (docs/metrics.md §7.1).

    Population: customers whose FIRST paid order (earliest paid_at) is in [start, end) (default: all time)
    and whose 60-day window [first paid_at, + 60 days) has ended by `now` (younger customers are counted in
    `maturing` only). Currency: the first paid order's; orders in other currencies are left out.
    Member: a membership of the customer granted access at any instant of that 60-day window.
    LTV: Σ total_minor of the customer's paid orders in that currency with paid_at in the window, minus
    Σ amount_minor of succeeded refunds on those orders settled (settled_at, else created_at) in the window.

    Returns {"currencies": {cur: {"members": {"customers", "ltv_total_minor", "ltv_avg_minor"},
    "non_members": {...}, "maturing": int}}, "window_days": 60}.
    """
    window = dt.timedelta(days=LTV_DAYS)
    orders = _paid_orders().order_by("customer_id", "paid_at", "pk").values_list("customer_id", "paid_at", "currency")
    first: dict[int, tuple[dt.datetime, str]] = {}
    for customer_id, paid_at, currency in orders:
        first.setdefault(customer_id, (paid_at, currency))
    out: dict[str, dict] = {}

    def bucket(currency: str) -> dict:
        return out.setdefault(
            currency,
            {
                "members": {"customers": 0, "ltv_total_minor": 0, "ltv_avg_minor": None},
                "non_members": {"customers": 0, "ltv_total_minor": 0, "ltv_avg_minor": None},
                "maturing": 0,
            },
        )

    for customer_id, (first_at, currency) in first.items():
        if (start is not None and first_at < start) or (end is not None and first_at >= end):
            continue
        w_end = first_at + window
        if w_end > now:
            bucket(currency)["maturing"] += 1
            continue
        in_window = _paid_orders().filter(
            customer_id=customer_id, currency=currency, paid_at__gte=first_at, paid_at__lt=w_end
        )
        gross = in_window.aggregate(s=Sum("total_minor"))["s"] or 0
        refunded = (
            Refund.objects.filter(order__in=in_window, status=Refund.Status.SUCCEEDED)
            .filter(
                Q(settled_at__isnull=False, settled_at__gte=first_at, settled_at__lt=w_end)
                | Q(settled_at__isnull=True, created_at__gte=first_at, created_at__lt=w_end)
            )
            .aggregate(s=Sum("amount_minor"))["s"]
            or 0
        )
        member = memberships_granting_during(start=first_at, end=w_end).filter(customer_id=customer_id).exists()
        group = bucket(currency)["members" if member else "non_members"]
        group["customers"] += 1
        group["ltv_total_minor"] += gross - refunded
    for data in out.values():
        for key in ("members", "non_members"):
            g = data[key]
            g["ltv_avg_minor"] = _avg_half_up(g["ltv_total_minor"], g["customers"])
    return {"currencies": dict(sorted(out.items())), "window_days": LTV_DAYS}


def week_start_utc(moment: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of the ISO week containing `moment`."""
    utc = moment.astimezone(dt.UTC)
    monday = utc.date() - dt.timedelta(days=utc.weekday())
    return dt.datetime.combine(monday, dt.time.min, tzinfo=dt.UTC)


def weekly_churn(*, now: dt.datetime, weeks: int = 8) -> list[dict]:
    """Weekly membership churn for the last `weeks` complete-or-current ISO weeks, oldest first
    (docs/metrics.md §7.2): active at week start = memberships that had started (started_at ≤ week start,
    status not `incomplete`) and had not ended (ended_at empty or after the week start); churned = those of
    them whose ended_at falls in [week start, week start + 7 days). churn = churned / active.

    Rows: {"week": date (Monday, UTC), "active_at_start": int, "churned": int, "churn": float | None}.
    """
    current = week_start_utc(now)
    rows = []
    for back in range(weeks - 1, -1, -1):
        ws = current - dt.timedelta(weeks=back)
        active = Membership.objects.filter(
            status__in=GRANTING_STATUSES, started_at__isnull=False, started_at__lte=ws
        ).filter(Q(ended_at__isnull=True) | Q(ended_at__gt=ws))
        n_active = active.count()
        churned = active.filter(ended_at__isnull=False, ended_at__lt=ws + dt.timedelta(weeks=1)).count()
        rows.append(
            {"week": ws.date(), "active_at_start": n_active, "churned": churned, "churn": _ratio(churned, n_active)}
        )
    return rows


def trial_to_keep(*, now: dt.datetime) -> dict:
    """Trial-to-keep rate (docs/metrics.md §7.3): among trial lines (OrderLine.trial_days > 0 on a paid
    order) whose window has ended — paid_at + trial_days days ≤ now — the share without a received return
    (TrialReturn status `received`). A return still `requested` or withdrawn does not un-keep a line.

    Returns {"past_window": int, "kept": int, "returned": int, "in_window": int, "rate": float | None}.
    """
    lines = OrderLine.objects.filter(trial_days__gt=0, order__paid_at__isnull=False).values_list(
        "pk", "trial_days", "order__paid_at"
    )
    past, in_window = [], 0
    for pk, days, paid_at in lines:
        if paid_at + dt.timedelta(days=days) <= now:
            past.append(pk)
        else:
            in_window += 1
    returned = TrialReturn.objects.filter(order_line_id__in=past, status=TrialReturn.Status.RECEIVED).count()
    kept = len(past) - returned
    return {
        "past_window": len(past),
        "kept": kept,
        "returned": returned,
        "in_window": in_window,
        "rate": _ratio(kept, len(past)),
    }


def share_conversion() -> dict:
    """Share-to-unlock conversion over all campaigns (docs/metrics.md §7.4): unlock rate = unlocks / links
    shared; purchase rate = orders paid with an unlock's coupon / unlocks. Plus the per-campaign funnel
    share → visit → unlock → purchase (commerce.referrals.selectors.share_campaigns_funnel).

    Returns {"links", "visits", "unlocks", "purchases", "unlock_rate", "purchase_rate", "campaigns": [...]}.
    """
    campaigns = share_campaigns_funnel()
    totals = {k: sum(c[k] for c in campaigns) for k in ("links", "visits", "unlocks", "purchases")}
    return {
        **totals,
        "unlock_rate": _ratio(totals["unlocks"], totals["links"]),
        "purchase_rate": _ratio(totals["purchases"], totals["unlocks"]),
        "campaigns": campaigns,
    }


def retention_summary(*, now: dt.datetime, weeks: int = 8) -> dict:
    """All four retention metrics at `now` (the dashboard's and the API's payload)."""
    return {
        "as_of": now,
        "ltv_60d": ltv_60d_members(now=now),
        "weekly_churn": weekly_churn(now=now, weeks=weeks),
        "trial_to_keep": trial_to_keep(now=now),
        "share": share_conversion(),
    }
