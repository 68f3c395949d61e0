"""Reads for the viewer pages and the partner API: replays, clips, what a clip sells, clip attribution.

Delivery (URLs, availability in the archive, view counters) belongs to sessions_app.assets.delivery;
until that module is present every object counts as ready and is linked at `/media/a/<sha256>.<ext>`
(the URL the delivery view serves), so the pages never depend on which part landed first.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from commerce.models import Drop
from commerce.selectors import drop_status, drop_with_stock, session_selling_q

from ..models import LiveSession
from .models import AssetObject, Clip, Recording

log = logging.getLogger(__name__)

try:  # STORAGE's delivery module (issue #12); absent until merged
    from .delivery import asset_availability as _availability
    from .delivery import asset_delivery_record as _delivery_record
    from .delivery import asset_url as _asset_url
except ImportError:  # pragma: no cover - depends on merge order
    _availability = _delivery_record = _asset_url = None


def asset_link(obj: AssetObject | None, *, download_name: str | None = None) -> str | None:
    """A URL for the object's bytes (relative or absolute), or None while it sits in the archive unrestored."""
    if obj is None:
        return None
    if _asset_url is not None:
        return _asset_url(obj, download_name=download_name)
    return f"/media/a/{obj.sha256}.{obj.extension or 'bin'}"


def asset_state(obj: AssetObject | None) -> tuple[str, dt.datetime | None]:
    """("ready" | "restoring" | "archived", eta UTC or None): can a player be shown for the object now?

    No object (a clip still being cut) counts as "pending" with no eta.
    """
    if obj is None:
        return "pending", None
    if _availability is not None:
        return _availability(obj)
    return "ready", None


def absolute(url: str | None) -> str | None:
    """`url` made absolute against settings.SITE_URL (OpenGraph needs absolute URLs); None stays None."""
    if not url:
        return None
    if url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + (url if url.startswith("/") else "/" + url)


def clip_view_record(*, clip: Clip) -> None:
    """Count one view of the clip page on the clip's object (AssetDelivery.views, the hot-set input). Never raises."""
    if _delivery_record is None or clip.asset_id is None:
        return
    try:
        _delivery_record(asset_id=clip.asset_id, views=1)
    except Exception:  # a counter must never break the page
        log.exception("clip view not counted")


# --- what a clip sells ----------------------------------------------------------------------------


@dataclass
class ClipOffer:
    """What a clip page offers to buy.

    kind: "clip_drop" (the clip's own drop sells now), "next_drop" (a drop of the same SKU in a session
    that sells now or will: live, pre-sale or scheduled), "closed" (nothing of that SKU is on sale or
    planned: the clip's own drop is shown closed) or "none" (the clip sells no drop).
    `status` is commerce.selectors.drop_status of `drop` (None with no drop); `buyable` is True when a
    hold can be placed now (status state "live").
    """

    kind: str
    drop: Drop | None = None
    status: dict | None = None
    next_session: LiveSession | None = None
    buyable: bool = field(default=False)


def clip_offer(*, clip: Clip, now: dt.datetime | None = None) -> ClipOffer:
    """Decide what the clip page sells (docs/replay-and-clips.md, "What a clip sells").

    A drop sells only while its session is live or in pre-sale (commerce.selectors.session_sale_state),
    and a replay is by definition after the session ended, so the clip's own drop is normally closed.
    The clip then sells the same SKU's drop in the soonest session that sells it now; failing that,
    the soonest planned one (shown "on sale when the session goes live"); failing that, the clip's own
    drop, closed, with a link to the series' next session. Reads only.
    """
    now = now or timezone.now()
    drop = clip.drop
    if drop is None:
        return ClipOffer(kind="none")
    own = drop_with_stock(drop_id=drop.pk, now=now)
    own_status = drop_status(drop=own, now=now)
    if own_status["state"] == Drop.State.LIVE:
        return ClipOffer(kind="clip_drop", drop=own, status=own_status, buyable=True)
    same_sku = Drop.objects.filter(sku_id=drop.sku_id).exclude(pk=drop.pk).filter(closes_at__gt=now)
    selling = (  # units left over all stock shards (Drop.objects.with_total_available)
        same_sku.with_total_available()
        .filter(session_selling_q(now=now))
        .filter(Q(available__gt=0) | Q(shard_units__gt=0), opens_at__lte=now)
        .order_by("closes_at", "pk")
    )
    for candidate in selling[:5]:
        candidate = drop_with_stock(drop_id=candidate.pk, now=now)
        status = drop_status(drop=candidate, now=now)
        if status["state"] == Drop.State.LIVE:
            return ClipOffer(kind="next_drop", drop=candidate, status=status, buyable=True)
    planned = (
        same_sku.filter(Q(session__status=LiveSession.Status.SCHEDULED) | Q(session__status=LiveSession.Status.LIVE))
        .select_related("session")
        .order_by("opens_at", "pk")
        .first()
    )
    if planned is not None:
        planned = drop_with_stock(drop_id=planned.pk, now=now)
        status = drop_status(drop=planned, now=now)
        return ClipOffer(kind="next_drop", drop=planned, status=status, buyable=status["state"] == Drop.State.LIVE)
    next_session = None
    if clip.session.series_id:
        next_session = (
            LiveSession.objects.filter(series_id=clip.session.series_id, starts_at__gt=now)
            .exclude(status=LiveSession.Status.CANCELLED)
            .order_by("starts_at")
            .first()
        )
    return ClipOffer(kind="closed", drop=own, status=own_status, next_session=next_session)


# --- pages ----------------------------------------------------------------------------------------


def clips_public(*, session_id: int) -> QuerySet[Clip]:
    """A session's public clips that are not failed, in timeline order (poster, drop and SKU loaded)."""
    return (
        Clip.objects.filter(session_id=session_id, is_public=True)
        .exclude(state=Clip.State.FAILED)
        .select_related("asset", "poster", "drop__sku__product", "recording__poster", "session")
        .order_by("start_ms", "pk")
    )


def clip_public(*, public_id) -> Clip:
    """A public, not failed clip by its public id; raises Clip.DoesNotExist (an unpublished clip is missing)."""
    return (
        Clip.objects.filter(is_public=True)
        .exclude(state=Clip.State.FAILED)
        .select_related("asset", "poster", "drop__sku__product", "recording__poster", "session__series")
        .get(public_id=public_id)
    )


def replay_recording(*, session_id: int) -> Recording | None:
    """The recording the replay page shows in full: the newest ready one, if ASSET_REPLAY_SHOWS_RECORDING."""
    if not getattr(settings, "ASSET_REPLAY_SHOWS_RECORDING", True):
        return None
    return (
        Recording.objects.filter(session_id=session_id, state=Recording.State.READY, asset__isnull=False, partner__isnull=True)
        .select_related("asset", "poster")
        .order_by("-created_at")
        .first()
    )


def clip_card(*, clip: Clip, now: dt.datetime) -> dict:
    """Everything a page shows for one clip: {"clip", "state" (ready|restoring|archived|pending), "eta",
    "video_url", "poster_url", "offer": ClipOffer}."""
    state, eta = asset_state(clip.asset) if clip.state == Clip.State.READY else ("pending", None)
    poster = clip.poster or (clip.recording.poster if clip.recording_id else None)
    return {
        "clip": clip,
        "state": state,
        "eta": eta,
        "video_url": asset_link(clip.asset) if state == "ready" else None,
        "poster_url": asset_link(poster),
        "poster": poster,
        "offer": clip_offer(clip=clip, now=now),
    }


def sessions_with_replay(*, session_ids) -> set[int]:
    """Which of `session_ids` are ended with at least one public clip or a ready recording (home page links)."""
    ids = list(session_ids)
    with_clips = Clip.objects.filter(session_id__in=ids, is_public=True, state=Clip.State.READY).values_list(
        "session_id", flat=True
    )
    with_rec = Recording.objects.filter(session_id__in=ids, state=Recording.State.READY, partner__isnull=True).values_list(
        "session_id", flat=True
    )
    return set(with_clips) | set(with_rec)


def sessions_ended_with_replay(*, limit: int = 6) -> list[LiveSession]:
    """The most recently ended sessions that have a replay (ready clips or a ready recording), newest first."""
    ended = LiveSession.objects.filter(status=LiveSession.Status.ENDED, is_private=False).filter(
        Q(clips__is_public=True, clips__state=Clip.State.READY) | Q(recordings__state=Recording.State.READY, recordings__partner__isnull=True)
    )
    return list(ended.distinct().select_related("format", "series").order_by("-ended_at", "-starts_at")[:limit])


# --- attribution ----------------------------------------------------------------------------------


def clip_source(clip: Clip) -> str:
    """The attribution tag a clip puts on funnel events: "clip:<public id>"."""
    return f"clip:{clip.public_id}"


def clip_sales(*, clip: Clip) -> dict:
    """The funnel a clip page started: {"clicks", "carts", "checkouts", "purchases", "revenue_minor", "currency"}.

    Rule (docs/replay-and-clips.md, "Attribution"): a `click` event whose props carry
    `source = clip:<public id>` (recorded by the clip's buy link) names a visitor and a drop; that
    visitor's later `cart` and `checkout` events for the same drop are the clip's, and a `purchase`
    is the clip's when its order's checkout is. Last click wins: a later click from another source
    for the same visitor and drop takes the sale over. Counts are distinct visitors (clicks, carts)
    or distinct orders (checkouts, purchases); revenue in minor units of the drop's currency.
    Reads flushed events (analytics.models.Event), so it lags the buffer by one flush.
    """
    from analytics.models import Event

    tag = clip_source(clip)
    clicks = list(
        Event.objects.filter(name="click", props__source=tag)
        .exclude(visitor_id="")
        .values_list("visitor_id", "drop_id", "occurred_at", "seq")
    )
    if not clicks:
        return {"clicks": 0, "carts": 0, "checkouts": 0, "purchases": 0, "revenue_minor": 0, "currency": ""}
    visitors = {v for v, _d, _t, _s in clicks}
    # every click of those visitors, whatever its source: the last click before a cart decides
    all_clicks: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for visitor, drop_id, _at, seq, props in Event.objects.filter(name="click", visitor_id__in=visitors).values_list(
        "visitor_id", "drop_id", "occurred_at", "seq", "props"
    ):
        all_clicks.setdefault((visitor, drop_id), []).append((seq, (props or {}).get("source", "")))
    for items in all_clicks.values():
        items.sort()

    def ours(visitor: str, drop_id: int, seq: int) -> bool:
        before = [src for s, src in all_clicks.get((visitor, drop_id), []) if s < seq]
        return bool(before) and before[-1] == tag

    carts, orders = set(), set()
    for visitor, drop_id, seq, name, order_id in Event.objects.filter(
        name__in=("cart", "checkout"), visitor_id__in=visitors
    ).values_list("visitor_id", "drop_id", "seq", "name", "order_id"):
        if ours(visitor, drop_id, seq):
            if name == "cart":
                carts.add(visitor)
            elif order_id:
                orders.add(order_id)
    purchases = list(Event.objects.filter(name="purchase", order_id__in=orders).values_list("order_id", "amount_minor", "currency"))
    paid = {order_id: (amount or 0, currency) for order_id, amount, currency in purchases}
    return {
        "clicks": len(visitors),
        "carts": len(carts),
        "checkouts": len(orders),
        "purchases": len(paid),
        "revenue_minor": sum(a for a, _c in paid.values()),
        "currency": next((c for _a, c in paid.values()), ""),
    }


__all__ = [
    "ClipOffer",
    "absolute",
    "asset_link",
    "asset_state",
    "clip_card",
    "clip_offer",
    "clip_public",
    "clip_sales",
    "clip_source",
    "clip_view_record",
    "clips_public",
    "replay_recording",
    "sessions_ended_with_replay",
    "sessions_with_replay",
]
