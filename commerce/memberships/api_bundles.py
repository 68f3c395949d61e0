"""Partner API: community bundles (docs/bundles.md, "API").

- `GET /bundles` (scope `bundles:read`, shop catalogue): bundles of drops selling now with units and
  seats left. A partner places a hold on the bundle's drop with `POST /holds` (one unit + one seat); the
  buyer's personal join link is never in the API (it is the buyer's private link, on the order page and
  in the confirmation e-mail only).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.pagination import paginate

from config.api import PartnerKey
from config.pagination import PageNumberPagination

from .selectors_bundles import bundles_on_sale

router = Router(tags=["bundles"])


class BundleOut(Schema):
    id: int
    drop_id: int
    title: str = Field(description="The drop's title plus the private session it seats you in.")
    sku: str
    unit_price_minor: int = Field(description="The drop's list price per unit (minor units of `currency`).")
    currency: str
    units_available: int
    seat_cap: int
    seats_available: int = Field(description="Seats neither sold nor held now.")
    private_session_title: str
    private_session_starts_at: dt.datetime = Field(description="UTC.")
    note: str
    drop_closes_at: dt.datetime = Field(description="UTC.")

    @staticmethod
    def resolve_title(obj):
        return f"{obj.drop.display_title} + seat in {obj.private_session.title}"

    @staticmethod
    def resolve_sku(obj):
        return obj.drop.sku.code

    @staticmethod
    def resolve_unit_price_minor(obj):
        return obj.drop.price_minor

    @staticmethod
    def resolve_currency(obj):
        return obj.drop.currency

    @staticmethod
    def resolve_units_available(obj):
        return obj.drop.total_available

    @staticmethod
    def resolve_private_session_title(obj):
        return obj.private_session.title

    @staticmethod
    def resolve_private_session_starts_at(obj):
        return obj.private_session.starts_at

    @staticmethod
    def resolve_drop_closes_at(obj):
        return obj.drop.closes_at


@router.get("/bundles", response=list[BundleOut], auth=PartnerKey("bundles:read"))
@paginate(PageNumberPagination, page_size=50)
def list_bundles(request):
    """Bundles on sale now (drop open, session selling, units and seats left), soonest closing first.

    Paginated `?page=N&page_size=M` → {"items": [...], "count": total}. Amounts in minor units + ISO currency.
    """
    return bundles_on_sale(now=timezone.now())
