"""Viewer pages for session assets: the replay page of an ended session, a page per clip, and the
clip's buy link (records the click with the clip as its source, then goes to the drop's checkout).

Who may see them: anyone (public storefront). Only public clips that did not fail are shown; an
unpublished or unknown clip is a 404. The HTML holds nothing per viewer, so for viewers without
personal cookies (session, messages: the same test as the session page) it is shared: kept in the
page cache for PAGE_CACHE_SECONDS and sent with `Cache-Control: public, max-age=CDN_MAX_AGE`
without cookies (sessions_app.pagecache.SharedResponseMiddleware), so a CDN may keep it that long.
"""

from __future__ import annotations

from csp.decorators import csp_replace
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from analytics.services import event_capture_request, is_bot
from commerce.memberships.gating import session_stream_visible
from commerce.memberships.identity import membership_from_request

from ..models import LiveSession
from ..pagecache import cache_store, cached_or_claim, request_gets_shared_copy, response_private, response_shared
from .models import Clip
from .selectors import (
    absolute,
    asset_link,
    asset_state,
    clip_card,
    clip_offer,
    clip_public,
    clip_source,
    clip_view_record,
    clips_public,
    replay_recording,
)

PAGE_CACHE_SECONDS = 10
CDN_MAX_AGE = 30  # seconds a CDN may serve the page: stock and "restoring" states lag at most this much
# a member (mm_member cookie) may see a members-only recording: their page is never the shared copy
# (pagecache.PERSONAL_COOKIES)


def _finish(request, response: HttpResponse, *, shared: bool) -> HttpResponse:
    return response_shared(response, max_age=CDN_MAX_AGE) if shared else response_private(response)


def _cached_page(request, key: str, build) -> HttpResponse:
    """The shared page under `key` (rebuilt by one request when stale), or a private render for personal viewers."""
    shared = request_gets_shared_copy(request)
    if shared and (cached := cached_or_claim(key)) is not None:
        return _finish(request, HttpResponse(cached), shared=True)
    response = build()
    if shared and not request.META.get("CSRF_COOKIE_USED"):
        cache_store(key, response.content, PAGE_CACHE_SECONDS)
    return _finish(request, response, shared=shared and not request.META.get("CSRF_COOKIE_USED"))


def _restore_on_demand(asset_id: int) -> bool:
    """Request the restore of an archived object a viewer came to watch (tiers.asset_restore_on_demand)."""
    from .tiers import asset_restore_on_demand

    return asset_restore_on_demand(asset_id=asset_id)


@require_GET
def replay_page(request, public_id):
    """An ended session's replay: its public clips (poster, player or "restoring", the drop each sells,
    a buy link) and the full recording when shown (ASSET_REPLAY_SHOWS_RECORDING). 404 unless ended."""
    session = get_object_or_404(
        LiveSession.objects.select_related("format", "series"),
        public_id=public_id,
        status=LiveSession.Status.ENDED,
        is_private=False,  # private micro-sessions: bundle seats only (docs/bundles.md)
    )
    view_event = {"name": "view", "session_id": session.pk, "props": {"page": "replay"}}
    shared = request_gets_shared_copy(request)
    if not shared:  # the shared copy's view is posted by its script (js/view.js), cached or not
        event_capture_request(request, **view_event)

    def build():
        now = timezone.now()
        clips = list(clips_public(session_id=session.pk))
        recording = replay_recording(session_id=session.pk)
        if not is_bot(request.headers.get("User-Agent", "")):  # a viewer is here: bring archived media back
            loaded = [c.asset for c in clips] + [recording.asset if recording else None]  # select_related
            for asset_id in {a.pk for a in loaded if a is not None and a.tier == "archive"}:
                _restore_on_demand(asset_id)
        cards = [clip_card(clip=c, now=now) for c in clips]
        rec_state, rec_eta = asset_state(recording.asset) if recording else ("pending", None)
        # A members-only session's whole recording is for members too (docs/members-only.md); its public
        # clips stay public teasers. Members carry the mm_member cookie, so their page is never shared.
        members_locked = not session_stream_visible(
            session=session, membership=membership_from_request(request, now=now), now=now
        )
        return render(
            request,
            "sessions_app/replay.html",
            {
                "session": session,
                "cards": cards,
                "recording": recording,
                "recording_state": rec_state,
                "recording_eta": rec_eta,
                "members_locked": members_locked,
                "recording_url": (
                    asset_link(recording.asset) if recording and rec_state == "ready" and not members_locked else None
                ),
                "recording_poster_url": asset_link(recording.poster) if recording else None,
                "canonical": absolute(reverse("sessions_app:replay", kwargs={"public_id": session.public_id})),
                "page_zone": session.timezone,
                "view_event": view_event if shared else None,
            },
        )

    return _cached_page(request, f"replay-page:{public_id}", build)


@require_GET
def clip_page(request, public_id):
    """One clip: player with poster (or "restoring" with an estimate), title, session, the drop it sells
    with price and stock state (selectors.clip_offer), OpenGraph/Twitter tags and a canonical URL.

    Each request that reaches the origin counts a clip view (AssetDelivery.views); the `view` event
    with `props.source = clip:<id>` is posted by the page's script for the shared copy (js/view.js:
    a CDN copy never reaches Django) and recorded here for a personal page.
    """
    try:
        clip = clip_public(public_id=public_id)
    except Clip.DoesNotExist as exc:
        raise Http404 from exc
    if not is_bot(request.headers.get("User-Agent", "")):  # crawlers fetching the preview are not viewers
        clip_view_record(clip=clip)
    view_event = {
        "name": "view",
        "session_id": clip.session_id,
        "drop_id": clip.drop_id,
        "props": {"page": "clip", "source": clip_source(clip)},
    }
    shared = request_gets_shared_copy(request)
    if not shared:  # the shared copy's view is posted by its script (js/view.js), cached or not
        event_capture_request(request, **view_event)

    def build():
        now = timezone.now()
        viewer = not is_bot(request.headers.get("User-Agent", ""))
        if clip.asset_id and viewer and _restore_on_demand(clip.asset_id):
            clip.asset.refresh_from_db()
        card = clip_card(clip=clip, now=now)
        asset = clip.asset
        return render(
            request,
            "sessions_app/clip.html",
            {
                "clip": clip,
                "session": clip.session,
                "card": card,
                "offer": card["offer"],
                "canonical": absolute(reverse("sessions_app:clip", kwargs={"public_id": clip.public_id})),
                "embed_url": absolute(reverse("sessions_app:clip_embed", kwargs={"public_id": clip.public_id})),
                "og_video": absolute(card["video_url"]),
                "og_video_type": asset.content_type if asset else "",
                "og_width": clip.recording.width if clip.recording_id and clip.recording.width else None,
                "og_height": clip.recording.height if clip.recording_id and clip.recording.height else None,
                "og_image": absolute(card["poster_url"]),
                "og_description": _description(clip, card["offer"]),
                "page_zone": clip.session.timezone,
                "view_event": view_event if shared else None,
            },
        )

    return _cached_page(request, f"clip-page:{public_id}", build)


def _description(clip: Clip, offer) -> str:
    text = f"A moment from {clip.session.title}."
    if offer.drop is not None:
        text += f" Shop {offer.drop.display_title}."
    return text


@require_GET
def clip_buy(request, public_id):
    """The clip's buy link: record a `click` with `props.source = clip:<id>` for the drop the clip sells
    now (selectors.clip_offer), then redirect to that drop's checkout (the ordinary hold flow).

    Nothing to buy (no drop, or none on sale now) → back to the clip page. Not cached.
    """
    try:
        clip = clip_public(public_id=public_id)
    except Clip.DoesNotExist as exc:
        raise Http404 from exc
    offer = clip_offer(clip=clip)
    if offer.drop is None or not offer.buyable:
        return HttpResponseRedirect(reverse("sessions_app:clip", kwargs={"public_id": clip.public_id}))
    drop = offer.drop
    event_capture_request(
        request,
        name="click",
        session_id=drop.session_id,
        drop_id=drop.pk,
        sku_id=drop.sku_id,
        props={"source": clip_source(clip), "clip_session_id": clip.session_id},
    )
    response = HttpResponseRedirect(reverse("commerce:checkout", kwargs={"drop_id": drop.pk}))
    patch_cache_control(response, private=True, no_store=True)
    return response


@require_GET
@xframe_options_exempt
@csp_replace({"frame-ancestors": ["https:"]})
def clip_embed(request, public_id):
    """The clip's player alone, for other sites to frame (the `twitter:player` card, embeds): a
    <video> with its poster and a link to the clip page. Unlike every other page it may be framed
    (no X-Frame-Options; CSP frame-ancestors https:), and it carries no form, cookie or buy action,
    so framing it cannot be abused for clickjacking. 404 like the clip page."""
    try:
        clip = clip_public(public_id=public_id)
    except Clip.DoesNotExist as exc:
        raise Http404 from exc
    card = clip_card(clip=clip, now=timezone.now())
    response = render(
        request,
        "sessions_app/clip_embed.html",
        {"clip": clip, "card": card, "canonical": absolute(reverse("sessions_app:clip", kwargs={"public_id": clip.public_id}))},
    )
    response["Cache-Control"] = f"public, max-age={CDN_MAX_AGE}"
    return response
