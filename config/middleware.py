"""The request guard: refuse input no database column can hold before any view, form or query sees it.

Early in MIDDLEWARE (config/settings.py). For every request it looks at the decoded path, the
query string, the headers and the body (form fields, JSON strings and keys, text bodies) and
answers 400 `bad_request` when one holds a NUL character (U+0000, which PostgreSQL text cannot
store) or a lone UTF-16 surrogate (U+D800–U+DFFF, which UTF-8 cannot encode). A body over
DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 `payload_too_large` before it is read.

Under /api/ the answers are JSON `{code, message, fields}`; elsewhere the plain HTML error page
(config.errors). File uploads in multipart bodies are not inspected (their bytes are the file's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from .errors import error_response, response_for_exception, wants_json

#: Characters no stored string may contain.
FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
#: A JSON escape that may decode to one of them (checked by parsing only when present).
FORBIDDEN_JSON_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
PROBLEM = "contains a NUL character or an invalid (surrogate) code point"


class BadInput(Exception):
    def __init__(self, where: str):
        self.where = where


def _check(value: str, where: str) -> None:
    if FORBIDDEN.search(value):
        raise BadInput(where)


def _walk_json(value, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            yield path, str(key)
            yield from _walk_json(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_json(item, f"{where}.{index}" if where else str(index))


class RequestGuardMiddleware:
    """400 for NUL/surrogates in path, query, headers or body; 413 for an oversized body (see module doc)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            self.inspect(request)
        except BadInput as bad:
            return error_response(
                request,
                400,
                message=f"'{bad.where}' {PROBLEM}.",
                fields={bad.where: [PROBLEM]},
            )
        except (RequestDataTooBig, SuspiciousOperation, BadRequest, MultiPartParserError) as exc:
            return response_for_exception(request, exc) or error_response(request, 400, message=str(exc) or None)
        response = self.get_response(request)
        if response.status_code == 405 and wants_json(request) and "json" not in response.get("Content-Type", ""):
            # django-ninja answers a wrong method with Django's bare HTML 405: give API callers the error shape
            allowed = response.get("Allow", "")
            response = error_response(
                request, 405, message=f"Method {request.method} is not allowed here; allowed: {allowed}."
            )
            response["Allow"] = allowed
        return response

    def inspect(self, request: HttpRequest) -> None:
        _check(request.path_info, "path")
        for key, values in request.GET.lists():
            _check(key, key)
            for value in values:
                _check(value, key)
        for name, value in request.META.items():
            if name.startswith("HTTP_") and isinstance(value, str):
                _check(value, name[5:].replace("_", "-").title())
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        self.inspect_body(request)

    def inspect_body(self, request: HttpRequest) -> None:
        content_type = (request.content_type or "").lower()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise BadRequest("Content-Length is not a number.") from None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # multipart is spooled to disk by Django; a resumable upload chunk is streamed by its view
        # (sessions_app.assets.api) and never read whole, so neither is held to the in-memory limit.
        streamed = content_type in ("multipart/form-data", "application/offset+octet-stream")
        if limit is not None and length > limit and not streamed:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, values in request.POST.lists():
                _check(key, key)
                for value in values:
                    _check(value, key)
        elif content_type == "application/json" or content_type.endswith("+json"):
            body = request.body
            if b"\x00" in body:
                raise BadInput("body")
            if FORBIDDEN_JSON_ESCAPE.search(body):
                try:
                    data = json.loads(body)
                except ValueError:
                    return  # not JSON: the view answers its own parse error
                for where, value in _walk_json(data, ""):
                    _check(value, where or "body")
        elif (content_type.startswith("text/") or not content_type) and length and b"\x00" in request.body:
            raise BadInput("body")
