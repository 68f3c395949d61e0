"""Partner API: refundable trials (docs/trials.md, "API").

- `POST /orders/{number}/lines/{line_id}/trial-return` (scope `trials:write`): ask for the return of a
  trial line of one of the key's own orders (another partner's order answers 404 like a missing one).
  Accepts `Idempotency-Key`; asking twice returns the same request.
- `GET /trial-returns` (scope `trials:read`): trial returns of the key's own orders (every owner's with
  `shop`), newest first, paginated.
Staff receive the item and refund it in the admin; the API never refunds.
"""

from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema
from ninja.pagination import paginate

from config.api import PartnerKey, api
from config.bounds import Id
from config.pagination import PageNumberPagination

from ..access import NotFound, order_for_partner, partner_orders
from ..idempotency import run_idempotent
from ..models import OrderLine
from .selectors_bundles import trial_returns_for_orders
from .services_trials import trial_return_request

router = Router(tags=["trials"])


class TrialReturnIn(Schema):
    reason: str = Field("", max_length=500, description="Why the buyer returns it (optional).")


class TrialReturnOut(Schema):
    id: int
    order_number: str
    line_id: int
    status: str = Field(description="requested | received (refund issued) | cancelled.")
    reason: str
    requested_at: dt.datetime = Field(description="UTC.")
    window_ends_at: dt.datetime = Field(description="End of the trial window (UTC): paid_at + trial_days days.")
    received_at: dt.datetime | None
    refund_amount_minor: int | None = Field(description="Minor units of `currency`, once refunded.")
    currency: str

    @staticmethod
    def resolve_order_number(obj):
        return obj.order.number

    @staticmethod
    def resolve_line_id(obj):
        return obj.order_line_id

    @staticmethod
    def resolve_refund_amount_minor(obj):
        return obj.refund.amount_minor if obj.refund_id else None

    @staticmethod
    def resolve_currency(obj):
        return obj.order.currency


@router.post(
    "/orders/{number}/lines/{line_id}/trial-return",
    response={201: TrialReturnOut},
    auth=PartnerKey("trials:write"),
)
def request_trial_return(request, number: str, line_id: Id, payload: TrialReturnIn):
    """Ask for the return of a trial line within its window.

    201 → the TrialReturn (the same one when asked again). 404 `not_found`: unknown order or line, or another
    partner's order; 409 `trial_window_closed` (the sale is final) | `trial_not_returnable` (not a trial line,
    order not paid, already refunded).
    """

    def handler():
        order = order_for_partner(caller=request.caller, number=number)  # NotFound for others' orders
        try:
            tr = trial_return_request(order_id=order.pk, line_id=line_id, reason=payload.reason)
        except OrderLine.DoesNotExist as exc:
            raise NotFound() from exc
        tr = trial_returns_for_orders(partner_orders(caller=request.caller)).get(pk=tr.pk)
        return 201, TrialReturnOut.from_orm(tr).model_dump(mode="json")

    body = {"number": number, "line_id": line_id, **payload.dict()}
    status, answer = run_idempotent(request, payload=body, handler=handler)
    return api.create_response(request, answer, status=status)


@router.get("/trial-returns", response=list[TrialReturnOut], auth=PartnerKey("trials:read"))
@paginate(PageNumberPagination, page_size=50)
def list_trial_returns(request):
    """Trial returns of the caller's orders, newest request first. Paginated → {"items": [...], "count": total}."""
    return trial_returns_for_orders(partner_orders(caller=request.caller)).order_by("-requested_at", "-pk")
