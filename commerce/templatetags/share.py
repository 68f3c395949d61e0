"""Share-to-unlock on the session and clip pages: which campaign the shared panel offers."""

from __future__ import annotations

from django import template
from django.utils import timezone

from ..referrals.selectors import share_campaign_for_page

register = template.Library()


@register.simple_tag
def share_campaign_for(session, clip=None):
    """The open ShareCampaign for this page (a clip's own campaign first on a clip page), or None.
    Nothing personal: the page may be shared between viewers (sessions_app.pagecache)."""
    if not getattr(session, "pk", None):
        return None
    clip_id = getattr(clip, "pk", None) if clip else None
    return share_campaign_for_page(session_id=session.pk, clip_id=clip_id, now=timezone.now())
