"""Share-to-unlock endpoints the session and clip pages' script calls (docs/share-to-unlock.md).

The pages themselves are the same for everyone (sessions_app.pagecache): nothing personal is rendered
into them. Everything personal comes from these two small endpoints, never cached:

- `GET /share/<campaign id>/me.json`: the viewer's personal link (created on the first call for the
  `mm_vid` cookie; rate limited) and progress, or the unlocked code and its expiry.
- `POST /share/visit` (form: `ref`, `wd`): the page was opened with `?ref=<token>`; the server decides
  whether this browser counts as a new visitor for that link (commerce.referrals.services).
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from analytics.middleware import COOKIE
from config.client_ip import client_ip, client_network

from ..exceptions import CommerceError, ErrorCode, RateLimited
from ..ratelimit import Limit, rate_limits_hit
from .models import ShareCampaign
from .selectors import share_link_progress
from .services import NO_VISITOR, share_link_get_or_create, share_visit_record


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def _error(exc: CommerceError) -> JsonResponse:
    response = _json({"code": str(exc.code), "message": exc.message, "fields": exc.fields}, status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.extra.get("retry_after", 1))
    return response


def _rate_limit(request, kind: str, visitor_id: str) -> None:
    """One attempt against the per-network and per-visitor limits of `kind`; RateLimited (429) when over.
    Settings (defaults): SHARE_RATE_WINDOW_SECONDS 600, SHARE_RATE_LIMIT_IP 300 (a venue's
    viewers share one address), SHARE_RATE_LIMIT_VISITOR 60 (the panel refreshes every 20 s)."""
    window = int(getattr(settings, "SHARE_RATE_WINDOW_SECONDS", 600))
    exceeded = rate_limits_hit(
        [
            Limit(
                f"share:{kind}:ip",
                client_network(client_ip(request)),
                int(getattr(settings, "SHARE_RATE_LIMIT_IP", 300)),
                window,
            ),
            Limit(f"share:{kind}:vid", visitor_id, int(getattr(settings, "SHARE_RATE_LIMIT_VISITOR", 60)), window),
        ]
    )
    if exceeded is not None:
        raise RateLimited(
            f"Too many tries in a short time. Please try again in {exceeded.retry_after} seconds.",
            retry_after=exceeded.retry_after,
        )


@never_cache
@require_GET
def share_me(request, campaign_id: int):
    """GET: this viewer's share link and progress for a campaign.

    200 {"campaign": id, "url": the page URL with ?ref=<token> (absolute), "token", "visits",
    "visits_required", "percent_off" (string, e.g. "15"), "offer_minutes", "unlocked", "code" (or null),
    "expires_at" (ISO 8601 UTC or null), "expired", "code_bound"}; 404 `not_found` (no such campaign);
    409 `share_closed` / `share_visitor_required` (no cookie yet: the answer sets one, ask again);
    429 `rate_limited` (Retry-After). Always `Cache-Control: private, no-store`.
    """
    now = timezone.now()
    visitor_id = request.COOKIES.get(COOKIE, "")
    try:
        campaign = ShareCampaign.objects.select_related("session", "clip").get(pk=campaign_id)
    except ShareCampaign.DoesNotExist:
        return _json({"code": "not_found", "message": "There is no such share offer.", "fields": {}}, status=404)
    try:
        _rate_limit(request, "me", visitor_id)
        link = share_link_get_or_create(
            campaign_id=campaign.pk, visitor_id=visitor_id, now=now, network=client_network(client_ip(request))
        )
    except CommerceError as exc:
        response = _error(exc)
        # the answer sets the visitor cookie the link needs (analytics.middleware gives none to other errors)
        response.issue_visitor_cookie = exc.code == ErrorCode.SHARE_VISITOR_REQUIRED
        return response
    if campaign.clip_id:
        page = reverse("sessions_app:clip", kwargs={"public_id": campaign.clip.public_id})
    else:
        page = campaign.session.get_absolute_url()
    return _json(
        {
            "campaign": campaign.pk,
            "url": request.build_absolute_uri(f"{page}?ref={link.token}"),
            **share_link_progress(link=link, now=now),
        }
    )


@csrf_exempt  # the page may be a shared cached copy without a token; a cross-site POST carries no mm_vid
@never_cache  # cookie (SameSite=Lax), and a visit without that cookie is never counted
@require_POST
def share_visit(request):
    """POST `ref=<token>` (and `wd=1` when navigator.webdriver is set): count this browser as a visitor
    of that share link if it is a distinct new human visitor (commerce.referrals.services.share_visit_record).

    200 {"counted": bool, "reason": one of counted | no_visitor | bot | unknown_link | closed | self_visit |
    repeat | not_new | network_limit, "retry": true when the request had no cookie yet (this answer sets
    one: the script asks once more)}; 429 `rate_limited` (per network and visitor). Never reveals the
    sharer or their progress.
    """
    now = timezone.now()
    visitor_id = request.COOKIES.get(COOKIE, "")  # only a cookie the browser sent back counts, not a fresh id
    network = client_network(client_ip(request))
    try:
        _rate_limit(request, "visit", visitor_id)
    except RateLimited as exc:
        return _error(exc)
    outcome = share_visit_record(
        ref=request.POST.get("ref", ""),
        visitor_id=visitor_id,
        network=network,
        user_agent=request.headers.get("User-Agent", ""),
        webdriver=request.POST.get("wd") == "1",
        now=now,
    )
    return _json({"counted": outcome.counted, "reason": outcome.reason, "retry": outcome.reason == NO_VISITOR})
