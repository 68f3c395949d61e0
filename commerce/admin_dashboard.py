"""The back office's landing page (the admin index): what a shop owner needs to see first.

Panels, each shown only to staff holding its permission (docs/back-office.md):

| panel | permission |
|---|---|
| live now (admin + viewer page links), next sessions (7 days) | `sessions_app.view_livesession` |
| revenue today / this week per currency, with a chart | `analytics.view_dashboards` |
| orders to fulfil (paid, units neither fulfilled nor refunded) | `commerce.fulfil_order` |
| samples to review (the vetting queue) | `sampling.review_samplerequest` |
| failed tasks (django-q2 failures, outbox dead letters and backlog) | `commerce.view_outboxmessage` |
| shipping warnings (open or upcoming drops that may ship in a currency with no active rate) | `commerce.change_drop` |

Revenue = paid orders (by `paid_at`) minus succeeded refunds (by `settled_at`), per ISO currency,
in minor units, per calendar day of the shop's zone (`SHOP_TIMEZONE`); the week starts on Monday.
Queries are bounded: a fixed number per panel whatever the number of rows (tests/commerce/test_backoffice.py).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from .admin_money import money_text
from .models import Drop, Order, OrderLine, Refund, ShippingRate
from .money import MoneyError, to_major
from .staff_access import has_staff_perms

PANEL_PERMISSIONS = {
    "sessions": ("sessions_app.view_livesession",),
    "revenue": ("analytics.view_dashboards",),
    "fulfil": ("commerce.view_order", "commerce.fulfil_order"),
    "samples": ("sampling.review_samplerequest",),
    "failures": ("commerce.view_outboxmessage",),
    "shipping": ("commerce.change_drop",),
}
LIST_LIMIT = 10


def shop_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.SHOP_TIMEZONE)


def revenue_by_day(*, start: dt.date, end: dt.date) -> dict[str, dict[dt.date, int]]:
    """Net revenue per currency per shop-zone day, for days start..end inclusive: {"EUR": {date: minor}}.

    Net = totals of orders paid that day (status paid or refunded) − refunds that succeeded that day.
    Two queries (an aggregate over orders, one over refunds). Days without money are absent.
    """
    tz = shop_zone()
    lo = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    out: dict[str, dict[dt.date, int]] = {}
    paid = (
        Order.objects.filter(status__in=[Order.Status.PAID, Order.Status.REFUNDED], paid_at__gte=lo, paid_at__lt=hi)
        .annotate(day=TruncDate("paid_at", tzinfo=tz))
        .values("currency", "day")
        .annotate(amount=Sum("total_minor"))
        .order_by()
    )
    for row in paid:
        days = out.setdefault(row["currency"], {})
        days[row["day"]] = days.get(row["day"], 0) + row["amount"]
    refunded = (
        Refund.objects.filter(status=Refund.Status.SUCCEEDED, settled_at__gte=lo, settled_at__lt=hi)
        .annotate(day=TruncDate("settled_at", tzinfo=tz))
        .values("currency", "day")
        .annotate(amount=Sum("amount_minor"))
        .order_by()
    )
    for row in refunded:
        days = out.setdefault(row["currency"], {})
        days[row["day"]] = days.get(row["day"], 0) - row["amount"]
    return out


def revenue_panel(*, now: dt.datetime) -> dict:
    """Today's and this week's net revenue per currency (minor units and text), and one chart per currency.

    Shape: {"today": date, "week_start": date, "rows": [{"currency", "today_minor", "week_minor",
    "today", "week"}], "charts": [{"id", "title", "config"}]}; chart values in major units.
    """
    today = timezone.localtime(now, shop_zone()).date()
    week_start = today - dt.timedelta(days=today.weekday())
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    by_currency = revenue_by_day(start=week_start, end=days[-1])
    rows, charts = [], []
    for currency in sorted(by_currency):
        per_day = by_currency[currency]
        today_minor = per_day.get(today, 0)
        week_minor = sum(v for d, v in per_day.items() if d <= today)
        rows.append(
            {
                "currency": currency,
                "today_minor": today_minor,
                "week_minor": week_minor,
                "today": money_text(today_minor, currency),
                "week": money_text(week_minor, currency),
            }
        )
        try:
            values = [float(to_major(per_day.get(d, 0), currency)) for d in days]
        except MoneyError:
            continue
        charts.append(
            {
                "id": f"revenue-{currency.lower()}",
                "json_id": f"chart-revenue-{currency.lower()}",
                "title": f"Net revenue this week ({currency})",
                "config": {
                    "type": "bar",
                    "data": {
                        "labels": [d.strftime("%a %d %b") for d in days],
                        "datasets": [
                            {"label": f"Net revenue ({currency})", "data": values, "backgroundColor": "#417690"}
                        ],
                    },
                    "options": {
                        "plugins": {"legend": {"display": False}},
                        "scales": {"y": {"title": {"display": True, "text": currency}, "beginAtZero": True}},
                    },
                },
            }
        )
    return {"today": today, "week_start": week_start, "rows": rows, "charts": charts}


def orders_to_fulfil():
    """Paid orders with at least one unit neither fulfilled nor refunded, oldest payment first (a queryset)."""
    open_line = OrderLine.objects.filter(
        order=OuterRef("pk"), quantity__gt=F("fulfilled_quantity") + F("refunded_quantity")
    )
    return Order.objects.filter(status=Order.Status.PAID).filter(Exists(open_line)).order_by("paid_at", "pk")


def fulfil_panel() -> dict:
    """{"count": int, "orders": [{"number", "total", "customer", "paid_at", "url"}] (oldest LIST_LIMIT), "list_url"}."""
    qs = orders_to_fulfil()
    orders = list(qs.select_related("customer")[:LIST_LIMIT])
    count = len(orders) if len(orders) < LIST_LIMIT else qs.count()
    return {
        "count": count,
        "orders": [
            {
                "number": o.number,
                "total": money_text(o.total_minor, o.currency),
                "customer": o.customer.email,
                "paid_at": o.paid_at,
                "url": reverse("admin:commerce_order_change", args=[o.pk]),
            }
            for o in orders
        ],
        "list_url": reverse("admin:commerce_order_changelist") + "?fulfilment=open",
    }


def sessions_panel(*, now: dt.datetime) -> dict:
    """{"live": [...], "late": [...], "next": [...]}: each {"title", "starts_at", "admin_url", "viewer_url"}.

    "late": scheduled sessions whose planned start has passed and that are not live yet (staff go
    live or cancel them); "next": scheduled sessions starting within 7 days.
    """
    from sessions_app.selectors import sessions_late, sessions_live, sessions_upcoming

    def row(s):
        return {
            "title": s.title,
            "starts_at": timezone.localtime(s.went_live_at or s.starts_at, s.tz),
            "admin_url": reverse("admin:sessions_app_livesession_change", args=[s.pk]),
            "viewer_url": s.get_absolute_url(),
        }

    live = [row(s) for s in sessions_live(now=now, include_private=True)[:LIST_LIMIT]]
    upcoming = [row(s) for s in sessions_upcoming(now=now, days=7, include_private=True)[:LIST_LIMIT]]
    late = [row(s) for s in sessions_late(now=now, include_private=True)[:LIST_LIMIT]]
    return {"live": live, "late": late, "next": upcoming}


def samples_panel() -> dict:
    """{"count": requests waiting in the vetting queue, "url": the review queue}."""
    from sampling.models import SampleRequest

    return {
        "count": SampleRequest.objects.filter(status=SampleRequest.Status.REVIEW).count(),
        "url": reverse("admin:sampling_reviewqueueitem_changelist"),
    }


def failures_panel(*, user, now: dt.datetime) -> dict:
    """{"task_failures": django-q2 Failure rows, "outbox_failed", "outbox_due", "oldest_due_seconds", links}."""
    from django_q.models import Failure

    from .services.outbox import outbox_backlog

    backlog = outbox_backlog(now=now)
    outbox_url = reverse("admin:commerce_outboxmessage_changelist")
    return {
        "task_failures": Failure.objects.aggregate(n=Count("pk"))["n"],
        "task_failures_url": reverse("admin:django_q_failure_changelist") if user.is_superuser else "",
        "outbox_failed": backlog["failed"],
        "outbox_due": backlog["due"],
        "oldest_due_seconds": backlog["oldest_due_seconds"],
        "outbox_failed_url": f"{outbox_url}?status__exact=failed",
    }


def shipping_panel(*, now: dt.datetime) -> dict:
    """{"warnings": [{"currency", "drops" (count), "message"}]}: drops not closed yet, of a session not ended
    or cancelled, that may ship (ship / pickup_or_ship) in a currency without an active ShippingRate.

    One query (grouped by currency); empty list = nothing to warn about (the panel is not shown).
    """
    from sessions_app.models import LiveSession

    from .shipping import no_shipping_rate_message

    rows = (
        Drop.objects.filter(closes_at__gt=now)
        .exclude(fulfilment=Drop.Fulfilment.PICKUP)
        .exclude(session__status__in=[LiveSession.Status.ENDED, LiveSession.Status.CANCELLED])
        .exclude(Exists(ShippingRate.objects.filter(active=True, currency=OuterRef("currency"))))
        .values("currency")
        .annotate(n=Count("pk"))
        .order_by("currency")
    )
    return {
        "warnings": [
            {"currency": r["currency"], "drops": r["n"], "message": no_shipping_rate_message(r["currency"])}
            for r in rows
        ],
        "rates_url": reverse("admin:commerce_shippingrate_changelist"),
    }


def dashboard(*, user, now: dt.datetime | None = None) -> dict:
    """The landing page's panels `user` may see: {"sessions"?, "revenue"?, "fulfil"?, "samples"?, "failures"?,
    "shipping"?}.

    A panel is absent when the user lacks its permission (PANEL_PERMISSIONS); nothing is queried for it.
    """
    now = now or timezone.now()
    allowed = {name for name, perms in PANEL_PERMISSIONS.items() if has_staff_perms(user, perms)}
    out: dict = {"shop_timezone": settings.SHOP_TIMEZONE}
    if "sessions" in allowed:
        out["sessions"] = sessions_panel(now=now)
    if "revenue" in allowed:
        out["revenue"] = revenue_panel(now=now)
    if "fulfil" in allowed:
        out["fulfil"] = fulfil_panel()
    if "samples" in allowed:
        out["samples"] = samples_panel()
    if "failures" in allowed:
        out["failures"] = failures_panel(user=user, now=now)
    if "shipping" in allowed:
        out["shipping"] = shipping_panel(now=now)
    return out
