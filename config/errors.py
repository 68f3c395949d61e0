"""One error shape for every entry point: JSON under /api/, plain HTML pages on the storefront and admin.

API errors are `{"code": str, "message": str, "fields": {name: [problem, …]}}` (docs/errors.md).
Django's error handlers (`handler400/403/404/500` in config/urls.py) come here, so errors raised
outside a view (in middleware, while reading the body, while the database is down) get the same
answers as errors raised inside one:

- 400 `bad_request`: a NUL byte or a lone surrogate anywhere in the request (config.middleware),
  a malformed body, any other SuspiciousOperation;
- 413 `payload_too_large`: a body over DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig);
- 503 `service_unavailable` + `Retry-After`: the database cannot be reached (OperationalError,
  InterfaceError), or Redis (the shared cache, rate limits, the watch buffer) cannot (redis-py's
  ConnectionError, TimeoutError);
- 500 `server_error` only for real bugs.

Error pages are rendered without a request context on purpose: no context processor, session or
user lookup may touch the database while the answer is "the database is down".
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import TemplateDoesNotExist, loader
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("config.errors")

API_PREFIX = "/api/"

#: Exceptions that mean "the database is not answering": the request may succeed if retried later.
DATABASE_DOWN = (OperationalError, InterfaceError)
#: The same for Redis (REDIS_URL): the cache, rate limits and watch buffer are down, not the code wrong.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)

MESSAGES = {
    400: ("bad_request", "The request could not be understood."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("payload_too_large", "The request body is too large."),
    422: ("invalid", "The request has invalid fields."),
    429: ("rate_limited", "Too many requests; try again later."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
    503: ("service_unavailable", "The service is briefly unavailable; try again shortly."),
}


def retry_after_seconds() -> int:
    return int(getattr(settings, "SERVICE_UNAVAILABLE_RETRY_AFTER", 30))


def wants_json(request: HttpRequest) -> bool:
    """API callers, JSON senders (e.g. the analytics beacon) and page scripts that ask for JSON (`Accept:
    application/json`: the micro-form, watch-reward and share posts) get JSON errors; everyone else an
    HTML page."""
    content_type = (request.content_type or "").lower()
    return (
        request.path_info.startswith(API_PREFIX)
        or content_type == "application/json"
        or content_type.endswith("+json")
        or "application/json" in request.headers.get("Accept", "").lower()
    )


def error_body(status: int, *, code: str | None = None, message: str | None = None, fields: dict | None = None) -> dict:
    default_code, default_message = MESSAGES.get(status, ("http_error", "Error."))
    return {"code": code or default_code, "message": message or default_message, "fields": fields or {}}


def error_response(
    request: HttpRequest,
    status: int,
    *,
    code: str | None = None,
    message: str | None = None,
    fields: dict | None = None,
) -> HttpResponse:
    """The error answer for `status`: JSON `{code, message, fields}` under /api/, else the HTML page."""
    body = error_body(status, code=code, message=message, fields=fields)
    if wants_json(request):
        response: HttpResponse = JsonResponse(body, status=status)
    else:
        response = HttpResponse(_render_page(status, body), status=status, content_type="text/html; charset=utf-8")
    if status == 503:
        response["Retry-After"] = str(retry_after_seconds())
    if status >= 500:
        response["Cache-Control"] = "no-store"
    return response


def _render_page(status: int, body: dict) -> str:
    context = {"status": status, "message": body["message"], "shop_name": settings.SHOP_NAME}
    try:
        return loader.render_to_string(f"{status}.html", context)
    except TemplateDoesNotExist:
        return loader.render_to_string("errors/base.html", context)


def response_for_exception(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The answer for an exception a user can cause or a service outage; None for a real bug."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response(
            request, 413, message=f"The request body is larger than {limit} bytes.", fields={"body": ["too large"]}
        )
    if isinstance(exc, DATABASE_DOWN):
        logger.error("Database unavailable, answering 503: %s", exc)
        return error_response(request, 503)
    if isinstance(exc, REDIS_DOWN):
        logger.error("Redis unavailable, answering 503: %s", exc)
        return error_response(request, 503)
    if isinstance(exc, DataError):
        # A value the database refuses (out of range, NUL, …) that no validator caught: the caller's input.
        logger.warning("DataError answered as 400 on %s: %s", request.path_info, exc, exc_info=exc)
        return error_response(request, 400, message="The request contains a value that cannot be stored.")
    return None


# --- Django's error handlers (config/urls.py) ----------------------------------------------------


def bad_request(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    if exception is not None and (response := response_for_exception(request, exception)) is not None:
        return response
    return error_response(request, 400)


def permission_denied(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return error_response(request, 403)


def page_not_found(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return error_response(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it inside its `except` block, so the exception is in sys.exc_info()."""
    exc = sys.exc_info()[1]
    if exc is not None and (response := response_for_exception(request, exc)) is not None:
        return response
    return error_response(request, 500)
