"""Sampling errors: one base class with a stable `code` and an HTTP status, mapped to JSON by config/api.py."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    INVALID_EMAIL = "invalid_email"
    INVALID_USE_CASE = "invalid_use_case"
    CONSENT_REQUIRED = "consent_required"
    RATE_LIMITED = "rate_limited"
    INVALID_ADDRESS = "invalid_address"
    COUNTRY_NOT_ELIGIBLE = "country_not_eligible"
    SAME_HOUSEHOLD = "same_household"
    INVALID_TRANSITION = "invalid_transition"
    REASON_REQUIRED = "reason_required"
    SOLD_OUT = "sold_out"
    OFFER_NOT_OPEN = "offer_not_yet_open"
    OFFER_EXPIRED = "offer_expired"
    OFFER_REDEEMED = "offer_already_redeemed"
    OFFER_NOT_YOURS = "offer_not_yours"
    OFFER_WRONG_DROP = "offer_wrong_drop"
    INVALID_QUANTITY = "invalid_quantity"


class SamplingError(Exception):
    """Base for every domain error raised by sampling services.

    `code` is stable (API clients branch on it), `message` is plain words for
    people, `status` the HTTP status the API answers with, `extra` structured
    details (e.g. per-field address errors in `fields`).
    """

    code: ErrorCode = ErrorCode.NOT_FOUND
    status = 409

    def __init__(self, message: str, *, code: ErrorCode | None = None, status: int | None = None, **extra):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra


class InvalidRequest(SamplingError):
    """Bad input a person can fix: e-mail, use case, consent, address (422)."""

    code = ErrorCode.INVALID_EMAIL
    status = 422


class RateLimited(SamplingError):
    """Too many requests from one IP address or for one e-mail (429)."""

    code = ErrorCode.RATE_LIMITED
    status = 429


class InvalidTransition(SamplingError):
    """A status change the flow does not allow (409)."""

    code = ErrorCode.INVALID_TRANSITION


class OfferError(SamplingError):
    """A follow-up offer that cannot be redeemed now (see `code`)."""

    code = ErrorCode.OFFER_EXPIRED
