"""`Idempotency-Key` for API writes: a replay returns the first answer (its status and JSON).

The first request with a key inserts an IdempotencyRecord (unique per partner
and key) before doing any work; that insert is the claim, so two concurrent
requests with one key cannot both act. Later requests with the same key and the
same method, path and body get the stored status and JSON (the same members and values; on
PostgreSQL the stored JSON is jsonb, so members may come back in another order); the same key with a
different request gets 422 `idempotency_key_reused`; a key whose first request
is still running gets 409 `idempotency_in_progress`. Domain errors (sold out, …)
are answers too and are replayed as such.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction

from .exceptions import CommerceError
from .models import IdempotencyRecord

MAX_KEY_LENGTH = 200


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def run_idempotent(request, *, payload: dict, handler: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Run `handler` (returning (status, JSON-able body)) at most once per Idempotency-Key.

    Without the header the handler simply runs. CommerceError raised by the
    handler becomes (exc.status, {code, message, fields}).
    """
    key = (request.headers.get("Idempotency-Key") or "").strip()

    def call() -> tuple[int, dict]:
        try:
            return handler()
        except CommerceError as exc:
            body = error_body(str(exc.code), exc.message, exc.fields)
            return exc.status, json.loads(json.dumps(body, cls=DjangoJSONEncoder))  # ISO 8601 times

    if not key:
        return call()
    if len(key) > MAX_KEY_LENGTH:
        return 422, error_body("invalid", f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.")
    digest = hashlib.sha256(
        json.dumps([request.method, request.path, payload], sort_keys=True, default=str).encode()
    ).hexdigest()
    partner = request.auth.partner
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(partner=partner, key=key, request_hash=digest)
    except IntegrityError:
        record = IdempotencyRecord.objects.get(partner=partner, key=key)
        if record.request_hash != digest:
            return 422, error_body("idempotency_key_reused", "This Idempotency-Key was used for a different request.")
        if record.response_status is None:
            return 409, error_body("idempotency_in_progress", "The first request with this key is still running.")
        return record.response_status, record.response_body
    try:
        status, body = call()
    except Exception:
        record.delete()  # nothing was answered: let the client retry with the same key
        raise
    IdempotencyRecord.objects.filter(pk=record.pk).update(response_status=status, response_body=body)
    return status, body
