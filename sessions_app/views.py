"""Viewer pages: home and the live session page, plus its tiny status endpoint."""

from __future__ import annotations

import json
import time

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from analytics.middleware import COOKIE
from analytics.services import event_capture_request, is_bot
from commerce.memberships.gating import drop_member_terms, session_stream_visible
from commerce.memberships.identity import MEMBER_COOKIE, membership_from_request
from commerce.money import format_money
from commerce.selectors import drop_status, drops_for_session, session_sale_state
from config.client_ip import client_ip, client_network

from .assets.selectors import sessions_ended_with_replay
from .control.selectors import flash_coupon_current, flash_coupon_public
from .embed import stream_embed
from .models import LiveSession
from .pagecache import (
    ACCOUNT_COOKIES,
    cache_forget,
    cache_store,
    cached_entry,
    cached_or_claim,
    page_cache_key,
    request_gets_shared_copy,
    response_private,
    response_shared,
    status_cache_key,
)
from .selectors import sessions_late, sessions_late_since, sessions_live, sessions_upcoming
from .watch import WATCH_BEAT_SECONDS, watch_poll_record, watch_recently_recorded

PAGE_CACHE_SECONDS = 2
POLL_MS = 4000  # how often the page polls session_status
LIVE_POLL_MS = 1500  # while live: a pin or flash coupon from the control room shows within about 2 s
HOME_CACHE_KEY = "home-page"


def home(request):
    """Live now, upcoming this week and recent replays (ended sessions with clips); sessions past their planned start but not live yet show as "Starting soon".

    Everyone without a session or pending messages (pagecache.ACCOUNT_COOKIES; staff see a "Back
    office" link), members with their pass included (nothing on the page depends on membership), shares one rendering for PAGE_CACHE_SECONDS, rebuilt by one request while
    the others get the previous one (sessions_app.pagecache), like the session page. The shared copy
    leaves with `Cache-Control: public, max-age=PAGE_CACHE_SECONDS` and no cookie, so a CDN or the
    nginx micro-cache may keep it as long; a personal rendering with `private, max-age=0`.
    """
    shared = request_gets_shared_copy(request, personal=ACCOUNT_COOKIES)
    if shared and (cached := cached_or_claim(HOME_CACHE_KEY)) is not None:
        return response_shared(HttpResponse(cached), max_age=PAGE_CACHE_SECONDS)
    now = timezone.now()
    late = sessions_late(now=now, since=sessions_late_since(now))
    response = render(
        request,
        "sessions_app/home.html",
        {
            "live": sessions_live(now=now),
            "late": late,
            "upcoming": sessions_upcoming(now=now),
            "replays": sessions_ended_with_replay(),
        },
    )
    if shared and not request.META.get("CSRF_COOKIE_USED"):
        cache_store(HOME_CACHE_KEY, response.content, PAGE_CACHE_SECONDS)
        return response_shared(response, max_age=PAGE_CACHE_SECONDS)
    return response_private(response)


def session_page(request, public_id):
    """The session page: stream embedded, its drops with stock, price and countdown.

    A live spike sends thousands of viewers here at once, so for viewers without a session or pending
    messages (pagecache.ACCOUNT_COOKIES; members with their pass included: the HTML holds nothing
    personal) the rendered page is one shared copy: kept PAGE_CACHE_SECONDS per cache (then rebuilt by
    one request while the others get the previous one: sessions_app.pagecache), sent with
    `Cache-Control: public, max-age=PAGE_CACHE_SECONDS` and without cookies, so a CDN or the nginx
    micro-cache (config/deploy/nginx.conf, docs/deployment.md) may serve it too. Forms on it get their
    CSRF token by script (templatetags/shared_page.py); a page that rendered a CSRF token anyway is never
    shared. The figures on the page are kept fresh by polling `session_status`.

    Views of the shared copy are recorded by the page's script (a `view` event posted to the
    analytics beacon, which also gives a first visitor the `mm_vid` cookie and, for a browser with a
    valid member pass, adds the member's customer id: analytics.views.beacon), since a cached copy never
    reaches Django; a personal rendering records its view here (a member's with their customer id).

    Members-only sessions and member parts (docs/members-only.md): the HTML is always the non-member's,
    for a member too and whatever the session page renders for: on a members-only session the stream
    area is the join call to action (the stream URL and embed are not in the HTML at all), an
    exclusive drop shows "Members only" and the join link with its buy link and QR code present but
    `hidden`, a member-priced drop an empty, hidden member-price line. When the page has any of these
    (`member_parts`), its script (js/member.js) asks `session_me` once and fills in what this browser's
    member pass grants: the stream, the member prices, the exclusive drops' buy links. Otherwise it never
    asks. Holds enforce membership themselves (commerce.services.holds.hold_place: MembersOnly).
    """
    shared = request_gets_shared_copy(request, personal=ACCOUNT_COOKIES)
    key = page_cache_key(public_id)
    if shared and (cached := cached_or_claim(key)) is not None:
        _session_pk, html = cached
        return response_shared(HttpResponse(html), max_age=PAGE_CACHE_SECONDS)
    # a private micro-session is reached only by a bundle seat's join link (docs/bundles.md)
    session = _public_session_or_404(LiveSession.objects.select_related("format", "series"), public_id, key)
    now = timezone.now()
    drops = [(drop, drop_status(drop=drop, now=now)) for drop in drops_for_session(session_id=session.pk, now=now)]
    for drop, st in drops:  # the non-member's terms: member parts come from session_me, by script
        st["member"] = drop_member_terms(drop=drop, status=st, membership=None, now=now)
    # The drop the host pinned in the control room comes first (featured); the rest keep their opening order.
    drops.sort(key=lambda pair: pair[0].pk != session.pinned_drop_id)
    if not shared:
        membership = membership_from_request(request, now=now) if MEMBER_COOKIE in request.COOKIES else None
        member_customer = membership.customer_id if membership is not None else None
        event_capture_request(request, name="view", session_id=session.pk, occurred_at=now, customer_id=member_customer)
    state = session_sale_state(status=session.status, presale_opens_at=session.presale_opens_at, now=now)
    member_parts = session.members_only or any(
        st["member"]["exclusive"] or drop.member_price_minor is not None for drop, st in drops
    )
    response = render(
        request,
        "sessions_app/session.html",
        {
            "session": session,
            "session_state": state,
            "drops": drops,
            # A scheduled or cancelled session shows no stream at all (a countdown / a message instead);
            # a members-only session's stream is never in the HTML (js/member.js asks session_me).
            "embed": stream_embed(session.stream_url)
            if session.status in ("live", "ended") and not session.members_only
            else None,
            # js/member.js asks session_me once when the page has member parts, never otherwise
            "me_url": reverse("sessions_app:session_me", kwargs={"public_id": session.public_id})
            if member_parts
            else "",
            "now": now,
            # Planned start passed, host not live yet: "Starting soon", not "starts in 0 minutes".
            "late": session.status == LiveSession.Status.SCHEDULED and session.starts_at <= now,
            "page_zone": session.timezone,
            # the control room's flash coupon, while it runs (sessions_app.control)
            "flash": flash_coupon_public(flash_coupon_current(session_id=session.pk, now=now)),
            "poll_ms": LIVE_POLL_MS if session.status == LiveSession.Status.LIVE else POLL_MS,
            # forms get their CSRF token by script (templatetags/shared_page.py): the HTML stays shared
            "page_shared": True,
            # the shared copy's view is posted by its script (js/view.js); a personal one was recorded above
            "view_event": {"name": "view", "session_id": session.pk} if shared else None,
            "watch_url": reverse("sessions_app:session_watching", kwargs={"public_id": session.public_id}),
            "watch_ms": WATCH_BEAT_SECONDS * 1000,
        },
    )
    if shared and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE") and not request.META.get("CSRF_COOKIE_USED"):
        cache_store(key, (session.pk, response.content), PAGE_CACHE_SECONDS)
        return response_shared(response, max_age=PAGE_CACHE_SECONDS)
    # (rendered a token after all: personal, but its HTML carries the view event its script posts)
    return response_private(response)


@require_safe
def session_me(request, public_id):
    """What this browser's member pass unlocks on the session page: JSON for js/member.js, never cached.

    GET only. Shape: {"member": bool (the `mm_member` cookie is a valid pass whose membership grants
    access now: commerce.memberships.identity.membership_from_request), "stream": {"kind":
    "iframe"|"video"|"link"|"none", "embed_src": str (sessions_app.embed.stream_embed of the stream URL),
    "url": str (the stream URL itself, for an ended session's "Original stream" link)} or null, "drops":
    {"<drop id>": {"member_price": str (the member's unit price formatted in the drop's currency, e.g.
    "$35.00": commerce.memberships.gating.drop_member_terms) or null, "exclusive_open": bool (an
    exclusive drop this member may buy)}}}. The stream is given only while the session is live or
    ended and its stream is visible to this pass (gating.session_stream_visible); the drops are the
    page's (commerce.selectors.drops_for_session). Without a valid pass (none, forged, tampered, lapsed,
    ended) the answer is {"member": false, "stream": null, "drops": {}}.

    404 for an unknown or private session; 405 for anything but GET/HEAD. Always `Cache-Control:
    private, no-store` (never shared: it answers for one browser's cookie); it sets no cookie of its own.
    """
    session = LiveSession.objects.filter(public_id=public_id, is_private=False).first()
    if session is None:
        raise Http404
    now = timezone.now()
    payload = {"member": False, "stream": None, "drops": {}}
    membership = membership_from_request(request, now=now) if MEMBER_COOKIE in request.COOKIES else None
    if membership is not None:
        payload["member"] = True
        if session.status in ("live", "ended") and session_stream_visible(
            session=session, membership=membership, now=now
        ):
            embed = stream_embed(session.stream_url)
            payload["stream"] = {"kind": embed["kind"], "embed_src": embed["src"], "url": session.stream_url}
        for drop in drops_for_session(session_id=session.pk, now=now):
            terms = drop_member_terms(drop=drop, status=drop_status(drop=drop, now=now), membership=membership, now=now)
            price = terms["member_price_minor"]
            payload["drops"][str(drop.pk)] = {
                "member_price": format_money(price, drop.currency) if price is not None else None,
                "exclusive_open": terms["exclusive"] and terms["is_member"],
            }
    response = JsonResponse(payload)
    patch_cache_control(response, private=True, no_store=True)
    return response


STATUS_CACHE_SECONDS = 1


def session_status(request, public_id):
    """JSON polled by the session page.

    Shape: {"session": status (scheduled|live|ended|cancelled), "session_state" (…|presale:
    commerce.selectors.session_sale_state), "starts_at" (the real start once live, else the
    scheduled one), "ended_at" (or null), "server_time" (ISO 8601 UTC), "drops": [drop_status…],
    "pinned_drop_id" (the drop the host pinned in the control room, or null), "flash_coupon" ({"code",
    "percent_off", "ends_at" (ISO 8601 UTC), "remaining" (uses left, null = uncapped)} while the
    session's flash coupon runs, else null: sessions_app.control.selectors)}.
    Control-room actions delete this cache entry, so their effect is in the next poll.

    A thousand viewers poll this at once, so the payload is computed at most once
    per second per cache (Redis shared across web hosts, or per process), by one
    request while the others get the previous payload (sessions_app.pagecache),
    and may be up to STATUS_CACHE_SECONDS old; a CDN or the nginx micro-cache may cache it as long (a
    cached poll is not evidence of watching: the page's heartbeat, `session_watching`, is).

    Each poll of a live session by a visitor with the `mm_vid` cookie is recorded as watch evidence
    (sessions_app.watch.watch_poll_record, throttled per visitor).

    While the entry is fresh, sessions_app.middleware.StatusFastPathMiddleware answers the poll before
    the rest of the middleware stack with the same body and headers (status_poll_answer).
    """
    key = status_cache_key(public_id)
    now = timezone.now()
    cached = cached_or_claim(key)
    if cached is None:
        session = _public_session_or_404(LiveSession.objects.all(), public_id, key)
        payload = {
            "session": session.status,
            "session_state": session_sale_state(
                status=session.status, presale_opens_at=session.presale_opens_at, now=now
            ),
            "starts_at": session.shown_start.isoformat(),
            "ended_at": session.ended_at.isoformat() if session.ended_at else None,
            "server_time": now.isoformat(),
            "drops": [drop_status(drop=d, now=now) for d in drops_for_session(session_id=session.pk, now=now)],
            "pinned_drop_id": session.pinned_drop_id,
            "flash_coupon": flash_coupon_public(flash_coupon_current(session_id=session.pk, now=now)),
        }
        body = json.dumps(payload, cls=DjangoJSONEncoder).encode()
        cached = (session.pk, session.status, body, session.members_only)
        cache_store(key, cached, STATUS_CACHE_SECONDS)
    return status_poll_answer(request, cached, now=now)


def status_poll_answer(request, cached: tuple, *, now) -> HttpResponse:
    """The status JSON response for a cached entry (pk, status, body bytes, members_only): shared,
    `Cache-Control: public, max-age=STATUS_CACHE_SECONDS`. The poll itself is the evidence that this
    visitor is watching (_watch_record: the `mm_vid` cookie, not a bot, members only where it applies)."""
    session_pk, status, body, members_only = cached
    _watch_record(request, session_pk, status, members_only, now=now)
    return response_shared(HttpResponse(body, content_type="application/json"), max_age=STATUS_CACHE_SECONDS)


@csrf_exempt  # posted by the page's script (and sendBeacon); it writes only anonymous watch evidence
@require_POST
def session_watching(request, public_id):
    """Heartbeat of an open, visible session page while the session is live: watch evidence.

    POST with no body; answers 204 (`Cache-Control: no-store`), also when nothing was recorded (not
    live, no or malformed `mm_vid` cookie, a bot, throttled: sessions_app.watch.watch_poll_record);
    404 for an unknown or private session. A first visitor without the cookie gets it here and counts
    from their next beat. The session's status comes from the status JSON's cache entry when it is
    at most WATCH_STATUS_MAX_AGE seconds old, else from one indexed query.

    At 10,000 viewers this is about 500 uncached requests a second, so a beat with a visitor cookie is
    answered by sessions_app.middleware.StatusFastPathMiddleware above the middleware stack
    (watching_answer, the same code).
    """
    response = watching_answer(request, public_id)
    if response is None:
        raise Http404
    return response


def watching_answer(request, public_id) -> HttpResponse | None:
    """The heartbeat's work and its 204 (`no-store`); None for an unknown or private session."""
    found = _session_pk_and_status(public_id)
    if found is None:
        return None
    _watch_record(request, *found, now=timezone.now())
    response = HttpResponse(status=204)
    patch_cache_control(response, no_store=True)
    return response


def _watch_record(request, session_pk: int, status: str, members_only: bool, *, now) -> None:
    """Record a status poll or heartbeat as watch evidence when this request is a viewer's: it carries a
    visitor cookie, the session is live, it is not a bot, and on a members-only session only a member's
    time counts (docs/members-only.md). The rest (cookie format, throttle, caps): watch_poll_record."""
    visitor = request.COOKIES.get(COOKIE)
    if not visitor or status != "live" or is_bot(request.headers.get("User-Agent", "")):
        return
    if members_only and (
        # a throttled beat is answered before the member check's queries (10,000 members beat too)
        watch_recently_recorded(session_id=session_pk, visitor_id=visitor, now=now)
        or not _member_with_access(request, session_pk)
    ):
        return
    network = client_network(client_ip(request))
    watch_poll_record(session_id=session_pk, session_status=status, visitor_id=visitor, now=now, network=network)


WATCH_STATUS_MAX_AGE = 5  # seconds


def _session_pk_and_status(public_id) -> tuple[int, str, bool] | None:
    """(pk, status, members_only) of a public session, or None."""
    # (fresh_until, (pk, status, body, members_only)), a few seconds stale at most
    entry = cached_entry(status_cache_key(public_id), stale_ok_seconds=WATCH_STATUS_MAX_AGE)
    if entry is not None and entry[0] > time.time() - WATCH_STATUS_MAX_AGE:
        session_pk, status, _body, members_only = entry[1]
        return session_pk, status, members_only
    return (
        LiveSession.objects.filter(public_id=public_id, is_private=False)
        .values_list("pk", "status", "members_only")
        .first()
    )


def _member_with_access(request, session_pk: int) -> bool:
    if MEMBER_COOKIE not in request.COOKIES:
        return False
    session = LiveSession.objects.filter(pk=session_pk).first()
    if session is None:
        return False
    now = timezone.now()
    return session_stream_visible(session=session, membership=membership_from_request(request, now=now), now=now)


def _public_session_or_404(queryset, public_id, key: str) -> LiveSession:
    """The public session, or Http404 after dropping the shared copy under `key`: a session made
    private or deleted stops being served from the shared cache at once, not after the stale window."""
    session = queryset.filter(public_id=public_id, is_private=False).first()
    if session is None:
        cache_forget(key)
        raise Http404
    return session
