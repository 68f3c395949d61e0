"""Demo data for the retention loops (seed_demo): each part lives in its own module; this one calls them.

Returns the lines seed_demo prints (what to open, how to use it)."""

from __future__ import annotations

from django.conf import settings


def demo_retention_seed(*, series, live) -> list[str]:
    """Seed the VIP plan, the members-only session, the bundle, the trial SKU and the share-to-unlock offer."""
    from ..referrals.demo import demo_share_seed
    from .demo_bundles import demo_bundles_seed
    from .demo_members_only import demo_members_only_seed
    from .demo_plan import demo_plan_seed

    lines: list[str] = []
    plan = demo_plan_seed()
    lines.append(f"Memberships:  {settings.SITE_URL}/members/ ({plan.name}; manual provider: a demo, no payment)")
    lines += demo_members_only_seed(series=series, live=live, plan=plan)
    lines += demo_bundles_seed(series=series, live=live)
    lines += demo_share_seed(live=live)
    return lines
