"""Partner API: membership plans and memberships (read only; docs/memberships.md, "API").

- `GET /plans` (scope `plans:read`): plans on offer: shop catalogue, the /members/ page shows them anyway.
- `GET /memberships` (scope `memberships:read`, shop data: needs `shop` too): memberships newest first,
  filter `?status=`. Memberships have no partner owner and say who pays the shop: only the shop's own
  integrations read them (commerce.access.SHOP_ONLY_SCOPES), like analytics.
- `GET /memberships/{membership_id}`: one membership; 404 `not_found` if unknown.
Never returned: the member's pass and checkout URL (the member's secrets). Money in minor units + ISO
currency; times ISO 8601 UTC.
"""

from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema
from ninja.pagination import paginate

from config.api import PartnerKey
from config.bounds import Id
from config.pagination import PageNumberPagination

from ..access import NotFound
from .models import Membership
from .selectors import plans_active

router = Router(tags=["memberships"])


class PlanOut(Schema):
    slug: str
    name: str
    interval: str = Field(description="`week` or `month`.")
    price_minor: int = Field(description="Price per interval, minor units of `currency`.")
    currency: str
    perks: list[str]
    grace_days: int = Field(description="Days of access kept after a failed renewal (past due).")


class MembershipOut(Schema):
    id: int
    plan: str = Field(description="The plan's slug.")
    customer_email: str
    status: str = Field(description="incomplete | active | past_due | ended (docs/memberships.md).")
    provider: str = Field(description="`stripe` or `manual` (the demo provider).")
    cancel_at_period_end: bool
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    grace_until: dt.datetime | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    stripe_subscription_id: str

    @staticmethod
    def resolve_plan(obj) -> str:
        return obj.plan.slug

    @staticmethod
    def resolve_customer_email(obj) -> str:
        return obj.customer.email


def _plan_out(plan) -> dict:
    return {
        "slug": plan.slug,
        "name": plan.name,
        "interval": plan.interval,
        "price_minor": plan.price_minor,
        "currency": plan.currency,
        "perks": [p.strip() for p in plan.perks.splitlines() if p.strip()],
        "grace_days": plan.grace_days,
    }


@router.get("/plans", response=list[PlanOut], auth=PartnerKey("plans:read"))
def list_plans(request):
    """Membership plans on offer (shop catalogue), cheapest first."""
    return [_plan_out(p) for p in plans_active()]


@router.get("/memberships", response=list[MembershipOut], auth=PartnerKey("memberships:read"))
@paginate(PageNumberPagination, page_size=50)
def list_memberships(request, status: str | None = None):
    """Every membership newest first (shop data: needs `shop`). Filter `?status=` (incomplete, active,
    past_due, ended)."""
    qs = Membership.objects.select_related("plan", "customer").order_by("-created_at", "-pk")
    if status:
        qs = qs.filter(status=status)
    return qs


@router.get("/memberships/{membership_id}", response=MembershipOut, auth=PartnerKey("memberships:read"))
def get_membership(request, membership_id: Id):
    """One membership by id (shop data: needs `shop`); 404 `not_found` if there is none."""
    m = Membership.objects.select_related("plan", "customer").filter(pk=membership_id).first()
    if m is None:
        raise NotFound()
    return m
