"""Members-only gating: which drops are exclusive, what members pay, what a page may show (docs/members-only.md).

The rules live here once; the hold service (commerce.services.holds.hold_place), the storefront pages, the
session page and the partner API all ask these functions. Proof of membership is the member pass only
(commerce.memberships.identity): the signed `mm_member` cookie in a browser, the `member_pass` field in the
API. An e-mail address is never proof.

Member price rule (with dynamic pricing): a drop's `member_price_minor` is a ceiling for members, not a
fixed price. Members pay min(member price, the drop's current scheduled price at `now`)
(commerce.pricing.drop_price_quote): when a step-down or step-up schedule takes the public price below
the member price, members pay the public price too. The price is locked into the hold like any other.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from ..exceptions import MembersOnly
from .identity import membership_for_pass
from .models import Membership

MEMBERS_ONLY_MESSAGE = "This drop is for members only. Join the VIP membership to buy it, or open your member link."


def drop_is_exclusive(drop) -> bool:
    """True if only members whose pass grants access may hold or buy `drop` (the drop or its SKU is members-only)."""
    return bool(drop.members_only or drop.sku.members_only)


def member_unit_price(
    drop,
    membership: Membership | None,
    *,
    now: dt.datetime | None = None,
    current_price_minor: int | None = None,
) -> int | None:
    """The unit price (minor units of `drop.currency`) a member pays instead of the current price, or None.

    None when there is no membership granting access at `now`, when the drop has no member price, or when the
    member price is not lower than the current price (`current_price_minor`, else computed from the drop's
    price schedule at `now`): members pay min(member price, current price) (module docstring).
    """
    now = now or timezone.now()
    if membership is None or drop.member_price_minor is None or not membership.grants_access(now):
        return None
    if current_price_minor is None:
        from ..pricing import drop_price_quote

        current_price_minor = drop_price_quote(drop, now=now).unit_price_minor
    return drop.member_price_minor if drop.member_price_minor < current_price_minor else None


def hold_membership_check(*, drop, member_pass: str | None, now: dt.datetime) -> Membership | None:
    """The membership a hold on `drop` is placed for, or None for a public hold without a member price.

    An exclusive drop needs a pass granting access at `now`, else MembersOnly (403 `members_only`). On a
    drop that is not exclusive a pass only matters for the member price: a missing or lapsed pass there
    is simply a public hold. The caller must still check that the hold's customer is the member's
    (hold_place does, inside its transaction).
    """
    exclusive = drop_is_exclusive(drop)
    if not exclusive and (not member_pass or drop.member_price_minor is None):
        return None
    membership = membership_for_pass(member_pass, now=now)
    if membership is None and exclusive:
        raise MembersOnly(MEMBERS_ONLY_MESSAGE)
    return membership


def drop_member_terms(*, drop, status: dict, membership: Membership | None, now: dt.datetime) -> dict:
    """What a page shows for `drop` to this viewer.

    Shape: {"exclusive": bool, "locked": bool (exclusive and the viewer has no pass granting access: show
    "Members only" and the join link, no buy form), "member_price_minor": int | None (the price this member
    pays, when lower than `status["price_minor"]`), "is_member": bool}.
    """
    exclusive = drop_is_exclusive(drop)
    is_member = membership is not None and membership.grants_access(now)
    return {
        "exclusive": exclusive,
        "locked": exclusive and not is_member,
        "is_member": is_member,
        "member_price_minor": member_unit_price(
            drop, membership, now=now, current_price_minor=status.get("price_minor")
        ),
    }


def session_stream_visible(*, session, membership: Membership | None, now: dt.datetime) -> bool:
    """True if this viewer may get the session's stream URL/embed: public sessions always, members-only
    sessions only with a membership granting access at `now`."""
    if not session.members_only:
        return True
    return membership is not None and membership.grants_access(now)
