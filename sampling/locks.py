"""The one place that changes the campaign's scarce sample counter.

Each function is a single conditional UPDATE (no lock wait, no read-modify-write):
`UPDATE sample_campaign SET available = available - 1 WHERE id = … AND available >= 1`.
When it matches no row the caller answers "waitlisted"; the CHECK constraints on
SampleCampaign (0 ≤ available ≤ quantity) are the last line of defence.
Callers run these inside their own transaction.
"""

from __future__ import annotations

from django.db.models import F

from .models import SampleCampaign


def campaign_take_sample(*, campaign_id: int) -> bool:
    """Reserve one sample. True if taken, False if none is left."""
    return bool(SampleCampaign.objects.filter(pk=campaign_id, available__gte=1).update(available=F("available") - 1))


def campaign_return_sample(*, campaign_id: int) -> None:
    """Give one reserved sample back (a rejected or cancelled request)."""
    updated = SampleCampaign.objects.filter(pk=campaign_id, available__lt=F("quantity")).update(
        available=F("available") + 1
    )
    if not updated:
        raise RuntimeError(f"returning a sample to campaign {campaign_id} would exceed its quantity")
