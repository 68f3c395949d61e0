"""Follow-up bundle offers for sample recipients, and their redemption at checkout.

SWITCH POINT (for the lead): this module is sampling's stand-in for commerce
coupons (issue 3). Everything that knows how the discount is granted and
applied lives here: `FollowUpOffer` is a personal, one-use, unguessable token;
`offer_redeem` places the order through `commerce.services.orders.order_place`
and then applies the discount to the order's lines (per line, half-up, through
`commerce.money.percent_of`) in the same transaction, and records the
attribution (offer → order → sample request). When commerce coupons land,
`followup_offer_issue` can create a personal one-use coupon instead and
`offer_redeem` can pass it to order placement; the window computation and the
attribution stay.

Window (`followup_window`): the offer opens when the next session of the
campaign's series starts (the first scheduled or live session starting after
the sample shipped) and closes `campaign.offer_hours_after` hours after that
session ends, counted on the *wall clock of the series' timezone*: a session
ending Saturday 20:00 Europe/Berlin with 48 hours closes Monday 20:00 Berlin
time, even when a DST change in between makes that 47 or 49 real hours.
A wall-clock time that does not exist (spring-forward gap) moves forward by the gap.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.services import event_capture
from commerce.identity import normalize_email
from commerce.models import Coupon, Drop, Order
from commerce.services.coupons import coupon_code_generate, coupon_create
from commerce.services.customers import customer_get_or_create
from commerce.services.orders import order_place
from commerce.services.outbox import outbox_enqueue
from sessions_app.models import LiveSession

from ..exceptions import ErrorCode, OfferError
from ..models import FollowUpOffer, SampleCampaign, SampleRequest


def followup_window(
    *, campaign: SampleCampaign, after: dt.datetime
) -> tuple[LiveSession, dt.datetime, dt.datetime] | None:
    """(next session, opens_at, closes_at) as aware UTC, or None without a series or an upcoming session."""
    if campaign.series_id is None:
        return None
    session = (
        LiveSession.objects.filter(
            series_id=campaign.series_id,
            status__in=[LiveSession.Status.SCHEDULED, LiveSession.Status.LIVE],
            starts_at__gt=after,
        )
        .order_by("starts_at")
        .first()
    )
    if session is None:
        return None
    tz = campaign.series.tz
    local_end = session.ends_at.astimezone(tz).replace(tzinfo=None)
    closes_local = (local_end + dt.timedelta(hours=campaign.offer_hours_after)).replace(tzinfo=tz)
    closes_at = closes_local.astimezone(dt.UTC)
    return session, session.starts_at, max(closes_at, session.ends_at + dt.timedelta(seconds=1))


def followup_offer_issue(*, request_id: int, now: dt.datetime | None = None) -> FollowUpOffer | None:
    """Give a shipped (or delivered) requester their offer; queues the e-mail. Idempotent.

    Returns the offer (existing or new), or None when the campaign has no
    discount, no series, or its series has no upcoming session yet.
    """
    return _offer_issue(request_id=request_id, now=now or timezone.now())[0]


def _offer_issue(*, request_id: int, now: dt.datetime) -> tuple[FollowUpOffer | None, bool]:
    req = SampleRequest.objects.select_related("campaign__series").get(pk=request_id)
    existing = FollowUpOffer.objects.filter(request=req).first()
    if existing is not None:
        return existing, False
    if req.status not in (SampleRequest.Status.SHIPPED, SampleRequest.Status.DELIVERED):
        return None, False
    campaign = req.campaign
    if campaign.offer_percent_off <= 0:
        return None, False
    window = followup_window(campaign=campaign, after=req.shipped_at or now)
    if window is None:
        return None, False
    session, opens_at, closes_at = window
    try:
        with transaction.atomic():
            offer = FollowUpOffer.objects.create(
                request=req,
                session=session,
                percent_off=campaign.offer_percent_off,
                opens_at=opens_at,
                closes_at=closes_at,
                created_at=now,
            )
            outbox_enqueue(kind="sample_offer_email", key=f"offer-email:{offer.pk}", payload={"offer_id": offer.pk})
    except IntegrityError:  # issued by a concurrent run
        return FollowUpOffer.objects.get(request=req), False
    return offer, True


def followup_offers_issue(*, now: dt.datetime | None = None) -> int:
    """The scheduled task's body: issue offers to every shipped requester still without one. Returns how many."""
    now = now or timezone.now()
    pending = SampleRequest.objects.filter(
        status__in=[SampleRequest.Status.SHIPPED, SampleRequest.Status.DELIVERED],
        offer__isnull=True,
        campaign__offer_percent_off__gt=0,
        campaign__series__isnull=False,
    ).values_list("pk", flat=True)
    return sum(_offer_issue(request_id=request_id, now=now)[1] for request_id in pending)


def followup_offer_mark_sent(*, offer_id: int, now: dt.datetime | None = None) -> bool:
    """Claim the offer e-mail once: True for the first caller, False when it was already sent."""
    now = now or timezone.now()
    return bool(FollowUpOffer.objects.filter(pk=offer_id, sent_at__isnull=True).update(sent_at=now))


def followup_offer_mark_opened(*, offer_id: int, now: dt.datetime | None = None) -> None:
    """Record the first view of the offer page (funnel step "follow-up opened")."""
    now = now or timezone.now()
    offer = FollowUpOffer.objects.filter(pk=offer_id).values("session_id").first()
    if FollowUpOffer.objects.filter(pk=offer_id, opened_at__isnull=True).update(opened_at=now):
        event_capture(name="follow_up", session_id=offer["session_id"], occurred_at=now, props={"action": "opened"})


def offer_drops(*, offer: FollowUpOffer) -> list[Drop]:
    """The drops of the offer's session, the campaign's SKU first."""
    drops = list(
        Drop.objects.filter(session_id=offer.session_id)
        .select_related("sku__product", "session")
        .order_by("opens_at", "pk")
    )
    sku_id = offer.request.campaign.sku_id
    return sorted(drops, key=lambda d: d.sku_id != sku_id)


def offer_check(*, offer: FollowUpOffer, now: dt.datetime) -> None:
    """Raise OfferError (offer_not_yet_open / offer_expired / offer_already_redeemed) unless redeemable now."""
    state = offer.state_at(now)
    if state == "redeemed":
        raise OfferError("This offer has already been used.", code=ErrorCode.OFFER_REDEEMED)
    if state == "not_yet_open":
        raise OfferError(
            "This offer opens when the next session starts.", code=ErrorCode.OFFER_NOT_OPEN, opens_at=offer.opens_at
        )
    if state == "expired":
        raise OfferError("This offer has expired.", code=ErrorCode.OFFER_EXPIRED, closes_at=offer.closes_at)


def _sample_address(req) -> dict | None:
    """The sample request's normalized address in checkout's fields (docs/shipping-tax.md), None if it has none."""
    if not req.ship_country:
        return None
    return {
        "name": req.ship_name,
        "street_address": req.ship_street_address,
        "city": req.ship_city,
        "city_area": req.ship_city_area,
        "postal_code": req.ship_postal_code,
        "country_area": req.ship_country_area,
        "country_code": req.ship_country,
    }


def offer_redeem(*, token: str, drop_id: int, email: str, quantity: int, now: dt.datetime | None = None) -> Order:
    """Place an order on one of the offer session's drops with the bundle discount, once.

    The offer row is locked, checked (window, unused, the same normalized
    e-mail as the sample request, a drop of the offer's session), then
    `order_place` holds the stock and checks out with a personal one-use coupon
    (commerce.services.coupons) worth `percent_off`, so every line gets
    `percent_of(line subtotal, percent_off)` off (half-up, minor units) before
    payment starts. A shipped drop ships to the sample's address (the shop's shipping rates
    apply; a country without one refuses with ShippingError). The offer records the order and the discount: that is
    the attribution to the sample. All in one transaction.
    Raises OfferError (see offer_check, offer_not_yours, offer_wrong_drop),
    commerce.exceptions.CommerceError (sold out, closed, limit…), FollowUpOffer.DoesNotExist.
    """
    now = now or timezone.now()
    with transaction.atomic():
        offer = FollowUpOffer.objects.select_for_update().select_related("request").get(token=token)
        offer_check(offer=offer, now=now)
        try:
            same_person = normalize_email(email) == offer.request.email_normalized
        except ValidationError:
            same_person = False
        if not same_person:
            raise OfferError(
                "This offer is personal: use the e-mail address the sample was sent to.",
                code=ErrorCode.OFFER_NOT_YOURS,
                status=403,
            )
        if not Drop.objects.filter(pk=drop_id, session_id=offer.session_id).exists():
            raise OfferError(
                "The offer applies to the drops of its session only.", code=ErrorCode.OFFER_WRONG_DROP, status=422
            )
        # The bundle discount is a personal, one-use commerce coupon scoped to the offer's session,
        # so it is applied (per line, half-up) before payment starts, with any provider.
        coupon = coupon_create(
            code=coupon_code_generate(prefix="FOLLOWUP"),
            kind=Coupon.Kind.PERCENT,
            percent_off=offer.percent_off,
            valid_from=now - dt.timedelta(seconds=1),
            valid_until=max(offer.closes_at, now + dt.timedelta(seconds=1)),
            session=offer.session,
            customer=customer_get_or_create(email=email),
            max_redemptions=1,
            note=f"Follow-up offer {offer.pk} for sample request {offer.request_id}",
        )
        order = order_place(
            drop_id=drop_id,
            email=email,
            quantity=quantity,
            coupon_code=coupon.code,
            shipping_address=_sample_address(offer.request),  # a shipped drop goes where the sample went
            now=now,
        )
        discount = order.discount_minor
        updated = FollowUpOffer.objects.filter(pk=offer.pk, redeemed_at__isnull=True).update(
            redeemed_at=now, order=order, discount_minor=discount
        )
        if not updated:  # unreachable under the row lock; kept as the one-use guard on databases without it
            raise OfferError("This offer has already been used.", code=ErrorCode.OFFER_REDEEMED)
        event_capture(
            name="follow_up",
            customer_id=order.customer_id,
            session_id=offer.session_id,
            order_id=order.pk,
            amount_minor=order.total_minor,
            currency=order.currency,
            occurred_at=now,
            props={"action": "redeemed"},
        )
    return order
