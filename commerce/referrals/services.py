"""Share-to-unlock writes: a viewer's personal link, counted visits, the unlock and its personal coupon.

docs/share-to-unlock.md tells the whole story. In short:

- `share_link_get_or_create`: one link per (campaign, visitor cookie `mm_vid`); asking again returns it.
- `share_visit_record`: a visit through `?ref=<token>` is counted only for a distinct NEW human visitor
  (the rules, in order, are in its docstring). Every check that depends on other visits runs under the
  campaign's row lock, then the link's, so concurrent visits to one campaign are decided one after the
  other (a network counts at most SHARE_VISITS_PER_NETWORK times per campaign, across all its links).
- When the count reaches the campaign's `visits_required`, the same transaction creates the ShareUnlock
  and its personal Coupon (percent off the session's drops, valid `offer_minutes`, one redemption).
  One unlock per link (one-to-one) and per (campaign, sharer visitor) (unique constraint): exactly one,
  also under a race of concurrent visits (tests/commerce/referrals/test_share_races.py).
- Personal coupon: bound to the sharer's customer when the sharer's browser is already identified
  (analytics VisitorAlias); otherwise created INACTIVE and unbound, so the code works for nobody, and
  bound + activated by `share_coupons_bind_visitor` when that browser places a hold (the same moment
  watch codes bind: commerce.services.watch_coupons.watch_codes_bind_visitor calls it). A bound coupon
  is refused to any other customer by coupon_check (`coupon_not_applicable`).
- One unlock per customer per campaign: no unlock for a sharer known as a customer who already holds one,
  and a second unbound coupon is never bound to a customer who already holds a bound (or redeemed) share
  coupon of the campaign: it stays unbound and inactive (a sharer clearing cookies gets nothing more).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from analytics.middleware import is_visitor_id
from analytics.models import BufferedEvent, Event, VisitorAlias
from analytics.selectors import visitor_customer_id
from analytics.services import event_capture, is_bot

from ..exceptions import ErrorCode, ShareUnavailable
from ..models import Coupon
from .models import ShareCampaign, ShareLink, ShareUnlock, ShareVisit

CODE_PREFIX = "S"  # unlocked codes look like S-7KQ2M9XA
CODE_LENGTH = 8

# Why a visit was not counted (the `reason` of VisitOutcome; the visit endpoint answers it).
COUNTED = "counted"
NO_VISITOR = "no_visitor"  # no visitor cookie yet (a bot, or the first request of a new browser)
BOT = "bot"  # crawler / headless user agent, or navigator.webdriver reported by the page
UNKNOWN_LINK = "unknown_link"
CLOSED = "closed"  # campaign inactive or outside its window
SELF_VISIT = "self_visit"  # the sharer's own browser, the same identified customer, or the sharer's network
REPEAT = "repeat"  # this visitor was already counted (for this link or another link of the campaign)
NOT_NEW = "not_new"  # the visitor was seen before the link existed
NETWORK_LIMIT = "network_limit"  # this client network already brought its share of visits to this campaign


def visits_per_network() -> int:
    """Counted visits one client network may bring to one campaign, across all its links (default 1)."""
    return int(getattr(settings, "SHARE_VISITS_PER_NETWORK", 1))


def network_hash(network: str) -> str:
    """The client network (IPv4 address or IPv6 /64, config.client_ip.client_network) as stored: a keyed hash."""
    if not network:
        return ""
    return hashlib.sha256(f"{settings.SECRET_KEY}|share|{network}".encode()).hexdigest()[:32]


def campaign_is_open(campaign: ShareCampaign, now: dt.datetime) -> bool:
    """Active and `now` (UTC) inside [starts_at, ends_at): links are handed out and visits count."""
    return bool(campaign.is_active and campaign.starts_at <= now < campaign.ends_at)


def share_link_get_or_create(
    *, campaign_id: int, visitor_id: str | None, now: dt.datetime, network: str = ""
) -> ShareLink:
    """The viewer's personal link for a campaign, created on the first call (one per campaign and visitor).

    `visitor_id`: the `mm_vid` cookie (32 hex). `network`: config.client_ip.client_network of the request;
    stored hashed on a new link (or on an older link that has none) so visits from the sharer's own network
    never count. An existing link is returned whatever the time; a new one needs the campaign open at
    `now`. The link's customer is set when the browser is identified (analytics VisitorAlias). Captures a
    `share` analytics event (props: campaign, link) when a link is created.

    Raises ShareUnavailable (409): `share_visitor_required` (no valid cookie), `share_closed`
    (campaign inactive or outside [starts_at, ends_at)); ShareCampaign.DoesNotExist for an unknown id.
    """
    if not is_visitor_id(visitor_id):
        raise ShareUnavailable("Reload the page to get your share link.", code=ErrorCode.SHARE_VISITOR_REQUIRED)
    campaign = ShareCampaign.objects.select_related("session").get(pk=campaign_id)
    existing = ShareLink.objects.filter(campaign=campaign, visitor_id=visitor_id).first()
    net = network_hash(network)
    if existing is not None:
        if not existing.network and net:  # a link made before networks were stored
            ShareLink.objects.filter(pk=existing.pk, network="").update(network=net)
            existing.network = net
        if existing.customer_id is None and (customer_id := visitor_customer_id(visitor_id=visitor_id)):
            ShareLink.objects.filter(pk=existing.pk, customer__isnull=True).update(customer_id=customer_id)
            existing.customer_id = customer_id
        return existing
    if not campaign_is_open(campaign, now):
        raise ShareUnavailable("This share offer is not open now.", code=ErrorCode.SHARE_CLOSED)
    try:
        with transaction.atomic():
            link = ShareLink.objects.create(
                campaign=campaign,
                visitor_id=visitor_id,
                network=net,
                customer_id=visitor_customer_id(visitor_id=visitor_id),
            )
            event_capture(
                name="share",
                visitor_id=visitor_id,
                session_id=campaign.session_id,
                occurred_at=now,
                props={"campaign": campaign.pk, "link": link.pk},
            )
            return link
    except IntegrityError:  # the same browser asked twice at once: the other request's link is the link
        return ShareLink.objects.get(campaign=campaign, visitor_id=visitor_id)


def _first_seen(visitor_id: str) -> dt.datetime | None:
    """When this visitor first appeared: its earliest analytics event (flushed or still buffered),
    its identification as a customer, or its earliest counted share visit. None = never seen.
    (The buffer has no visitor index; it holds only the seconds of events not flushed yet.)"""
    times = [
        Event.objects.filter(visitor_id=visitor_id)
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
        .first(),
        BufferedEvent.objects.filter(visitor_id=visitor_id)
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
        .first(),
        VisitorAlias.objects.filter(visitor_id=visitor_id).values_list("identified_at", flat=True).first(),
        ShareVisit.objects.filter(visitor_id=visitor_id)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first(),
    ]
    known = [t for t in times if t is not None]
    return min(known) if known else None


class VisitOutcome:
    """What `share_visit_record` decided: `counted`, the `reason` (module constants), and the unlock if
    this visit unlocked the offer."""

    def __init__(self, reason: str, link: ShareLink | None = None, unlock: ShareUnlock | None = None):
        self.reason = reason
        self.counted = reason == COUNTED
        self.link = link
        self.unlock = unlock

    def __repr__(self) -> str:
        return f"VisitOutcome({self.reason!r}, unlock={self.unlock!r})"


def share_visit_record(
    *,
    ref: str,
    visitor_id: str | None,
    network: str,
    user_agent: str,
    now: dt.datetime,
    webdriver: bool = False,
) -> VisitOutcome:
    """Count one visit through a share link, if it is a distinct new human visitor; unlock at N.

    `ref`: the link token from `?ref=`; `visitor_id`: the visitor's `mm_vid` cookie as the request
    carried it (None/invalid = no cookie); `network`: config.client_ip.client_network of the request
    (stored hashed); `webdriver`: the page reported navigator.webdriver (a headless marker).

    Refused (not counted, nothing written), in this order: `no_visitor` (no cookie: a cookieless client
    never counts), `bot` (no user agent, a crawler or headless one: analytics' is_bot, or webdriver), `unknown_link`,
    `closed` (campaign inactive or outside its window), `self_visit` (the sharer's own cookie, a visitor
    identified as the link's customer, or the client network the link was created from), then under the
    campaign's row lock and the link's: `repeat` (already counted for any link of this campaign),
    `not_new` (first seen, by analytics events, identification or an earlier share visit, before the link
    was created), `network_limit` (the client network already brought SHARE_VISITS_PER_NETWORK counted
    visits to this campaign, through any of its links; default 1). The visitor cookie is made by the
    client, so the per-campaign network limit, not the cookie, is what stops one person farming unlocks.

    Counted: a ShareVisit row, `link.visits` + 1 and a `share_visit` analytics event. When `visits` reaches
    the campaign's `visits_required` and the link has no unlock yet, a ShareUnlock with a personal coupon
    (see the module doc) and a `share_unlock` event, in the same transaction. Idempotent per (link, visitor).
    """
    if not is_visitor_id(visitor_id):
        return VisitOutcome(NO_VISITOR)
    if webdriver or not user_agent or is_bot(user_agent):  # a browser always sends a user agent
        return VisitOutcome(BOT)
    link = ShareLink.objects.select_related("campaign").filter(token=(ref or "")[:32]).first()
    if link is None:
        return VisitOutcome(UNKNOWN_LINK)
    campaign = link.campaign
    if not campaign_is_open(campaign, now):
        return VisitOutcome(CLOSED, link)
    if visitor_id == link.visitor_id:
        return VisitOutcome(SELF_VISIT, link)
    visitor_customer = visitor_customer_id(visitor_id=visitor_id)
    sharer_customer = link.customer_id or visitor_customer_id(visitor_id=link.visitor_id)
    if visitor_customer is not None and visitor_customer == sharer_customer:
        return VisitOutcome(SELF_VISIT, link)
    # settings.SHARE_NETWORK_RULES off (DEBUG: the local demo, one machine): no network rules
    net = network_hash(network) if getattr(settings, "SHARE_NETWORK_RULES", True) else ""
    if net and net == link.network:  # the sharer's own network (a fresh cookie, another browser)
        return VisitOutcome(SELF_VISIT, link)
    with transaction.atomic():
        # the campaign's lock first (always campaign, then link): the per-campaign checks see every
        # counted visit of the campaign, whichever link it came through
        ShareCampaign.objects.select_for_update().filter(pk=campaign.pk).values_list("pk", flat=True).first()
        link = ShareLink.objects.select_for_update().select_related("campaign").get(pk=link.pk)
        if ShareVisit.objects.filter(link__campaign_id=campaign.pk, visitor_id=visitor_id).exists():
            return VisitOutcome(REPEAT, link)
        first = _first_seen(visitor_id)
        if first is not None and first < link.created_at:
            return VisitOutcome(NOT_NEW, link)
        if (
            net
            and ShareVisit.objects.filter(link__campaign_id=campaign.pk, network=net).count() >= visits_per_network()
        ):
            return VisitOutcome(NETWORK_LIMIT, link)
        try:
            with transaction.atomic():
                ShareVisit.objects.create(link=link, visitor_id=visitor_id, network=net)
        except IntegrityError:  # the same visitor twice at once on another link of the campaign
            return VisitOutcome(REPEAT, link)
        ShareLink.objects.filter(pk=link.pk).update(visits=F("visits") + 1)
        link.visits += 1
        event_capture(
            name="share_visit",
            visitor_id=visitor_id,
            session_id=campaign.session_id,
            occurred_at=now,
            props={"campaign": campaign.pk, "link": link.pk},
        )
        unlock = None
        if link.visits >= campaign.visits_required and not ShareUnlock.objects.filter(link=link).exists():
            unlock = _unlock(link=link, campaign=campaign, now=now)
    return VisitOutcome(COUNTED, link, unlock)


def _customer_has_unlock(*, campaign_id: int, customer_id: int) -> bool:
    """The customer already holds a share unlock of this campaign: its coupon is bound to them, or they
    redeemed it (call under the campaign's row lock)."""
    return ShareUnlock.objects.filter(
        Q(coupon__customer_id=customer_id) | Q(coupon__redemption_rows__customer_id=customer_id),
        campaign_id=campaign_id,
    ).exists()


def _unlock(*, link: ShareLink, campaign: ShareCampaign, now: dt.datetime) -> ShareUnlock | None:
    """The link reached N visits: its personal coupon and the unlock (inside the campaign's and link's lock).
    None if this sharer already unlocked the campaign through another link (one per person): the same
    visitor, or a browser known as a customer who already holds an unlock of the campaign."""
    from ..services.coupons import coupon_code_generate

    customer_id = link.customer_id or visitor_customer_id(visitor_id=link.visitor_id)
    if ShareUnlock.objects.filter(campaign=campaign, visitor_id=link.visitor_id).exists() or (
        customer_id is not None and _customer_has_unlock(campaign_id=campaign.pk, customer_id=customer_id)
    ):
        return None
    for _attempt in range(3):
        try:
            with transaction.atomic():
                coupon = Coupon.objects.create(
                    code=coupon_code_generate(CODE_PREFIX, CODE_LENGTH),
                    kind=Coupon.Kind.PERCENT,
                    percent_off=campaign.percent_off,
                    valid_from=now,
                    valid_until=now + dt.timedelta(minutes=campaign.offer_minutes),
                    session_id=campaign.session_id,
                    customer_id=customer_id,
                    max_redemptions=1,
                    per_customer_limit=1,
                    # unbound = inactive: nobody can use the code until the sharer's browser binds it
                    is_active=customer_id is not None,
                    note=f"Share-to-unlock: {campaign.name} (link {link.pk})"[:200],
                )
                unlock = ShareUnlock.objects.create(
                    campaign=campaign, link=link, visitor_id=link.visitor_id, coupon=coupon, unlocked_at=now
                )
        except IntegrityError:
            if ShareUnlock.objects.filter(campaign=campaign, visitor_id=link.visitor_id).exists():
                return None
            continue  # the random code collided: draw again
        if customer_id is not None and link.customer_id is None:
            ShareLink.objects.filter(pk=link.pk).update(customer_id=customer_id)
        event_capture(
            name="share_unlock",
            visitor_id=link.visitor_id,
            customer_id=customer_id,
            session_id=campaign.session_id,
            occurred_at=now,
            props={"campaign": campaign.pk, "link": link.pk, "coupon": coupon.pk},
        )
        return unlock
    raise RuntimeError("could not draw a unique share code")


def share_coupons_bind_visitor(*, visitor_id: str | None, customer_id: int | None, now: dt.datetime) -> int:
    """Bind this browser's unbound share-unlock coupons (and links) to the customer it was just
    identified as (a hold placed from it), and activate them. Conditional UPDATEs (`customer IS NULL`):
    a coupon already bound keeps its customer. One unlock per customer per campaign: a coupon whose
    campaign already has a share coupon bound to (or redeemed by) this customer is NOT bound; it stays
    unbound and inactive, so a second code farmed after clearing cookies works for nobody. Decided under
    the campaigns' row locks (the lock the visit counter and the unlock take first), so two browsers of
    one customer binding at once bind one code. Returns how many coupons were bound."""
    if not customer_id or not is_visitor_id(visitor_id):
        return 0
    with transaction.atomic():
        pending = list(
            ShareUnlock.objects.filter(visitor_id=visitor_id, coupon__customer__isnull=True)
            .order_by("campaign_id")
            .values_list("campaign_id", "coupon_id")
        )
        if pending:  # lock order campaign -> link, as share_visit_record
            list(
                ShareCampaign.objects.select_for_update()
                .filter(pk__in={c for c, _ in pending})
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        ShareLink.objects.filter(visitor_id=visitor_id, customer__isnull=True).update(customer_id=customer_id)
        bound = 0
        for campaign_id, coupon_id in pending:
            if _customer_has_unlock(campaign_id=campaign_id, customer_id=customer_id):
                continue  # this customer already has this campaign's unlock: the second code stays inactive
            bound += Coupon.objects.filter(pk=coupon_id, customer__isnull=True).update(
                customer_id=customer_id, is_active=True
            )
    return bound
