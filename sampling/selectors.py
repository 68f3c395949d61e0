"""Sampling reads: campaigns for a page, segment reach, review queue, campaign KPIs."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from commerce.models import Order

from . import audience
from .models import FollowUpOffer, SampleCampaign, SampleRequest

S = SampleRequest.Status
KPI_WINDOW = dt.timedelta(days=30)


def campaigns_for_session(*, session, now: dt.datetime | None = None) -> QuerySet[SampleCampaign]:
    """Open campaigns shown on a session page: attached to the session or to its series."""
    now = now or timezone.now()
    match = Q(session_id=session.pk)
    if session.series_id:
        match |= Q(series_id=session.series_id, session__isnull=True)
    return SampleCampaign.objects.filter(match, is_active=True, opens_at__lte=now, closes_at__gt=now).order_by("pk")


def review_queue() -> QuerySet[SampleRequest]:
    """Requests waiting for a staff decision, riskiest first."""
    return (
        SampleRequest.objects.filter(status=S.REVIEW).select_related("campaign").order_by("-risk_score", "created_at")
    )


def segment_reach(*, purchase_rule: str, require_attended: bool, require_clicked: bool, series_id: int | None) -> dict:
    """How many known people a targeting segment reaches, before saving it.

    Known people = customers with an order plus everyone analytics reports as
    attendee or drop clicker. Shape: {"known": int (known people matching),
    "open_to_new": bool (unknown people can also qualify: no purchase or signal
    requirement), "analytics_connected": bool}. Use case and country are
    answered on the form and are not counted here.
    """
    buyers = audience.buyers()
    attendees = audience.attendees(series_id=series_id)
    clickers = audience.drop_clickers(series_id=series_id)
    people = buyers | attendees | clickers
    if purchase_rule == SampleCampaign.PurchaseRule.BUYERS:
        people &= buyers
    elif purchase_rule == SampleCampaign.PurchaseRule.NEW:
        people -= buyers
    if require_attended:
        people &= attendees
    if require_clicked:
        people &= clickers
    return {
        "known": len(people),
        "open_to_new": purchase_rule != SampleCampaign.PurchaseRule.BUYERS
        and not (require_attended or require_clicked),
        "analytics_connected": audience.audience_connected(),
    }


def campaign_kpis(*, campaign: SampleCampaign) -> dict:
    """The campaign's KPIs. Money in minor units of `campaign.currency`.

    Shape: {"requests", "waitlisted", "in_review", "approved" (approved, shipped
    or delivered), "shipped" (shipped or delivered), "rejected", "cancelled",
    "cost_minor" (unit cost × shipped), "converted" (shipped requesters who placed
    a confirmed or paid order within 30 days after shipping), "conversion"
    (converted / shipped, 0..1 or None), "cost_per_acquired_minor" (cost /
    converted or None), "revenue_30d_minor" (those orders' totals in the
    campaign currency), "offers_issued", "offers_redeemed", "currency"}.
    """
    counts = campaign.requests.aggregate(
        requests=Count("pk"),
        waitlisted=Count("pk", filter=Q(status=S.WAITLISTED)),
        in_review=Count("pk", filter=Q(status=S.REVIEW)),
        approved=Count("pk", filter=Q(status__in=[S.APPROVED, S.SHIPPED, S.DELIVERED])),
        shipped=Count("pk", filter=Q(status__in=[S.SHIPPED, S.DELIVERED])),
        rejected=Count("pk", filter=Q(status=S.REJECTED)),
        cancelled=Count("pk", filter=Q(status=S.CANCELLED)),
    )
    shipped = list(
        campaign.requests.filter(status__in=[S.SHIPPED, S.DELIVERED], shipped_at__isnull=False).values_list(
            "email_normalized", "shipped_at"
        )
    )
    shipped_at = dict(shipped)
    orders = Order.objects.filter(
        customer__email_normalized__in=shipped_at.keys(), status__in=audience.BOUGHT_STATUSES
    ).values_list("customer__email_normalized", "created_at", "total_minor", "currency")
    converted: set[str] = set()
    revenue = 0
    for email, created_at, total, currency in orders:
        start = shipped_at[email]
        if start <= created_at <= start + KPI_WINDOW:
            converted.add(email)
            if currency == campaign.currency:
                revenue += total
    cost = campaign.unit_cost_minor * counts["shipped"]
    offers = FollowUpOffer.objects.filter(request__campaign=campaign).aggregate(
        issued=Count("pk"), redeemed=Count("pk", filter=Q(redeemed_at__isnull=False))
    )
    return {
        **counts,
        "cost_minor": cost,
        "converted": len(converted),
        "conversion": (len(converted) / counts["shipped"]) if counts["shipped"] else None,
        "cost_per_acquired_minor": round(cost / len(converted)) if converted else None,
        "revenue_30d_minor": revenue,
        "offers_issued": offers["issued"],
        "offers_redeemed": offers["redeemed"],
        "currency": campaign.currency,
    }


def session_sample_cost(*, session_id: int) -> dict[str, int]:
    """The real sample cost charged to a session: units shipped × unit cost, per currency.

    A shipped (or delivered) request counts for the session it was made on
    (`SampleRequest.session`); a request without one counts for its campaign's session.
    Shape: {currency: amount_minor} (one key per campaign currency; {} when nothing shipped).
    """
    shipped = SampleRequest.objects.filter(status__in=[S.SHIPPED, S.DELIVERED]).filter(
        Q(session_id=session_id) | Q(session__isnull=True, campaign__session_id=session_id)
    )
    out: dict[str, int] = {}
    for row in shipped.values("campaign__currency", "campaign__unit_cost_minor").annotate(n=Count("pk")):
        cur = row["campaign__currency"]
        out[cur] = out.get(cur, 0) + row["campaign__unit_cost_minor"] * row["n"]
    return out
