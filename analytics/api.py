"""Partner API for BI tools: KPI stacks per session, series and format; cohorts; raw event export.

Scopes: `analytics:read` (KPIs, cohorts) and `analytics:events` (the raw, pseudonymous event
export). Both are shop data (commerce.access, docs/access.md): they cover every partner's and
the storefront's sales, so a key needs the `shop` scope as well, otherwise 403 `forbidden`. Ratios are 0..1 or null; money is integer minor units with its ISO 4217 currency;
times ISO 8601 UTC. Definitions: docs/metrics.md.
"""

import datetime as dt
from typing import Any
from uuid import UUID

from django.http import Http404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from commerce.access import catalogue
from config.api import PartnerKey
from config.bounds import Id, Int64
from config.pagination import PageNumberPagination
from sessions_app.models import LiveSession, Series, SessionFormat

from . import selectors

router = Router(tags=["analytics"])


class FunnelOut(Schema):
    visitors: dict[str, int] = Field(description="Distinct actors per step: view, click, cart, checkout, purchase.")
    v2c: float | None = Field(description="clicks ÷ views")
    c2c: float | None = Field(description="checkouts ÷ clicks")
    c2p: float | None = Field(description="purchases ÷ checkouts")
    orders: int
    revenue_minor: int = Field(description="Minor units of `currency`.")
    currency: str
    aov_minor: int | None
    revenue_per_viewer_minor: int | None


class AcquisitionOut(Schema):
    customers: int = Field(description="Customers whose first purchase falls in scope.")
    repeat_7d: float | None
    repeat_14d: float | None
    repeat_30d: float | None
    revenue_7d_minor: int | None
    revenue_14d_minor: int | None
    ltv_60d_minor: int | None = Field(description="Average 60-day LTV per acquired customer.")


class DropFunnelOut(FunnelOut):
    drop_id: int


class SessionKpisOut(FunnelOut):
    session_id: UUID = Field(alias="public_id")
    title: str
    starts_at: dt.datetime
    minutes: float
    acquisition: AcquisitionOut
    cost_currency: str = Field(description="Currency of the cost figures (the revenue's, else the price table's).")
    sample_cost_minor: int = Field(description="Units shipped × unit cost of the sampling campaigns (metrics.md §2).")
    asset_cost_minor: int | None = Field(
        description="Storage + delivery + retrieval + requests from the cost ledger; null when it cannot be "
        "converted into cost_currency (then not subtracted; see cost_notes)."
    )
    storage_cost_minor: int | None
    delivery_cost_minor: int | None
    cost_adjustment_minor: int = Field(description="Manual adjustment entered by staff, added to the costs.")
    cost_notes: list[str] = Field(description="Costs that could not be subtracted, and why.")
    roi_per_minute_minor: int | None = Field(
        description="(revenue − sample cost − asset cost − manual adjustment) ÷ minutes"
    )
    drops: list[DropFunnelOut]


class PeriodKpisOut(FunnelOut):
    sessions: int
    acquisition: AcquisitionOut


class WeekKpisOut(PeriodKpisOut):
    week: dt.date = Field(description="Monday of the week, in the sessions' timezone.")


class GroupKpisOut(Schema):
    id: int
    name: str
    total: PeriodKpisOut
    weeks: list[WeekKpisOut]


class CohortOut(Schema):
    cohort: dt.date
    currency: str
    customers: int
    repeat_7d_rate: float | None
    repeat_14d_rate: float | None
    repeat_30d_rate: float | None
    revenue_7d_minor: int
    revenue_14d_minor: int
    ltv_60d_avg_minor: int | None


class EventOut(Schema):
    seq: int
    name: str
    occurred_at: dt.datetime
    actor: str = Field(description="c:<customer id> or v:<visitor id> (pseudonymous).")
    session_id: int | None
    drop_id: int | None
    sku_id: int | None
    order_id: int | None
    amount_minor: int | None
    currency: str
    props: dict[str, Any]


@router.get("/analytics/sessions/{session_id}", response=SessionKpisOut, auth=PartnerKey("analytics:read"))
def get_session_kpis(request, session_id: UUID):
    """The KPI stack of one session (by its public UUID) with per-drop funnels. 404 if unknown."""
    pk = catalogue(LiveSession.objects.all()).filter(public_id=session_id).values_list("pk", flat=True).first()
    if pk is None:
        raise Http404
    return selectors.session_kpis(session_id=pk)


@router.get("/analytics/series/{series_id}", response=GroupKpisOut, auth=PartnerKey("analytics:read"))
def get_series_kpis(request, series_id: Id):
    """A series' KPI stack in total and per week (sums of session rollups)."""
    if not catalogue(Series.objects.all()).filter(pk=series_id).exists():
        raise Http404
    data = selectors.series_kpis(series_id=series_id)
    return {"id": data["series_id"], **data}


@router.get("/analytics/formats/{format_slug}", response=GroupKpisOut, auth=PartnerKey("analytics:read"))
def get_format_kpis(request, format_slug: str):
    """A format's KPI stack in total and per week."""
    pk = catalogue(SessionFormat.objects.all()).filter(slug=format_slug).values_list("pk", flat=True).first()
    if pk is None:
        raise Http404
    data = selectors.format_kpis(format_id=pk)
    return {"id": data["format_id"], **data}


@router.get("/analytics/cohorts", response=list[CohortOut], auth=PartnerKey("analytics:read"))
def list_cohorts(request, period: str = "week", source: str = "live"):
    """The cohort table by first-purchase week or month (`period=week|month`); `source=live` or `import:<name>`."""
    if period not in ("week", "month"):
        from ninja.errors import ValidationError

        raise ValidationError([{"loc": ("query", "period"), "msg": "must be week or month"}])
    return selectors.cohort_table(source=source, period=period)


@router.get("/analytics/events", response=list[EventOut], auth=PartnerKey("analytics:events"))
@paginate(PageNumberPagination, page_size=500)
def list_events(request, session_id: UUID | None = None, since_seq: Int64 | None = None):
    """Raw events in sequence order; filter `?session_id=<uuid>` and `?since_seq=` for incremental pulls."""
    pk = None
    if session_id is not None:
        pk = catalogue(LiveSession.objects.all()).filter(public_id=session_id).values_list("pk", flat=True).first()
        if pk is None:
            raise Http404
    return selectors.events_export(session_id=pk, since_seq=since_seq)


# --- retention (issue #14; definitions: docs/metrics.md §7) -------------------------------------------------


class LtvGroupOut(Schema):
    customers: int = Field(
        description="Customers whose first paid order is in this currency and whose 60 days are over."
    )
    ltv_total_minor: int = Field(description="Σ net revenue (paid − refunded) in their 60 days, minor units.")
    ltv_avg_minor: int | None = Field(description="ltv_total_minor ÷ customers, rounded half up; null for 0 customers.")


class LtvCurrencyOut(Schema):
    currency: str
    members: LtvGroupOut = Field(description="A membership granted access at some time in the customer's 60 days.")
    non_members: LtvGroupOut
    maturing: int = Field(description="Customers still inside their 60 days (not counted yet).")


class ChurnWeekOut(Schema):
    week: dt.date = Field(description="Monday of the ISO week (weeks start 00:00 UTC).")
    active_at_start: int
    churned: int = Field(description="Of those, memberships that ended during the week.")
    churn: float | None = Field(description="churned ÷ active_at_start")


class TrialKeepOut(Schema):
    past_window: int = Field(description="Trial lines (paid) whose window (paid_at + trial_days) has ended.")
    kept: int
    returned: int = Field(description="Past-window lines with a received return.")
    in_window: int
    rate: float | None = Field(description="kept ÷ past_window")


class ShareCampaignFunnelOut(Schema):
    campaign_id: int
    campaign: str
    links: int = Field(description="Links shared (handed out by the share button).")
    visits: int = Field(description="Distinct new visitors counted.")
    unlocks: int
    purchases: int = Field(description="Paid orders using an unlock's personal code.")
    unlock_rate: float | None
    purchase_rate: float | None


class ShareConversionOut(Schema):
    links: int
    visits: int
    unlocks: int
    purchases: int
    unlock_rate: float | None = Field(description="unlocks ÷ links")
    purchase_rate: float | None = Field(description="purchases ÷ unlocks")
    campaigns: list[ShareCampaignFunnelOut]


class RetentionOut(Schema):
    as_of: dt.datetime
    ltv_60d: list[LtvCurrencyOut]
    weekly_churn: list[ChurnWeekOut]
    trial_to_keep: TrialKeepOut
    share: ShareConversionOut


@router.get("/analytics/retention", response=RetentionOut, auth=PartnerKey("analytics:read"))
def get_retention(request, weeks: int = Query(8, ge=1, le=52)):
    """Retention metrics now: 60-day LTV of members vs non-members per currency, weekly membership churn for
    the last `weeks` ISO weeks (1..52, oldest first), trial-to-keep, share-to-unlock conversion per campaign.
    Shop data (analytics:read + shop). Definitions: docs/metrics.md §7."""
    from django.utils import timezone

    from .selectors_retention import retention_summary

    data = retention_summary(now=timezone.now(), weeks=weeks)
    data["ltv_60d"] = [{"currency": cur, **groups} for cur, groups in data["ltv_60d"]["currencies"].items()]
    return data
