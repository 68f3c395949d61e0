"""The watch reward on the session page: a viewer's progress and the claim of a personal code.

`GET|POST /s/<uuid>/watch-reward/` (docs/watch-coupons.md). The session page itself is the same for
everyone and may come from a shared cache without a CSRF token, so this endpoint carries everything
personal: the GET answers the viewer's progress *and* a CSRF token (and sets the csrftoken cookie);
the page's script sends that token back in the `X-CSRFToken` header of its POST. Both answers are
`Cache-Control: no-store, private` and never shared.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from analytics.middleware import COOKIE
from config.client_ip import client_ip, client_network
from sessions_app.models import LiveSession

from .exceptions import CommerceError, RateLimited
from .ratelimit import Limit, rate_limits_hit
from .selectors_watch import watch_code_expires_at, watch_reward_status
from .services.watch_coupons import watch_code_claim


def _error(exc: CommerceError) -> JsonResponse:
    response = JsonResponse({"code": str(exc.code), "message": exc.message, "fields": exc.fields}, status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.extra.get("retry_after", 1))
    return response


def _claim_rate_limit(request, visitor_id: str) -> None:
    """One claim attempt against the per-visitor and per-IP-network limits; RateLimited (429) when over."""
    window = settings.WATCH_CLAIM_RATE_WINDOW_SECONDS
    exceeded = rate_limits_hit(
        [
            Limit("watch:vid", visitor_id, settings.WATCH_CLAIM_RATE_LIMIT_VISITOR, window),
            Limit("watch:ip", client_network(client_ip(request)), settings.WATCH_CLAIM_RATE_LIMIT_IP, window),
        ]
    )
    if exceeded is not None:
        raise RateLimited(
            f"Too many tries in a short time. Please try again in {exceeded.retry_after} seconds.",
            retry_after=exceeded.retry_after,
        )


@never_cache
@require_http_methods(["GET", "POST"])
def watch_reward(request, public_id):
    """GET: {"csrf_token", "session": status, "rewards": [watch_reward_status items]} for this viewer.

    POST (form field `coupon`: the programme's id, optional; header X-CSRFToken): claim the viewer's
    personal code. 200 {"code", "coupon_id", "expires_at" (ISO UTC or null)}; 409 {"code":
    "watch_not_enough", "fields": {"seconds_left", "watched_seconds", "required_seconds"}} or
    `watch_coupon_closed` / `coupon_exhausted`; 404 unknown session or programme; 429 `rate_limited`
    (Retry-After); 400 a malformed `coupon`. The viewer is the `mm_vid` cookie the status polls were
    recorded under: nothing in the request body counts as watched time.
    """
    session = get_object_or_404(LiveSession, public_id=public_id)
    now = timezone.now()
    visitor_id = request.COOKIES.get(COOKIE, "")
    if request.method == "GET":
        return JsonResponse(
            {
                "csrf_token": get_token(request),
                "session": session.status,
                "rewards": watch_reward_status(session=session, visitor_id=visitor_id, now=now),
            }
        )
    raw = request.POST.get("coupon", "").strip()
    if raw and (not raw.isdecimal() or len(raw) > 18):
        return JsonResponse(
            {"code": "invalid", "message": "Unknown reward.", "fields": {"coupon": ["Unknown reward."]}}, status=400
        )
    try:
        _claim_rate_limit(request, visitor_id)
        code = watch_code_claim(
            visitor_id=visitor_id, now=now, coupon_id=int(raw) if raw else None, session_id=session.pk
        )
    except CommerceError as exc:
        return _error(exc)
    expires = watch_code_expires_at(coupon=code.coupon, session=code.session)
    return JsonResponse(
        {"code": code.code, "coupon_id": code.coupon_id, "expires_at": expires.isoformat() if expires else None}
    )
