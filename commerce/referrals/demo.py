"""Demo share-to-unlock offer (owned by the share-to-unlock work): docs/share-to-unlock.md."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from .models import ShareCampaign

DEMO_NAME = "Demo: share the live session, 3 new visitors unlock 15% off"


def demo_share_seed(*, live) -> list[str]:
    """Create (once) the share-to-unlock campaign on the demo live session: N = 3 new visitors unlock 15 % off
    its drops for 60 minutes; open from now for 7 days. Returns lines for seed_demo to print."""
    now = timezone.now()
    campaign = ShareCampaign.objects.filter(session=live, name=DEMO_NAME).first()
    if campaign is None:
        campaign = ShareCampaign.objects.create(
            name=DEMO_NAME,
            session=live,
            visits_required=3,
            percent_off=Decimal("15"),
            offer_minutes=60,
            starts_at=now - dt.timedelta(minutes=1),
            ends_at=now + dt.timedelta(days=7),
        )
    return [
        f"Share to unlock: {settings.SITE_URL}{live.get_absolute_url()} → 'Share to unlock 15% off' "
        f"(3 new visitors, each from another network and browser, open your link; campaign #{campaign.pk})",
    ]
