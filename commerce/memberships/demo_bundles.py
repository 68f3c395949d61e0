"""Demo community bundle and trial SKU (docs/bundles.md, docs/trials.md), called by seed_demo inside its
transaction. Safe to run again: it reuses what an earlier run made."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from ..models import Bundle, Drop, Sku
from ..services.drops import drop_create
from .services_bundles import bundle_create

BUNDLE_SKU_PREFIX = "origami-crane-necklace"
TRIAL_SKU_PREFIX = "silver-threader-necklace"  # not sold by another demo drop (seed_demo, demo_members_only)
PRIVATE_TITLE = "Maker Q&A: 10 minutes with Mara (private, bundle seats only)"
DEMO_SEATS = 4
TRIAL_DAYS = 14


def _sku(prefix: str, *, avoid: set[int]) -> Sku | None:
    return (
        Sku.objects.filter(code__startswith=prefix).exclude(pk__in=avoid).order_by("pk").first()
        or Sku.objects.exclude(pk__in=avoid).order_by("pk").first()
    )


def demo_bundles_seed(*, series, live) -> list[str]:
    """Create the bundle with private seats and the trial SKU's drop; returns lines for seed_demo to print.

    - a private micro-session (is_private) starting one hour after the live one, on the series' stream;
    - a drop in the live session paired with DEMO_SEATS seats in it (one unit + one seat per order);
    - a SKU sold as a TRIAL_DAYS-day refundable trial, with its own drop in the live session.
    """
    from sessions_app.models import LiveSession

    now = timezone.now()
    closes = max(now + dt.timedelta(hours=2), live.starts_at + dt.timedelta(hours=2))
    used = set(Drop.objects.filter(session=live).values_list("sku_id", flat=True))
    bundle = Bundle.objects.filter(drop__session=live).select_related("drop__sku__product", "private_session").first()
    if bundle is None:
        private = LiveSession.objects.filter(series=series, is_private=True, title=PRIVATE_TITLE).first()
        if private is None:
            private = LiveSession.objects.create(
                series=series,
                format=live.format,
                title=PRIVATE_TITLE,
                starts_at=live.starts_at + dt.timedelta(hours=1),
                duration_seconds=600,
                timezone=live.timezone,
                stream_url=live.stream_url,
                is_private=True,
            )
        sku = _sku(BUNDLE_SKU_PREFIX, avoid=used)
        drop = drop_create(
            session=live, sku=sku, quantity=10, opens_at=live.starts_at, closes_at=closes, per_customer_limit=1
        )
        used.add(sku.pk)
        bundle = bundle_create(
            drop_id=drop.pk,
            private_session_id=private.pk,
            seat_cap=DEMO_SEATS,
            note="Ask the maker anything: a 10-minute private session, 4 seats.",
        )
        bundle = Bundle.objects.select_related("drop__sku__product", "private_session").get(pk=bundle.pk)
    trial_drop = Drop.objects.filter(session=live, sku__trial_days__isnull=False).select_related("sku").first()
    if trial_drop is None:
        # never a SKU another demo drop sells (e.g. the members-only session's exclusive one)
        sku = _sku(TRIAL_SKU_PREFIX, avoid=used | set(Drop.objects.values_list("sku_id", flat=True)))
        Sku.objects.filter(pk=sku.pk).update(trial_days=TRIAL_DAYS)
        trial_drop = drop_create(
            session=live,
            sku=Sku.objects.get(pk=sku.pk),
            quantity=15,
            opens_at=live.starts_at,
            closes_at=closes,
            per_customer_limit=2,
        )
    site = settings.SITE_URL
    return [
        f"Bundle:       {site}/drops/{bundle.drop_id}/checkout/ ({bundle.drop.display_title} + a seat in "
        f"“{bundle.private_session.title}”, {bundle.seat_cap} seats; the order page shows the personal join link)",
        f"Trial SKU:    {site}/drops/{trial_drop.pk}/checkout/ ({trial_drop.sku.trial_days}-day refundable trial: "
        f"return it from the order page; staff refund it at {site}/admin/commerce/trialreturn/)",
    ]
