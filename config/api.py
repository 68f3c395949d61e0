"""The partner REST API: one NinjaAPI under /api/v1/, each app adding its router.

Auth: per-partner API keys sent as `X-API-Key: mm_<prefix>_<secret>` (or
`Authorization: Bearer mm_…`), stored hashed, scoped and revocable in the admin.
A key has exactly the scopes ticked (none = no scope). It reaches shop catalogue
(sessions, drops) and its own partner's objects (holds, orders, sample requests,
pop-ups, the shipments of campaigns it fulfils); a key with the `shop` scope
reaches every owner's objects. Another owner's object answers 404 `not_found`,
exactly like a missing one (docs/access.md).
Errors are JSON `{"code": str, "message": str, "fields": {…}}` (the `Error` schema):
400 `bad_request` (NUL bytes, malformed body), 401 `unauthorized`, 403 `forbidden`,
404 `not_found`, 409 for domain conflicts (`sold_out`, `closed`, …), 413
`payload_too_large`, 422 `invalid` (with the offending `fields`), 429 `rate_limited`,
503 `service_unavailable` with `Retry-After` while the database is down; never a 500
for bad input. Every operation documents the errors it can answer (docs/errors.md).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import Http404
from ninja import NinjaAPI, Schema, Swagger
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.security import APIKeyHeader
from pydantic import Field

from commerce.access import Caller, scope_denial
from commerce.exceptions import CommerceError
from commerce.services.api_keys import api_key_authenticate
from sampling.exceptions import SamplingError
from sessions_app.assets.cas import AssetError

from . import errors


class PartnerKey(APIKeyHeader):
    """API-key auth; `scope` is the permission an endpoint needs (e.g. "orders:read").

    403 `forbidden` unless the key has exactly that scope ticked (analytics scopes also need
    `shop`: commerce.access.scope_denial). Sets `request.caller` (commerce.access.Caller: the
    key's partner and whether it acts for the shop), which endpoints pass to commerce.access to
    narrow what they reach, and `request.partner`.
    """

    param_name = "X-API-Key"

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def _get_key(self, request):
        key = request.headers.get(self.param_name)
        if not key:
            header = request.headers.get("Authorization", "")
            if header.lower().startswith("bearer "):
                key = header[7:]
        return key

    def authenticate(self, request, key):
        api_key = api_key_authenticate(key or "")
        if api_key is None:
            return None
        denial = scope_denial(api_key, self.scope)
        if denial:
            raise AuthorizationError(message=denial)
        request.partner = api_key.partner
        request.caller = Caller.from_key(api_key)
        return api_key


class ErrorOut(Schema):
    """Every error answer of the API."""

    code: str = Field(description="Stable, machine-readable: bad_request, not_found, invalid, sold_out, …")
    message: str = Field(description="For people; may change.")
    fields: dict[str, Any] = Field(
        description="Per input field (dotted path for nested JSON): a list of problems; domain errors add details."
    )


WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
ERROR_DESCRIPTIONS = {
    400: "`bad_request`: a NUL character or lone surrogate anywhere in the request, or a malformed body.",
    401: "`unauthorized`: no valid, unrevoked API key.",
    403: "`forbidden`: the key lacks the scope this operation needs.",
    404: "`not_found`: no such object (or not yours).",
    409: "A domain conflict: `sold_out`, `closed`, `per_customer_limit_exceeded`, `already_checked_in`, …",
    410: "Gone: `hold_expired`, `pass_expired`, …",
    413: "`payload_too_large`: the body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE.",
    422: "`invalid` (or a domain code): `fields` names each bad input, e.g. an integer out of range.",
    429: "`rate_limited`: too many requests; retry after `Retry-After` seconds when given.",
    503: "`service_unavailable`: the database is briefly unreachable; retry after `Retry-After` seconds.",
}


def error_statuses(method: str, operation: dict) -> list[int]:
    """The error answers an operation can give, from what it declares: auth, method, body."""
    statuses = [400, 404, 422, 503]
    if operation.get("security"):
        statuses += [401, 403]
    if method in WRITE_METHODS:
        statuses += [409, 410, 429]
    if "requestBody" in operation or method in WRITE_METHODS:
        statuses.append(413)
    return sorted(statuses)


class PartnerAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI schema documents every operation's errors with the one `Error` schema.

    Done when the schema is built, from each operation's own shape, so operations that later
    routers add are covered without declaring anything; a status an operation declares itself
    (`response={410: ...}`) is kept as declared.
    """

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Error"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components["Error"]["title"] = "Error"
        for methods in schema["paths"].values():
            for method, operation in methods.items():
                responses = operation.setdefault("responses", {})
                for status in error_statuses(method, operation):
                    responses.setdefault(
                        status,
                        {
                            "description": ERROR_DESCRIPTIONS[status],
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                            **(
                                {"headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}}
                                if status in (429, 503)
                                else {}
                            ),
                        },
                    )
        return schema


api = PartnerAPI(
    title="Micromoments partner API",
    version="1",
    urls_namespace="api",
    description=__doc__,
    docs_url="/docs",
    # Swagger UI from ninja's bundled static files ("ninja" is in INSTALLED_APPS), never a CDN; no
    # badge from the public validator either, so the page loads nothing from another host.
    docs=Swagger(settings={"validatorUrl": None}),
)


def error(request, *, status: int, code: str, message: str, fields: dict | None = None):
    response = api.create_response(request, {"code": code, "message": message, "fields": fields or {}}, status=status)
    if status == 503:
        response["Retry-After"] = str(errors.retry_after_seconds())
    return response


@api.exception_handler(CommerceError)
def _commerce_error(request, exc: CommerceError):
    response = error(request, status=exc.status, code=str(exc.code), message=exc.message, fields=exc.fields)
    if exc.status == 429 and exc.extra.get("retry_after"):
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


@api.exception_handler(SamplingError)
def _sampling_error(request, exc: SamplingError):
    fields = exc.extra.get("fields") or {k: v for k, v in exc.extra.items() if k != "fields"}
    return error(request, status=exc.status, code=str(exc.code), message=exc.message, fields=fields)


@api.exception_handler(AssetError)
def _asset_error(request, exc: AssetError):
    """A session-asset service refused (sessions_app.assets.api.ASSET_ERROR_STATUS: 404/409/413, else 422)."""
    from sessions_app.assets.api import asset_error_status

    return error(request, status=asset_error_status(exc.code), code=exc.code, message=exc.message)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    fields: dict[str, list[str]] = {}
    for item in exc.errors:
        loc = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "payload"))
        fields.setdefault(loc or "request", []).append(item.get("msg", "invalid"))
    return error(request, status=422, code="invalid", message="The request has invalid fields.", fields=fields)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return error(request, status=401, code="unauthorized", message="A valid, unrevoked API key is required.")


@api.exception_handler(AuthorizationError)
def _forbidden(request, exc):
    return error(request, status=403, code="forbidden", message=str(exc))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error(request, status=404, code="not_found", message="Not found.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    code = errors.MESSAGES.get(exc.status_code, ("http_error",))[0]
    return error(request, status=exc.status_code, code=code, message=str(exc))


@api.exception_handler(RequestDataTooBig)
@api.exception_handler(DataError)
@api.exception_handler(errors.DATABASE_DOWN[0])
@api.exception_handler(errors.DATABASE_DOWN[1])
@api.exception_handler(errors.REDIS_DOWN[0])
@api.exception_handler(errors.REDIS_DOWN[1])
def _outage_or_unstorable(request, exc):
    """413 for an oversized body, 503 + Retry-After while the database or Redis is down, 400 for an
    unstorable value."""
    return errors.response_for_exception(request, exc)


api.add_router("/", "sessions_app.api.router")
api.add_router("/", "sessions_app.api_cadence.router")
api.add_router("/", "sessions_app.assets.api.router")
api.add_router("/", "sessions_app.api_control.router")  # the live control room (sessions:control + shop)
api.add_router("/", "commerce.api.router")
api.add_router("/", "analytics.api.router")
api.add_router("/", "sampling.api.router")
api.add_router("/pickup", "commerce.api_pickup.router")
api.add_router("/", "commerce.api_watch.router")  # watch-gated coupons (docs/watch-coupons.md)
api.add_router("/", "commerce.api_waitlist.router")
api.add_router("/", "commerce.memberships.api_memberships.router")  # plans and memberships (docs/memberships.md)
api.add_router("/", "commerce.memberships.api_bundles.router")  # community bundles (docs/bundles.md)
api.add_router("/", "commerce.memberships.api_trials.router")  # refundable trials (docs/trials.md)
