"""Storefront analytics endpoints: the client-side beacon and the drop call-to-action redirect."""

from __future__ import annotations

import json
import logging
import time

from django.db import DatabaseError
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from commerce.models import Drop

from .middleware import visitor_start_new
from .models import BEACON_EVENTS
from .services import event_capture_request, events_capture_many, is_bot

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_EVENTS = 20
_BEACON_FIELDS = {"name", "session_id", "drop_id", "sku_id", "props"}


def _error(status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "fields": fields or {}}, status=status)


@csrf_exempt  # sendBeacon cannot carry a CSRF token; it writes nothing but anonymous events
@require_POST
def beacon(request):
    """Accept client-side events: `{"events": [{"name", "session_id", "drop_id", "sku_id", "props"}]}`.

    Names: view, click, share, follow_up (purchases and holds are recorded by the server only).
    Body ≤ 16 KiB, ≤ 20 events, props ≤ 2 KiB each. Answers 202 {"accepted": n, "errors": […]},
    400/413/415/422 JSON errors `{code, message, fields}`, 503 when the buffer is unavailable;
    never 500. Events from bots are acknowledged and dropped. `view` events from a browser whose
    `mm_member` cookie is a valid member pass granting access now (commerce.memberships.identity) are
    recorded with the member's customer id: the session page is one shared copy for members too, so this
    is where a member's page view identifies their visitor id (missed-session credit,
    commerce.memberships.services_credits). A client cannot send a customer id itself (422). A post that names another site as its
    `Origin` is refused with 403 `cross_origin` (browsers send Origin on every POST, so another site
    cannot count its visitors as ours). An event naming a `session_id` that is not a public session
    (unknown, or private: no page of it carries the beacon) is refused with a per-event error on
    `session_id` (public_session_ids). Every answer is `Cache-Control: no-store`.
    """
    response = _beacon(request)
    patch_cache_control(response, no_store=True)
    return response


def _beacon(request):
    origin = request.headers.get("Origin")
    if origin and origin != f"{request.scheme}://{request.get_host()}":
        return _error(403, "cross_origin", "Events are accepted from this site's own pages only.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        return _error(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "too_large", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return _error(400, "invalid_json", "The body is not JSON.")
    if isinstance(data, dict) and "events" not in data:
        data = {"events": [data]}
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not events:
        return _error(422, "invalid", 'Send {"events": [...]} with at least one event.')
    if len(events) > MAX_EVENTS:
        return _error(413, "too_many_events", f"At most {MAX_EVENTS} events per request.")
    if is_bot(request.headers.get("User-Agent", "")):
        return JsonResponse({"accepted": 0, "errors": [], "bot": True}, status=202)
    valid, errors = [], []
    member_customer = _member_customer_id(request) if any(
        isinstance(e, dict) and e.get("name") == "view" for e in events
    ) else None
    named = {e["session_id"] for e in events if isinstance(e, dict) and type(e.get("session_id")) is int}
    try:
        public = public_session_ids(named)
    except DatabaseError:
        log.exception("analytics beacon: sessions not checked")
        return _error(503, "unavailable", "Events cannot be recorded right now; retry later.")
    for index, event in enumerate(events):
        if not isinstance(event, dict) or set(event) - _BEACON_FIELDS:
            errors.append({"index": index, "field": "event", "message": f"only {sorted(_BEACON_FIELDS)} are accepted"})
        elif not isinstance(event.get("name"), str) or event["name"] not in BEACON_EVENTS:
            errors.append({"index": index, "field": "name", "message": f"one of {sorted(BEACON_EVENTS)}"})
        elif type(event.get("session_id")) is int and event["session_id"] not in public:
            errors.append({"index": index, "field": "session_id", "message": "no such public session"})
        else:
            fields = {**event, "visitor_id": getattr(request, "visitor_id", None)}
            if event["name"] == "view" and member_customer is not None:
                fields["customer_id"] = member_customer
            valid.append((index, fields))
    try:
        accepted, bad = events_capture_many([e for _i, e in valid])
    except (DatabaseError, TimeoutError, RuntimeError):  # the buffer (or the writer) cannot take them now
        log.exception("analytics beacon: buffer unavailable")
        return _error(503, "unavailable", "Events cannot be recorded right now; retry later.")
    errors += [{**err, "index": valid[err["index"]][0]} for err in bad]
    status = 202 if accepted or not errors else 422
    return JsonResponse({"accepted": accepted, "errors": sorted(errors, key=lambda e: e["index"])}, status=status)


PUBLIC_SESSION_CACHE_SECONDS = 60
NOT_PUBLIC_CACHE_SECONDS = 5  # shorter: a private session just made public takes its viewers' events soon
_public_sessions: dict[int, tuple[bool, float]] = {}  # session id → (public, until), per process


def public_session_ids(ids: set[int]) -> set[int]:
    """The ids among `ids` that are public sessions (exist, not private): what a page's beacon may name.

    Answers are kept per process for PUBLIC_SESSION_CACHE_SECONDS (a session made private stops taking
    events within that; a "no" for NOT_PUBLIC_CACHE_SECONDS), so a spike of view beacons costs one query per process and session a minute;
    unknown ids cost one query per request at most (all of a request's ids in one). Raises DatabaseError.
    """
    now = time.monotonic()
    missing = {i for i in ids if (hit := _public_sessions.get(i)) is None or hit[1] <= now}
    if missing:
        from sessions_app.models import LiveSession

        found = set(
            LiveSession.objects.filter(pk__in=[i for i in missing if 0 < i <= 2**63 - 1], is_private=False)
            .values_list("pk", flat=True)
        )
        if len(_public_sessions) > 10_000:  # made-up ids must not grow this without bound
            _public_sessions.clear()
        for i in missing:
            keep = PUBLIC_SESSION_CACHE_SECONDS if i in found else NOT_PUBLIC_CACHE_SECONDS
            _public_sessions[i] = (i in found, now + keep)
    return {i for i in ids if (hit := _public_sessions.get(i)) is not None and hit[0]}


def _member_customer_id(request) -> int | None:
    """The customer id of the member whose pass the request's `mm_member` cookie is, if it grants access now."""
    from commerce.memberships.identity import MEMBER_COOKIE, membership_from_request

    if MEMBER_COOKIE not in request.COOKIES:
        return None
    try:
        membership = membership_from_request(request, now=timezone.now())
    except DatabaseError:  # the view still counts, anonymously: the beacon never answers 500
        log.exception("analytics beacon: member pass not checked")
        return None
    return membership.customer_id if membership is not None else None


@require_GET
def drop_click(request, drop_id: int):
    """The drop's call to action: record a click, then redirect to the drop's checkout."""
    drop = get_object_or_404(Drop.objects.only("pk", "session_id", "sku_id"), pk=drop_id)
    event_capture_request(request, name="click", session_id=drop.session_id, drop_id=drop.pk, sku_id=drop.sku_id)
    return HttpResponseRedirect(reverse("commerce:checkout", kwargs={"drop_id": drop.pk}))


@require_POST
def visitor_reset(request):
    """ "Not you?": POST (with CSRF) starts a new visitor on this browser and forgets the remembered e-mail.

    Redirects (303) to `next` when it is a local path, else to the home page. The previous visitor's
    events stay theirs; views from here on count for the new visitor (analytics.middleware).
    """
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("sessions_app:home")
    response = HttpResponseRedirect(target, status=303)
    visitor_start_new(request, response)
    return response
