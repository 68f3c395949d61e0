"""Campaigns: create with all samples available, resize, hand remaining samples to the waitlist."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from commerce.audit import audit_change

from ..exceptions import InvalidRequest
from ..models import SampleCampaign


def campaign_create(**fields) -> SampleCampaign:
    """Create a campaign with every sample available. Raises InvalidRequest for an empty window."""
    if fields["closes_at"] <= fields["opens_at"]:
        raise InvalidRequest("A campaign must close after it opens.", code="invalid_window")
    campaign = SampleCampaign(**fields)
    campaign.available = campaign.quantity
    campaign.full_clean(exclude=["available"])
    campaign.save()
    return campaign


def campaign_set_quantity(*, campaign_id: int, quantity: int) -> SampleCampaign:
    """Change the number of samples; `available` moves by the same delta, never below what is reserved.

    Raises InvalidRequest(code `quantity_below_reserved`). One conditional UPDATE.
    """
    with transaction.atomic():
        campaign = SampleCampaign.objects.get(pk=campaign_id)
        delta = quantity - campaign.quantity
        if not SampleCampaign.objects.filter(pk=campaign_id, available__gte=-delta).update(
            quantity=quantity, available=F("available") + delta
        ):
            raise InvalidRequest(
                f"{campaign.quantity - campaign.available} samples are already reserved; quantity cannot go below that.",
                code="quantity_below_reserved",
                status=409,
            )
        before = campaign.quantity
        campaign.refresh_from_db()
        audit_change(campaign, {"quantity": (before, campaign.quantity)})
    return campaign


def campaign_offer_waitlist(*, campaign_id: int, now: dt.datetime | None = None) -> int:
    """Offer every remaining sample to the waitlist in priority order. Returns how many were offered."""
    from .requests import waitlist_promote_next

    now = now or timezone.now()
    offered = 0
    while waitlist_promote_next(campaign_id=campaign_id, now=now) is not None:
        offered += 1
    return offered
