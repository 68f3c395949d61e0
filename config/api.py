"""The partner REST API: one NinjaAPI under /api/v1/, each app adding its router.

Auth: per-partner API keys sent as `X-API-Key: mm_<prefix>_<secret>` (or
`Authorization: Bearer mm_…`), stored hashed, scoped and revocable in the admin.
Errors are JSON `{"code": str, "message": str, "fields": {…}}` with a 4xx status:
401 `unauthorized`, 403 `forbidden`, 404 `not_found`, 422 `invalid`, 409 for
domain conflicts (`sold_out`, `closed`, …), never a 500 for bad input.
"""

from __future__ import annotations

from django.http import Http404
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.security import APIKeyHeader

from commerce.exceptions import CommerceError
from commerce.services.api_keys import api_key_authenticate
from sampling.exceptions import SamplingError


class PartnerKey(APIKeyHeader):
    """API-key auth; `scope` is the permission an endpoint needs (e.g. "orders:read")."""

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
        if not api_key.has_scope(self.scope):
            raise AuthorizationError(message=f"This API key lacks the {self.scope!r} scope.")
        request.partner = api_key.partner
        return api_key


api = NinjaAPI(
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
    return api.create_response(request, {"code": code, "message": message, "fields": fields or {}}, status=status)


@api.exception_handler(CommerceError)
def _commerce_error(request, exc: CommerceError):
    return error(request, status=exc.status, code=str(exc.code), message=exc.message, fields=exc.fields)


@api.exception_handler(SamplingError)
def _sampling_error(request, exc: SamplingError):
    fields = exc.extra.get("fields") or {k: v for k, v in exc.extra.items() if k != "fields"}
    return error(request, status=exc.status, code=str(exc.code), message=exc.message, fields=fields)


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
    code = {400: "bad_request", 405: "method_not_allowed", 429: "rate_limited"}.get(exc.status_code, "http_error")
    return error(request, status=exc.status_code, code=code, message=str(exc))


api.add_router("/", "sessions_app.api.router")
api.add_router("/", "commerce.api.router")
api.add_router("/", "analytics.api.router")
api.add_router("/", "sampling.api.router")
api.add_router("/pickup", "commerce.api_pickup.router")
