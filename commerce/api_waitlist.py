"""Partner API: waitlists and stock carry-over (docs/waitlist.md, "API").

- `POST /waitlist/entries` (scope `waitlist:write`): put a viewer in line for a drop. Always 202 with
  the same body: the answer never says whether the address was already on the list; the viewer
  gets the e-mail with the leave link. Offers are claimed by their e-mailed link only, never here.
- `GET /drops/{drop_id}/waitlist` (scope `waitlist:read`, shop data: needs `shop` too): people
  waiting, units wanted, and the revenue if the quantity were raised to serve them all.
- `POST /drops/{drop_id}/carry-over` (scope `drops:write`, shop only): move an ended drop's unsold
  units into the series' next session.
Writes accept `Idempotency-Key` (commerce.idempotency).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from ninja import Field, Router, Schema
from pydantic import StrictInt

from config.api import PartnerKey, api
from config.bounds import Id, StrictId

from .access import NotFound, catalogue
from .idempotency import run_idempotent
from .models import Drop
from .selectors_waitlist import waitlist_summary
from .services.carry_over import stock_carry_over
from .services.waitlist import waitlist_join

router = Router(tags=["waitlist"])

ACCEPTED = "If the address was not on the list yet, it is now; the viewer gets an e-mail either way only once."


class WaitlistJoinIn(Schema):
    drop_id: StrictId
    email: str = Field(max_length=254)
    quantity: StrictInt = Field(1, ge=1, le=99, description="Units wanted, 1..the drop's per-customer limit.")


class AcceptedOut(Schema):
    status: str = Field(description="Always `accepted`: no state is revealed.")
    message: str


class WaitlistSummaryOut(Schema):
    drop_id: int
    waiting: int = Field(description="People still waiting (not counting open offers).")
    units_wanted: int
    offers_open: int = Field(description="Offers out now; their units are reserved.")
    unit_price_minor: int = Field(description="The drop's current unit price, minor units of `currency`.")
    currency: str
    revenue_if_raised_minor: int = Field(description="units_wanted × unit_price_minor (minor units).")


class CarryOverOut(Schema):
    units: int = Field(description="Units moved (0: nothing unsold).")
    from_drop_id: int
    to_drop_id: int | None
    to_session_id: str | None = Field(description="Public id of the session that received them.")
    at: dt.datetime | None


def _respond(request, status: int, body: dict):
    return api.create_response(request, body, status=status)


def _drop(drop_id: int) -> Drop:
    drop = catalogue(Drop.objects.select_related("session")).filter(pk=drop_id).first()
    if drop is None:
        raise NotFound()
    return drop


@router.post("/waitlist/entries", response={202: AcceptedOut}, auth=PartnerKey("waitlist:write"))
def join_waitlist(request, payload: WaitlistJoinIn):
    """Put a viewer (`email`) in line for `quantity` units of a sold-out drop.

    202 → accepted (same answer whether or not the address was already in line). 404 unknown drop;
    409 `not_sold_out`, `waitlist_closed`, `waitlist_pickup_only`; 422 `invalid_email`, `invalid_quantity`.
    """

    def handler():
        _drop(payload.drop_id)
        waitlist_join(
            drop_id=payload.drop_id, email=payload.email, quantity=payload.quantity, partner_id=request.partner.pk
        )
        return 202, {"status": "accepted", "message": ACCEPTED}

    return _respond(request, *run_idempotent(request, payload=payload.dict(), handler=handler))


@router.get("/drops/{drop_id}/waitlist", response=WaitlistSummaryOut, auth=PartnerKey("waitlist:read"))
def get_waitlist_summary(request, drop_id: Id):
    """A drop's waitlist: people waiting, units wanted, revenue if raised (minor units + currency). 404 unknown drop."""
    try:
        drop = _drop(drop_id)
    except NotFound as exc:
        return _respond(request, 404, {"code": "not_found", "message": exc.message, "fields": {}})
    return waitlist_summary(drop=drop, now=timezone.now()).__dict__


@router.post("/drops/{drop_id}/carry-over", response={200: CarryOverOut}, auth=PartnerKey("drops:write"))
def carry_over(request, drop_id: Id):
    """Move an ended drop's unsold units into the same SKU's drop of the series' next session.

    200 → what moved (`units` 0 when nothing was unsold). 404 unknown drop; 409 `session_not_ended`,
    `no_next_session` (nothing moves).
    """

    def handler():
        drop = _drop(drop_id)
        transfer = stock_carry_over(drop_id=drop.pk, actor=request.caller.label)
        if transfer is None:
            return 200, {"units": 0, "from_drop_id": drop.pk, "to_drop_id": None, "to_session_id": None, "at": None}
        return 200, {
            "units": transfer.units,
            "from_drop_id": drop.pk,
            "to_drop_id": transfer.to_drop_id,
            "to_session_id": str(transfer.to_drop.session.public_id),
            "at": transfer.at.isoformat(),
        }

    return _respond(request, *run_idempotent(request, payload={"drop_id": drop_id}, handler=handler))
