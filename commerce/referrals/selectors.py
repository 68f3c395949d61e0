"""Share-to-unlock reads: the campaign a page offers, a sharer's progress, and each campaign's funnel."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet

from ..models import CouponRedemption, Order
from .models import ShareCampaign, ShareLink, ShareUnlock, ShareVisit

PAID_STATUSES = (Order.Status.PAID, Order.Status.REFUNDED)  # a refunded order was paid: it still converted


def share_campaign_for_page(*, session_id: int, clip_id: int | None, now: dt.datetime) -> ShareCampaign | None:
    """The campaign a page shows (open at `now`): on a clip page the clip's campaign, else the session's
    campaign that names no clip; on a session page only campaigns without a clip. Newest start first."""
    qs = ShareCampaign.objects.filter(
        session_id=session_id, is_active=True, starts_at__lte=now, ends_at__gt=now
    ).order_by("-starts_at", "-pk")
    if clip_id is not None:
        return qs.filter(clip_id=clip_id).first() or qs.filter(clip__isnull=True).first()
    return qs.filter(clip__isnull=True).first()


def share_link_progress(*, link: ShareLink, now: dt.datetime) -> dict:
    """What the sharer's panel shows: {"token", "visits", "visits_required", "percent_off" (str),
    "unlocked": bool, "code" (or None), "expires_at" (ISO UTC or None), "code_bound": bool (the code works
    for a customer; False until this browser places a hold), "offer_minutes"}."""
    campaign = link.campaign
    unlock = ShareUnlock.objects.select_related("coupon").filter(link=link).first()
    coupon = unlock.coupon if unlock else None
    return {
        "token": link.token,
        "visits": min(link.visits, campaign.visits_required),
        "visits_required": campaign.visits_required,
        "percent_off": f"{campaign.percent_off.normalize():f}",
        "offer_minutes": campaign.offer_minutes,
        "unlocked": unlock is not None,
        "code": coupon.code if coupon else None,
        "expires_at": coupon.valid_until.isoformat() if coupon else None,
        "expired": bool(coupon and now >= coupon.valid_until),
        "code_bound": bool(coupon and coupon.customer_id),
    }


def share_campaigns_funnel(*, campaigns: QuerySet[ShareCampaign] | None = None) -> list[dict]:
    """Per campaign, the funnel share → visit → unlock → purchase (docs/metrics.md "Share-to-unlock").

    Rows: {"campaign_id", "campaign", "session_id", "links" (links handed out = shares), "sharers_visited"
    (links with ≥ 1 counted visit), "visits" (counted visits), "unlocks", "purchases" (orders paid with an
    unlock's coupon, not voided), "unlock_rate" (unlocks / links), "purchase_rate" (purchases / unlocks);
    rates are 0..1 floats or None when the denominator is 0}.
    """
    qs = campaigns if campaigns is not None else ShareCampaign.objects.all()
    qs = qs.annotate(
        n_links=Count("links", distinct=True),
        n_linked_visited=Count("links", filter=Q(links__visits__gt=0), distinct=True),
    ).order_by("-starts_at", "-pk")
    rows = []
    for c in qs:
        visits = ShareVisit.objects.filter(link__campaign=c).count()
        unlocks = ShareUnlock.objects.filter(campaign=c).count()
        purchases = share_purchases(campaign_ids=[c.pk]).count()
        rows.append(
            {
                "campaign_id": c.pk,
                "campaign": c.name,
                "session_id": c.session_id,
                "links": c.n_links,
                "sharers_visited": c.n_linked_visited,
                "visits": visits,
                "unlocks": unlocks,
                "purchases": purchases,
                "unlock_rate": unlocks / c.n_links if c.n_links else None,
                "purchase_rate": purchases / unlocks if unlocks else None,
            }
        )
    return rows


def share_purchases(*, campaign_ids: list[int] | None = None) -> QuerySet[CouponRedemption]:
    """Redemptions of unlock coupons on paid (or later refunded) orders, not voided."""
    qs = CouponRedemption.objects.filter(
        coupon__share_unlock__isnull=False, voided_at__isnull=True, order__status__in=PAID_STATUSES
    )
    if campaign_ids is not None:
        qs = qs.filter(coupon__share_unlock__campaign_id__in=campaign_ids)
    return qs
