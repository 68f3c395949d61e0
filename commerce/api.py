"""Partner API: drops (with live stock) and orders."""

import datetime as dt
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.pagination import PageNumberPagination, paginate

from config.api import PartnerKey

from .models import Drop
from .selectors import orders_list

router = Router(tags=["commerce"])


class DropOut(Schema):
    id: int
    session_id: UUID = Field(alias="session.public_id")
    title: str = Field(alias="display_title")
    sku: str = Field(alias="sku.code")
    quantity: int
    available: int = Field(description="Units neither sold nor held right now.")
    price_minor: int = Field(description="Price in minor units of `currency` (cents; JPY has none).")
    currency: str = Field(description="ISO 4217 code.")
    opens_at: dt.datetime
    closes_at: dt.datetime
    per_customer_limit: int
    state: str = Field(description="not_yet_open | live | sold_out | closed, at request time.")

    @staticmethod
    def resolve_state(obj: Drop) -> str:
        return obj.state_at(timezone.now())


class OrderLineOut(Schema):
    sku: str = Field(alias="sku.code")
    title: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    total_minor: int
    currency: str


class OrderOut(Schema):
    number: str
    status: str
    email: str = Field(alias="customer.email")
    session_id: UUID | None = Field(None, alias="session.public_id")
    payment_provider: str
    currency: str
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    lines: list[OrderLineOut]

    @staticmethod
    def resolve_lines(obj):
        return list(obj.lines.all())


@router.get("/drops", response=list[DropOut], auth=PartnerKey("drops:read"))
@paginate(PageNumberPagination, page_size=50)
def list_drops(request, session_id: UUID | None = None):
    """Drops with remaining stock, newest opening first; filter by `?session_id=<uuid>`."""
    qs = Drop.objects.select_related("sku__product", "session").order_by("-opens_at", "-pk")
    if session_id:
        qs = qs.filter(session__public_id=session_id)
    return qs


@router.get("/drops/{drop_id}", response=DropOut, auth=PartnerKey("drops:read"))
def get_drop(request, drop_id: int):
    """One drop with its live stock and state. 404 `not_found` if unknown."""
    return get_object_or_404(Drop.objects.select_related("sku__product", "session"), pk=drop_id)


@router.get("/orders", response=list[OrderOut], auth=PartnerKey("orders:read"))
@paginate(PageNumberPagination, page_size=50)
def list_orders(request, status: str | None = None):
    """Orders newest first with their lines; amounts in minor units. Filter `?status=`."""
    qs = orders_list()
    if status:
        qs = qs.filter(status=status)
    return qs
