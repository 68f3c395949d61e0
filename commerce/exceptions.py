"""Commerce errors: one base class with a stable `code`, mapped to 4xx JSON by config/api.py."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    SOLD_OUT = "sold_out"
    NOT_YET_OPEN = "not_yet_open"
    CLOSED = "closed"
    LIMIT_EXCEEDED = "per_customer_limit_exceeded"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_EMAIL = "invalid_email"
    NOT_FOUND = "not_found"
    INVALID_TRANSITION = "invalid_transition"


class CommerceError(Exception):
    """Base for every domain error raised by commerce services.

    `code` is stable (API clients branch on it), `message` is for people,
    `extra` carries structured details (e.g. remaining stock).
    """

    code: ErrorCode = ErrorCode.NOT_FOUND
    status = 409

    def __init__(self, message: str, *, code: ErrorCode | None = None, **extra):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra


class DropUnavailable(CommerceError):
    """The drop cannot sell now: sold out, not yet open or closed (see `code`)."""

    code = ErrorCode.SOLD_OUT


class LimitExceeded(CommerceError):
    code = ErrorCode.LIMIT_EXCEEDED


class InvalidInput(CommerceError):
    code = ErrorCode.INVALID_QUANTITY
    status = 422


class InvalidTransition(CommerceError):
    code = ErrorCode.INVALID_TRANSITION
