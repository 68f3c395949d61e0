"""Demo members-only session with an exclusive SKU (owned by the members-only work; docs/members-only.md)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

VIP_TITLE = "VIP 10 minutes — members only"
EXCLUSIVE_SKU_PREFIX = "moon-charm-bracelet"  # a catalogue SKU the public live session does not sell
MEMBER_PERCENT = 80  # the member price is 80 % of the drop's price


def demo_members_only_seed(*, series, live, plan) -> list[str]:
    """Create (once) a live members-only session in the demo series with an exclusive drop of a catalogue SKU
    at a member price; returns lines for seed_demo to print. Reuses the session while its drop is open."""
    from commerce.models import Drop, Sku
    from commerce.money import format_money, round_to_step
    from commerce.services.drops import drop_create
    from sessions_app.models import LiveSession
    from sessions_app.services import session_go_live

    now = timezone.now()
    session = (
        LiveSession.objects.filter(
            series=series, members_only=True, status=LiveSession.Status.LIVE, drops__closes_at__gt=now
        )
        .distinct()
        .first()
    )
    if session is None:
        starts = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)  # not the public live session's slot
        session = LiveSession.objects.create(
            series=series,
            format=series.format,
            title=VIP_TITLE,
            starts_at=starts,
            duration_seconds=series.format.duration_seconds,
            timezone=series.timezone,
            stream_url=series.stream_url,
            members_only=True,
        )
        session_go_live(session_id=session.pk, now=now)
        LiveSession.objects.filter(pk=session.pk).update(title=VIP_TITLE)  # go-live retitles planner titles
        sku = Sku.objects.filter(code__startswith=EXCLUSIVE_SKU_PREFIX).order_by("pk").first()
        sku = sku or Sku.objects.order_by("pk").first()
        member_price = round_to_step(sku.price_minor * MEMBER_PERCENT // 100, sku.currency, down=True)
        drop_create(
            session=session,
            sku=sku,
            quantity=15,
            opens_at=starts,
            closes_at=now + dt.timedelta(hours=2),
            per_customer_limit=2,
            members_only=True,
            member_price_minor=member_price,
        )
    drop = Drop.objects.filter(session=session).select_related("sku").first()
    join = f"{settings.SITE_URL}/members/join/{plan.slug}/" if plan is not None else f"{settings.SITE_URL}/members/"
    return [
        f"Members-only: {settings.SITE_URL}{session.get_absolute_url()} (stream for members only; join at {join})",
        f"  exclusive drop {drop.display_title}: {format_money(drop.price_minor, drop.currency)}, "
        f"members {format_money(drop.member_price_minor, drop.currency)}",
    ]
