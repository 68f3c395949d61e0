"""Partner API for watch-gated coupons (docs/watch-coupons.md): a session's reward programmes.

`GET /api/v1/sessions/{session_id}/watch-coupons` (scope `coupons:read`): the watch-gated coupons of a
live session (scoped to it or to one of its drops) with their terms and how many personal codes were
issued and redeemed. Sessions are shop catalogue (commerce.access), so any key with the scope reads
them. Partners never see visitor ids, personal codes or the programme's own code: only terms and counts.
Times are ISO 8601 UTC; amounts integer minor units of `currency`; seconds are watched seconds.
"""

import datetime as dt
from decimal import Decimal
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from config.api import PartnerKey
from config.pagination import PageNumberPagination
from sessions_app.models import LiveSession

from .access import catalogue
from .selectors_watch import watch_code_counts, watch_programmes

router = Router(tags=["watch coupons"])


class WatchCouponOut(Schema):
    id: int = Field(description="The programme coupon's id.")
    kind: str = Field(description="percent | fixed")
    percent_off: Decimal | None = None
    amount_off_minor: int | None = Field(None, description="Fixed coupons: minor units of `currency`, per line.")
    currency: str
    drop_id: int | None = Field(None, description="Set when the programme is scoped to one drop of the session.")
    watch_seconds_required: int = Field(description="Seconds of the live session a viewer must watch.")
    watch_grace_minutes: int = Field(description="Personal codes expire this long after the session's end.")
    valid_from: dt.datetime
    valid_until: dt.datetime
    is_active: bool
    max_redemptions: int | None = Field(None, description="Total cap, shared by every personal code; null = none.")
    per_customer_limit: int
    redemptions: int = Field(description="Redemptions counted against the cap (through personal codes).")
    codes_issued: int
    codes_redeemed: int


@router.get("/sessions/{session_id}/watch-coupons", response=list[WatchCouponOut], auth=PartnerKey("coupons:read"))
@paginate(PageNumberPagination, page_size=50)
def list_watch_coupons(request, session_id: UUID):
    """The session's watch-gated coupons (easiest first) with personal codes issued and redeemed.

    404 `not_found` for an unknown session. Paginated: `?page=N&page_size=M` → {"items", "count"}.
    """
    session = get_object_or_404(catalogue(LiveSession.objects.all()), public_id=session_id)
    coupons = list(watch_programmes(session_id=session.pk))
    counts = watch_code_counts(coupon_ids=[c.pk for c in coupons])
    return [
        {
            **{f: getattr(c, f) for f in WatchCouponOut.model_fields if hasattr(c, f) and f != "id"},
            "id": c.pk,
            "codes_issued": counts.get(c.pk, {}).get("issued", 0),
            "codes_redeemed": counts.get(c.pk, {}).get("redeemed", 0),
        }
        for c in coupons
    ]
