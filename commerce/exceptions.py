"""Commerce errors: one base class with a stable `code`, mapped to 4xx JSON by config/api.py."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    SOLD_OUT = "sold_out"
    NOT_YET_OPEN = "not_yet_open"
    CLOSED = "closed"
    SESSION_NOT_LIVE = "session_not_live"
    SESSION_ENDED = "session_ended"
    SESSION_CANCELLED = "session_cancelled"
    LIMIT_EXCEEDED = "per_customer_limit_exceeded"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_EMAIL = "invalid_email"
    NOT_FOUND = "not_found"
    INVALID_TRANSITION = "invalid_transition"
    HOLD_EXPIRED = "hold_expired"
    COUPON_INVALID = "coupon_invalid"
    COUPON_EXPIRED = "coupon_expired"
    COUPON_NOT_YET_VALID = "coupon_not_yet_valid"
    COUPON_EXHAUSTED = "coupon_exhausted"
    COUPON_NOT_APPLICABLE = "coupon_not_applicable"
    COUPON_CUSTOMER_LIMIT = "coupon_customer_limit"
    PAYMENT_PROVIDER_ERROR = "payment_provider_error"
    REFUND_INVALID = "refund_invalid"
    PICKUP_SLOT_FULL = "pickup_slot_full"
    PICKUP_SLOT_REQUIRED = "pickup_slot_required"
    PICKUP_SLOT_INVALID = "pickup_slot_invalid"
    PASS_INVALID = "pass_invalid"  # noqa: S105 (an error code, not a secret)
    PASS_EXPIRED = "pass_expired"  # noqa: S105
    ALREADY_CHECKED_IN = "already_checked_in"
    PAYMENT_REQUIRED = "payment_required"
    RATE_LIMITED = "rate_limited"
    CLIENT_LIMIT = "client_limit"
    SHIPPING_ADDRESS_REQUIRED = "shipping_address_required"
    SHIPPING_ADDRESS_INVALID = "shipping_address_invalid"
    SHIPPING_UNAVAILABLE = "shipping_unavailable"
    # watch-gated coupons (docs/watch-coupons.md)
    WATCH_NOT_ENOUGH = "watch_not_enough"
    WATCH_COUPON_CLOSED = "watch_coupon_closed"
    WATCH_CODE_REQUIRED = "watch_code_required"
    WATCH_CODE_USED = "watch_code_used"
    # memberships on Stripe Billing (docs/memberships.md)
    MEMBERSHIP_EXISTS = "membership_exists"
    MEMBERSHIP_CHECKOUT_OPEN = "membership_checkout_open"
    PLAN_UNAVAILABLE = "plan_unavailable"
    # members-only drops and SKUs (docs/members-only.md)
    MEMBERS_ONLY = "members_only"
    # community bundles and refundable trials (docs/bundles.md, docs/trials.md)
    SEATS_GONE = "seats_gone"
    BUNDLE_ONE_PER_HOLD = "bundle_one_per_hold"
    TRIAL_NOT_RETURNABLE = "trial_not_returnable"
    TRIAL_WINDOW_CLOSED = "trial_window_closed"
    # share-to-unlock (docs/share-to-unlock.md)
    SHARE_CLOSED = "share_closed"
    SHARE_VISITOR_REQUIRED = "share_visitor_required"


class CommerceError(Exception):
    """Base for every domain error raised by commerce services.

    `code` is stable (API clients branch on it), `message` is for people,
    `extra` carries structured details (e.g. remaining stock), `field` names the
    input the error is about (e.g. "email"), if any.
    """

    code: ErrorCode = ErrorCode.NOT_FOUND
    status = 409
    field: str | None = None

    def __init__(self, message: str, *, code: ErrorCode | None = None, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if field is not None:
            self.field = field
        self.extra = extra

    @property
    def fields(self) -> dict:
        """The `fields` member of the API's error JSON: {field: [message]} plus `extra`."""
        return {**({self.field: [self.message]} if self.field else {}), **self.extra}


class DropUnavailable(CommerceError):
    """The drop cannot sell now: sold out, not yet open or closed, or its session does not sell
    (session_not_live / session_ended / session_cancelled, docs/sessions-and-times.md); see `code`."""

    code = ErrorCode.SOLD_OUT


class LimitExceeded(CommerceError):
    code = ErrorCode.LIMIT_EXCEEDED


class InvalidInput(CommerceError):
    code = ErrorCode.INVALID_QUANTITY
    status = 422


class InvalidTransition(CommerceError):
    code = ErrorCode.INVALID_TRANSITION


class HoldExpired(CommerceError):
    """The hold lapsed (or was released) before checkout; place a new one."""

    code = ErrorCode.HOLD_EXPIRED
    status = 410


class CouponInvalid(CommerceError):
    """The coupon cannot be used on this order (see `code`)."""

    code = ErrorCode.COUPON_INVALID
    status = 422
    field = "coupon_code"


class WatchRewardUnavailable(CommerceError):
    """No personal code for this viewer (yet): `watch_not_enough` (`extra`: seconds_left,
    watched_seconds, required_seconds), `watch_coupon_closed` (the programme or its session is not
    open for claims), `coupon_exhausted`, or `not_found` (no such programme). 409, or 404 for not_found."""

    code = ErrorCode.WATCH_NOT_ENOUGH
    status = 409


class ShareUnavailable(CommerceError):
    """No share link now: `share_closed` (the campaign is inactive or outside its window) or
    `share_visitor_required` (the request carries no visitor cookie: reload the page). 409."""

    code = ErrorCode.SHARE_CLOSED
    status = 409


class PaymentProviderError(CommerceError):
    """The payment provider could not be reached or refused the request."""

    code = ErrorCode.PAYMENT_PROVIDER_ERROR
    status = 502


class PickupSlotUnavailable(CommerceError):
    """The chosen pickup slot is full, closed or over (`code` pickup_slot_full); `extra["nearest"]` lists free slots."""

    code = ErrorCode.PICKUP_SLOT_FULL


class PickupInvalid(CommerceError):
    """A pickup request that does not fit the drop or booking (slot required, slot of another pop-up, …)."""

    code = ErrorCode.PICKUP_SLOT_INVALID
    status = 422


class PassInvalid(CommerceError):
    """A pickup pass token that is forged, malformed, superseded or expired (`code` pass_invalid / pass_expired)."""

    code = ErrorCode.PASS_INVALID
    status = 404


class PassExpired(PassInvalid):
    """A genuine pickup pass past its slot's end plus the grace period."""

    code = ErrorCode.PASS_EXPIRED
    status = 410


class AlreadyCheckedIn(CommerceError):
    """The booking was already picked up; `extra` has `checked_in_at` (ISO UTC) and `checked_in_by`."""

    code = ErrorCode.ALREADY_CHECKED_IN


class RateLimited(CommerceError):
    """Too many attempts from one client in a short window (429); `extra["retry_after"]` in seconds."""

    code = ErrorCode.RATE_LIMITED
    status = 429


class ClientLimitExceeded(CommerceError):
    """This client (IP network) already holds or bought its share of the drop, whatever the e-mail (409)."""

    code = ErrorCode.CLIENT_LIMIT


class ShippingError(CommerceError):
    """A shipped order without a usable address (`shipping_address_required` / `shipping_address_invalid`:
    `fields` maps each address field to [message]) or to a country no active shipping rate covers
    (`shipping_unavailable`, field `country_code`)."""

    code = ErrorCode.SHIPPING_UNAVAILABLE
    status = 422


class MembersOnly(CommerceError):
    """The drop (or its SKU) is exclusive to members and no member pass granting access came with the
    request, or the pass belongs to another address (403 `members_only`; docs/members-only.md). The
    message is the same in every case: it never tells whether an address is a member."""

    code = ErrorCode.MEMBERS_ONLY
    status = 403
