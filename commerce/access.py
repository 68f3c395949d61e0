"""Who may see and do what through the partner API: the one ownership policy (docs/access.md).

Every object a partner key can reach is either **shop catalogue** (what the public storefront
shows anyway: live sessions, drops and their status, a sample campaign's micro-form) or has one
**owner**: a partner, or the shop (an empty owner: made on the storefront or by staff).

| model                    | owner (a path to a `Partner`)   | set by                                  |
|--------------------------|---------------------------------|-----------------------------------------|
| `commerce.Hold`          | `partner`                       | the key that placed it                  |
| `commerce.Order`         | `partner`                       | copied from its hold at checkout        |
| `commerce.PopUp`         | `partner`                       | staff (the pickup partner)              |
| `commerce.PickupSlot`    | `popup__partner`                | its pop-up                              |
| `commerce.PickupBooking` | `slot__popup__partner`          | its slot's pop-up                       |
| `sampling.SampleRequest` | `partner`                       | the key that created it                 |
| `sampling.SampleCampaign`| `fulfilment_partner`            | staff (the 3PL that ships it)           |

A key reaches the objects its partner owns, or, with the `shop` scope, every owner's objects.
Anything else answers exactly like a missing object: `NotFound` (404 `not_found`), so a key
cannot tell "not yours" from "does not exist". Analytics (KPIs, cohorts, raw events) are shop
data: their scopes work only together with `shop` (`scope_denial`).

Endpoints never filter by partner themselves: they call `owned_by` / the named helpers below.
`tests/test_access_partners.py` walks the OpenAPI schema so that every operation is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.core import signing
from django.db.models import Model, QuerySet

from .exceptions import CommerceError, ErrorCode, PassExpired, PassInvalid
from .models import ApiKey, Hold, Order, Partner, PickupBooking, PickupSlot, PopUp
from .models.partner import SHOP_SCOPE

# model label → the lookup path from that model to its owning Partner (empty owner = the shop)
OWNER_PATHS: dict[str, str] = {
    "commerce.Hold": "partner",
    "commerce.Order": "partner",
    "commerce.PopUp": "partner",
    "commerce.PickupSlot": "popup__partner",
    "commerce.PickupBooking": "slot__popup__partner",
    "sampling.SampleRequest": "partner",
    "sampling.SampleCampaign": "fulfilment_partner",
    # session assets (docs/access.md, "Session assets"): an upload is the partner's that opened it
    "sessions_app.RecordingUpload": "partner",
}
# Shop catalogue: shown by the public storefront anyway, so any key with the read scope sees it.
SHOP_CATALOGUE: frozenset[str] = frozenset(
    {
        "sessions_app.LiveSession",
        "sessions_app.Series",
        "sessions_app.SessionFormat",
        "commerce.Drop",
        "sampling.SampleCampaign",
        # public clips (and recordings, while the replay page shows them) are on the storefront
        "sessions_app.Recording",
        "sessions_app.Clip",
    }
)
# Shop data: these scopes are granted only to keys that also act for the shop.
SHOP_ONLY_SCOPES: frozenset[str] = frozenset(
    {
        "analytics:read",
        "analytics:events",
        "sessions:control",  # the live control room's API
        "waitlist:read",
        "drops:write",
        "memberships:read",  # who is a member is shop data (memberships have no partner owner)
    }
)

M = TypeVar("M", bound=Model)


class NotFound(CommerceError):
    """The object does not exist *or* belongs to someone else: the same answer for both."""

    code = ErrorCode.NOT_FOUND
    status = 404

    def __init__(self, message: str = "Not found.", **extra):
        super().__init__(message, **extra)


@dataclass(frozen=True)
class Caller:
    """Who calls the API: the key's partner, and whether the key acts for the shop (`shop` scope)."""

    partner: Partner
    for_shop: bool = False

    @classmethod
    def from_key(cls, key: ApiKey) -> Caller:
        return cls(partner=key.partner, for_shop=key.acts_for_shop)

    @property
    def label(self) -> str:
        return f"partner:{self.partner.name}"


def buyer_links_visible(*, caller: Caller, order) -> bool:
    """May this caller receive the buyer's private links of `order` (order page, pass page, payment page)?

    Only the owner that placed the order (the partner whose key placed it) or a shop-scope key. A pickup
    partner operating the pop-up where a shop-owned order is collected sees the booking and its door
    token, never the buyer's links: with them it could cancel the order (and so refund it) as the buyer.
    """
    return caller.for_shop or (order.partner_id is not None and order.partner_id == caller.partner.pk)


def scope_denial(key: ApiKey, scope: str) -> str | None:
    """Why `key` may not use an operation needing `scope` (a message for the 403), or None if it may."""
    if not key.has_scope(scope):
        return f"This API key lacks the {scope!r} scope."
    if scope in SHOP_ONLY_SCOPES and not key.acts_for_shop:
        return f"{scope!r} is shop data: the key needs the {SHOP_SCOPE!r} scope as well."
    return None


def _owner_path(model: type[Model], through: str | None) -> str:
    if through:
        related = model._meta.get_field(through).related_model
        return f"{through}__{_owner_path(related, None)}"
    try:
        return OWNER_PATHS[model._meta.label]
    except KeyError:
        raise LookupError(
            f"{model._meta.label} has no owner in commerce.access.OWNER_PATHS; add one (docs/access.md)"
        ) from None


def owned_by(qs: QuerySet[M], caller: Caller, *, through: str | None = None) -> QuerySet[M]:
    """`qs` narrowed to what `caller` owns (all of it for a shop key).

    `through` names a relation whose owner counts instead (a sample request reached through
    its campaign by the campaign's 3PL). Raises LookupError for a model without an owner.
    """
    path = _owner_path(qs.model, through)
    if caller.for_shop:
        return qs
    return qs.filter(**{path: caller.partner})


def get_owned(qs: QuerySet[M], caller: Caller, *, through: str | None = None, **lookup) -> M:
    """The one object of `qs` matching `lookup` that `caller` owns; NotFound if missing or not theirs."""
    obj = owned_by(qs, caller, through=through).filter(**lookup).first()
    if obj is None:
        raise NotFound()
    return obj


def catalogue(qs: QuerySet[M]) -> QuerySet[M]:
    """Shop catalogue rows are visible to every key with the read scope: `qs` unchanged (checked)."""
    if qs.model._meta.label not in SHOP_CATALOGUE:
        raise LookupError(f"{qs.model._meta.label} is not shop catalogue (commerce.access.SHOP_CATALOGUE)")
    return qs


# --- orders and holds ---------------------------------------------------------------------------


def partner_orders(*, caller: Caller) -> QuerySet[Order]:
    """The orders `caller` may read (newest first, lines loaded)."""
    from .selectors import orders_list

    return owned_by(orders_list(), caller)


def order_for_partner(*, caller: Caller, number: str) -> Order:
    """One of the caller's orders by number; NotFound otherwise."""
    return get_owned(partner_orders(caller=caller), caller, number=number)


def hold_for_partner(*, caller: Caller, token: str) -> Hold:
    """One of the caller's holds by token; NotFound otherwise."""
    return get_owned(Hold.objects.all(), caller, token=token)


# --- pickup -------------------------------------------------------------------------------------


def partner_popups(*, caller: Caller) -> QuerySet[PopUp]:
    return owned_by(PopUp.objects.all(), caller)


def popup_for_partner(*, caller: Caller, popup_id: int) -> PopUp:
    return get_owned(PopUp.objects.all(), caller, pk=popup_id)


def slot_for_partner(*, caller: Caller, slot_id: int) -> PickupSlot:
    return get_owned(PickupSlot.objects.select_related("popup"), caller, pk=slot_id)


def booking_for_partner(*, caller: Caller, order_number: str) -> PickupBooking:
    qs = PickupBooking.objects.select_related("order__customer", "slot__popup")
    return get_owned(qs, caller, order__number__iexact=order_number)


def booking_for_pass(*, caller: Caller, token: str) -> PickupBooking:
    """The booking a pass token stands for, at one of the caller's pop-ups.

    Forged, replaced, cancelled and other partners' passes all raise PassInvalid (404 `pass_invalid`);
    PassExpired (410 `pass_expired`) only for a genuine pass of the caller's own pop-up.
    """
    from .services.pickup import pickup_pass_verify

    try:
        booking = pickup_pass_verify(token=token)
    except PassExpired:
        if not owned_by(PickupBooking.objects.filter(pk=_pass_booking_id(token)), caller).exists():
            raise PassInvalid("This is not a valid pickup pass.") from None
        raise
    if not owned_by(PickupBooking.objects.filter(pk=booking.pk), caller).exists():
        raise PassInvalid("This is not a valid pickup pass.")
    return booking


def _pass_booking_id(token: str) -> int | None:
    """The booking id inside a (genuine, already verified) pass token."""
    from .services.pickup import PASS_SALT

    return int(signing.Signer(salt=PASS_SALT).unsign_object(token.strip())["b"])


# --- sampling -----------------------------------------------------------------------------------


def _sample_requests() -> QuerySet:
    from sampling.models import SampleRequest

    return SampleRequest.objects.select_related("campaign")


def partner_sample_requests(*, caller: Caller) -> QuerySet:
    """Sample requests the caller created (its own micro-forms)."""
    return owned_by(_sample_requests(), caller)


def sample_request_for_partner(*, caller: Caller, request_id: int):
    return get_owned(_sample_requests(), caller, pk=request_id)


def sample_request_is_callers(*, caller: Caller, request_id: int) -> bool:
    return owned_by(_sample_requests().filter(pk=request_id), caller).exists()


def campaign_to_fulfil(*, caller: Caller, slug: str):
    """A campaign the caller ships (its 3PL), by slug; NotFound otherwise."""
    from sampling.models import SampleCampaign

    return get_owned(SampleCampaign.objects.all(), caller, slug=slug)


def sample_requests_to_fulfil(*, caller: Caller) -> QuerySet:
    """Requests of the campaigns the caller ships: what its shipments export and tracking import reach."""
    return owned_by(_sample_requests(), caller, through="campaign")
