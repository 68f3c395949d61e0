"""Partner API: drops (live stock and price), holds, checkout, orders.

Writes accept an `Idempotency-Key` header (commerce.idempotency): a replay
returns the first answer. Amounts are integer minor units of `currency` (ISO
4217; JPY has no minor unit); times are ISO 8601 UTC.
"""

import datetime as dt
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from pydantic import StrictInt

from config.api import PartnerKey, api
from config.bounds import Id, StrictId
from config.pagination import PageNumberPagination

from .idempotency import run_idempotent
from .models import Drop, Hold
from .selectors import drop_status, drop_with_stock, orders_list, with_effective_stock
from .services.holds import hold_place
from .services.orders import checkout_start

router = Router(tags=["commerce"])


class DropStatusOut(Schema):
    id: int
    state: str = Field(description="not_yet_open | live | sold_out | closed")
    available: int = Field(description="Units neither sold nor held (lapsed holds count as free).")
    quantity: int
    price_minor: int = Field(description="Current unit price from the drop's price schedule, minor units.")
    base_price_minor: int
    currency: str
    price_step: int
    next_price_change_at: dt.datetime | None
    opens_at: dt.datetime
    closes_at: dt.datetime
    seconds_to_open: int
    seconds_to_close: int


class DropOut(Schema):
    id: int
    session_id: UUID = Field(alias="session.public_id")
    title: str = Field(alias="display_title")
    sku: str = Field(alias="sku.code")
    per_customer_limit: int
    hold_seconds: int
    pricing: str
    status: DropStatusOut

    @staticmethod
    def resolve_status(obj: Drop) -> dict:
        return drop_status(drop=obj, now=timezone.now())


class HoldIn(Schema):
    drop_id: StrictId
    email: str = Field(max_length=254)
    quantity: StrictInt = Field(ge=1, le=99)


class HoldOut(Schema):
    token: str
    drop_id: int
    quantity: int
    unit_price_minor: int = Field(description="Locked while the hold lives.")
    currency: str
    price_step: int
    status: str
    expires_at: dt.datetime


class CheckoutIn(Schema):
    coupon_code: str = Field("", max_length=40)


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
    payment_url: str = Field(description="Where the buyer pays (Stripe hosted page); empty for manual.")
    currency: str
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    refunded_minor: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    lines: list[OrderLineOut]

    @staticmethod
    def resolve_lines(obj):
        return list(obj.lines.all())


def _respond(request, status: int, body: dict):
    return api.create_response(request, body, status=status)


@router.get("/drops", response=list[DropOut], auth=PartnerKey("drops:read"))
@paginate(PageNumberPagination, page_size=50)
def list_drops(request, session_id: UUID | None = None):
    """Drops with live status, newest opening first; filter by `?session_id=<uuid>`."""
    qs = Drop.objects.select_related("sku__product", "session").order_by("-opens_at", "-pk")
    if session_id:
        qs = qs.filter(session__public_id=session_id)
    return with_effective_stock(qs, now=timezone.now())


@router.get("/drops/{drop_id}", response=DropOut, auth=PartnerKey("drops:read"))
def get_drop(request, drop_id: Id):
    """One drop with its live status. 404 `not_found` if unknown."""
    try:
        return drop_with_stock(drop_id=drop_id)
    except Drop.DoesNotExist:
        return _respond(request, 404, {"code": "not_found", "message": "Not found.", "fields": {}})


@router.get("/drops/{drop_id}/status", response=DropStatusOut, auth=PartnerKey("drops:read"))
def get_drop_status(request, drop_id: Id):
    """Stock and current price only: the cheap call to poll during a live drop."""
    try:
        return drop_status(drop=drop_with_stock(drop_id=drop_id))
    except Drop.DoesNotExist:
        return _respond(request, 404, {"code": "not_found", "message": "Not found.", "fields": {}})


@router.post("/holds", response={201: HoldOut}, auth=PartnerKey("holds:write"))
def create_hold(request, payload: HoldIn):
    """Place a hold ("add to cart"): reserves units at the current price until `expires_at`.

    201 → the hold. 409 `sold_out` | `not_yet_open` | `closed` | `per_customer_limit_exceeded`;
    422 `invalid_email` / `invalid`; 404 `not_found` for an unknown drop. Idempotent with `Idempotency-Key`.
    """

    def handler():
        try:
            hold = hold_place(drop_id=payload.drop_id, email=payload.email, quantity=payload.quantity)
        except Drop.DoesNotExist:
            return 404, {"code": "not_found", "message": "No such drop.", "fields": {"drop_id": ["unknown"]}}
        return 201, HoldOut.from_orm(hold).model_dump(mode="json")

    return _respond(request, *run_idempotent(request, payload=payload.dict(), handler=handler))


@router.post("/holds/{token}/checkout", response={201: OrderOut}, auth=PartnerKey("orders:write"))
def checkout_hold(request, token: str, payload: CheckoutIn):
    """Turn a live hold into an order and start payment (`payment_url` for Stripe).

    201 → the order. 410 `hold_expired`; 422 `coupon_*`; 502 `payment_provider_error`;
    404 `not_found`. Idempotent per hold, and with `Idempotency-Key`.
    """

    def handler():
        if not Hold.objects.filter(token=token).exists():
            return 404, {"code": "not_found", "message": "No such hold.", "fields": {}}
        order = checkout_start(hold_token=token, coupon_code=payload.coupon_code)
        order = orders_list().get(pk=order.pk)
        return 201, OrderOut.from_orm(order).model_dump(mode="json")

    return _respond(request, *run_idempotent(request, payload={"token": token, **payload.dict()}, handler=handler))


@router.get("/orders", response=list[OrderOut], auth=PartnerKey("orders:read"))
@paginate(PageNumberPagination, page_size=50)
def list_orders(request, status: str | None = None):
    """Orders newest first with their lines; amounts in minor units. Filter `?status=`."""
    qs = orders_list()
    if status:
        qs = qs.filter(status=status)
    return qs


@router.get("/orders/{number}", response=OrderOut, auth=PartnerKey("orders:read"))
def get_order(request, number: str):
    """One order by its number (e.g. MM-1A2B3C4D)."""
    return get_object_or_404(orders_list(), number=number)
