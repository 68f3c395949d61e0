"""Follow-up offers: the window across DST changes, the scheduled task and e-mail, redemption at checkout, KPIs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from commerce.exceptions import CommerceError
from commerce.models import Order
from commerce.services.orders import order_place
from commerce.services.outbox import outbox_drain
from sampling.exceptions import OfferError
from sampling.models import FollowUpOffer
from sampling.selectors import campaign_kpis
from sampling.services.followup import followup_offers_issue, followup_window, offer_redeem
from sampling.tasks import followup_offers_issue as scheduled_task
from sessions_app.models import LiveSession
from sessions_app.services import series_plan_sessions
from tests.factories import ADDRESS_DE, LiveSessionFactory, SkuFactory, make_campaign, make_drop

from .helpers import make_series, shipped_request

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def session_at(series, starts_at, duration=3600, status=LiveSession.Status.SCHEDULED):
    return LiveSessionFactory(
        series=series, starts_at=starts_at, duration_seconds=duration, status=status, timezone=series.timezone
    )


@pytest.mark.parametrize(
    ("starts_utc", "closes_utc", "real_hours"),
    [
        # Sat 24 Oct 2026 19:00 CEST; clocks go back on Sunday: Mon 20:00 CET is 49 real hours after the end
        (dt.datetime(2026, 10, 24, 17, 0, tzinfo=UTC), dt.datetime(2026, 10, 26, 19, 0, tzinfo=UTC), 49),
        # Sat 27 Mar 2027 19:00 CET; clocks go forward on Sunday: Mon 20:00 CEST is 47 real hours after the end
        (dt.datetime(2027, 3, 27, 18, 0, tzinfo=UTC), dt.datetime(2027, 3, 29, 18, 0, tzinfo=UTC), 47),
        # no DST change in between: exactly 48 hours
        (dt.datetime(2026, 11, 7, 18, 0, tzinfo=UTC), dt.datetime(2026, 11, 9, 19, 0, tzinfo=UTC), 48),
    ],
)
def test_window_is_computed_on_the_series_wall_clock_across_dst(starts_utc, closes_utc, real_hours):
    series = make_series()
    campaign = make_campaign(series=series, offer_percent_off=Decimal("15"), offer_hours_after=48)
    session = session_at(series, starts_utc)
    found, opens_at, closes_at = followup_window(campaign=campaign, after=starts_utc - dt.timedelta(days=3))
    assert found == session
    assert opens_at == starts_utc
    assert closes_at == closes_utc
    assert (closes_at - session.ends_at) == dt.timedelta(hours=real_hours)
    local_end = timezone.localtime(session.ends_at, series.tz)
    local_close = timezone.localtime(closes_at, series.tz)
    assert (local_close.hour, local_close.minute) == (local_end.hour, local_end.minute) == (20, 0)


def test_window_uses_the_next_planned_session_of_the_series():
    series = make_series(weekday=5, local_time=dt.time(9, 30))
    created = series_plan_sessions(series=series, now=dt.datetime(2026, 10, 20, tzinfo=UTC))
    campaign = make_campaign(series=series, offer_percent_off=Decimal("10"))
    session, opens_at, _ = followup_window(campaign=campaign, after=dt.datetime(2026, 10, 25, tzinfo=UTC))
    assert session == created[1]  # Sat 31 Oct, after the clocks went back
    assert timezone.localtime(opens_at, series.tz).time() == dt.time(9, 30)
    assert opens_at == dt.datetime(2026, 10, 31, 8, 30, tzinfo=UTC)


def test_no_series_or_no_upcoming_session_means_no_offer():
    campaign = make_campaign(offer_percent_off=Decimal("10"))
    assert followup_window(campaign=campaign, after=timezone.now()) is None
    series = make_series()
    session_at(series, timezone.now() - dt.timedelta(days=1))
    campaign = make_campaign(series=series, offer_percent_off=Decimal("10"))
    assert followup_window(campaign=campaign, after=timezone.now()) is None


def test_scheduled_task_issues_one_offer_per_shipped_requester_and_emails_it(django_capture_on_commit_callbacks):
    series = make_series()
    session = session_at(series, timezone.now() + dt.timedelta(days=2))
    campaign = make_campaign(series=series, offer_percent_off=Decimal("20"), offer_hours_after=24)
    req = shipped_request(campaign)
    make_campaign(offer_percent_off=Decimal("0"))  # no discount: no offer
    outbox_drain()  # the setup's e-mails (request accepted, shipped) go out first, as they would have live
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduled_task() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert followup_offers_issue() == 0  # idempotent
    offer = FollowUpOffer.objects.get()
    assert (offer.request, offer.session, offer.percent_off) == (req, session, Decimal("20"))
    assert offer.sent_at is not None
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert offer.get_absolute_url() in body
    assert "20% off" in body
    assert len(offer.token) >= 32


@pytest.fixture
def live_offer():
    """A shipped sample whose offer is open now: the next session is live with an open drop."""
    series = make_series()
    now = timezone.now()
    campaign = make_campaign(series=series, offer_percent_off=Decimal("15"), offer_hours_after=24, opens_in=-3 * 86400)
    req = shipped_request(campaign, shipped_at=now - dt.timedelta(days=1))
    session = session_at(series, now - dt.timedelta(minutes=10), status=LiveSession.Status.LIVE)
    drop = make_drop(session=session, sku=SkuFactory(price_minor=3333), quantity=5, per_customer_limit=3)
    followup_offers_issue(now=now)
    return FollowUpOffer.objects.get(request=req), drop


def test_redeem_applies_the_discount_per_line_half_up_and_attributes_the_order(live_offer):
    offer, drop = live_offer
    order = offer_redeem(token=offer.token, drop_id=drop.pk, email="ANN+offer@example.com", quantity=3)
    line = order.lines.get()
    # 3 × 33.33 = 99.99; 15 % = 14.9985 → 15.00 (half-up per line)
    assert (line.unit_price_minor, line.quantity, line.discount_minor, line.total_minor) == (3333, 3, 1500, 8499)
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (9999, 1500, 8499)
    offer.refresh_from_db()
    assert offer.order == order
    assert offer.discount_minor == 1500
    assert offer.redeemed_at is not None
    drop.refresh_from_db()
    assert drop.available == 2


def test_offer_is_one_use(live_offer):
    offer, drop = live_offer
    offer_redeem(token=offer.token, drop_id=drop.pk, email="ann@example.com", quantity=1)
    with pytest.raises(OfferError) as exc:
        offer_redeem(token=offer.token, drop_id=drop.pk, email="ann@example.com", quantity=1)
    assert exc.value.code == "offer_already_redeemed"
    assert Order.objects.count() == 1


def test_offer_is_personal(live_offer):
    offer, drop = live_offer
    with pytest.raises(OfferError) as exc:
        offer_redeem(token=offer.token, drop_id=drop.pk, email="friend@example.com", quantity=1)
    assert exc.value.code == "offer_not_yours"
    assert Order.objects.count() == 0


def test_offer_only_on_its_sessions_drops(live_offer):
    offer, _ = live_offer
    other = make_drop(quantity=5)
    with pytest.raises(OfferError) as exc:
        offer_redeem(token=offer.token, drop_id=other.pk, email="ann@example.com", quantity=1)
    assert exc.value.code == "offer_wrong_drop"


@pytest.mark.parametrize(
    ("shift", "code"), [(-dt.timedelta(hours=1), "offer_not_yet_open"), (dt.timedelta(days=3), "offer_expired")]
)
def test_offer_outside_its_window(live_offer, shift, code):
    offer, drop = live_offer
    when = (offer.opens_at if shift < dt.timedelta(0) else offer.closes_at) + shift
    with pytest.raises(OfferError) as exc:
        offer_redeem(token=offer.token, drop_id=drop.pk, email="ann@example.com", quantity=1, now=when)
    assert exc.value.code == code


def test_a_sold_out_drop_leaves_the_offer_unused(live_offer):
    offer, drop = live_offer
    with pytest.raises(CommerceError):
        offer_redeem(token=offer.token, drop_id=drop.pk, email="ann@example.com", quantity=6)
    offer.refresh_from_db()
    assert offer.redeemed_at is None


def test_campaign_kpis():
    campaign = make_campaign(unit_cost_minor=350, quantity=10, currency="USD")
    now = timezone.now()
    ann = shipped_request(campaign, "ann@example.com", shipped_at=now - dt.timedelta(days=5))
    shipped_request(
        campaign,
        "bob@example.com",
        address={**ADDRESS_DE, "street_address": "Gontardstraße 1"},
        shipped_at=now - dt.timedelta(days=5),
    )
    from sampling.services.requests import sample_request_create

    sample_request_create(campaign_id=campaign.pk, email="cat@example.com", use_case="A gift", consent=True)
    # ann buys twice within 30 days of her sample, once long before it (not attributed)
    drop = make_drop(quantity=10, sku=SkuFactory(price_minor=2000), per_customer_limit=5)
    first = order_place(drop_id=drop.pk, email="ann@example.com", quantity=1)
    order_place(drop_id=drop.pk, email="ann@example.com", quantity=2)
    old = order_place(drop_id=drop.pk, email="ann+old@example.com", quantity=1)
    Order.objects.filter(pk=old.pk).update(created_at=ann.shipped_at - dt.timedelta(days=40))
    k = campaign_kpis(campaign=campaign)
    assert (k["requests"], k["approved"], k["shipped"], k["waitlisted"], k["in_review"]) == (3, 2, 2, 0, 0)
    assert k["cost_minor"] == 700
    assert k["converted"] == 1
    assert k["conversion"] == 0.5
    assert k["cost_per_acquired_minor"] == 700
    assert k["revenue_30d_minor"] == first.total_minor + 4000
