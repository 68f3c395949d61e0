"""Share-to-unlock (docs/share-to-unlock.md): the server-side visit counter against bots, self visits,
repeats, old visitors and one network with many cookies; the unlock at N with a personal coupon that only
the sharer can use; the endpoints' answers and headers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import BufferedEvent, Event, VisitorAlias
from commerce.exceptions import CouponInvalid, ErrorCode, ShareUnavailable
from commerce.models import Coupon, Order
from commerce.referrals import services as share
from commerce.referrals.models import ShareLink, ShareUnlock, ShareVisit
from commerce.referrals.selectors import share_campaigns_funnel
from commerce.services.coupons import coupon_check
from commerce.services.customers import customer_get_or_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from tests.commerce.referrals.share_support import BROWSER, campaign, net, new_visitor
from tests.factories import make_drop

pytestmark = pytest.mark.django_db

HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _visit(link, vid, i, *, ua=BROWSER, now=None, **kw):
    return share.share_visit_record(
        ref=link.token, visitor_id=vid, network=net(i), user_agent=ua, now=now or timezone.now(), **kw
    )


def _link(c, vid=None):
    return share.share_link_get_or_create(campaign_id=c.pk, visitor_id=vid or new_visitor(), now=timezone.now())


# --- the link -----------------------------------------------------------------------------------------


def test_one_link_per_visitor_and_campaign_and_none_without_a_cookie_or_outside_the_window():
    c = campaign()
    vid = new_visitor()
    # given a viewer asking twice, then they get the same link
    first, again = _link(c, vid), _link(c, vid)
    assert first.pk == again.pk and len(first.token) >= 12
    # a request without a visitor cookie gets no link
    with pytest.raises(ShareUnavailable) as exc:
        share.share_link_get_or_create(campaign_id=c.pk, visitor_id="", now=timezone.now())
    assert exc.value.code == ErrorCode.SHARE_VISITOR_REQUIRED
    # after the campaign ends nobody gets a new link, but the existing one is still theirs
    later = c.ends_at + dt.timedelta(seconds=1)
    with pytest.raises(ShareUnavailable) as exc:
        share.share_link_get_or_create(campaign_id=c.pk, visitor_id=new_visitor(), now=later)
    assert exc.value.code == ErrorCode.SHARE_CLOSED
    assert share.share_link_get_or_create(campaign_id=c.pk, visitor_id=vid, now=later).pk == first.pk


# --- the counter ---------------------------------------------------------------------------------------


def test_bots_cookieless_clients_and_webdriver_are_not_counted():
    c = campaign()
    link = _link(c)
    assert _visit(link, new_visitor(), 1, ua=GOOGLEBOT).reason == share.BOT
    assert _visit(link, new_visitor(), 2, ua=HEADLESS).reason == share.BOT
    assert _visit(link, new_visitor(), 3, webdriver=True).reason == share.BOT
    assert _visit(link, new_visitor(), 6, ua="").reason == share.BOT
    assert _visit(link, "", 4).reason == share.NO_VISITOR
    assert _visit(link, "not-a-cookie", 5).reason == share.NO_VISITOR
    link.refresh_from_db()
    assert link.visits == 0 and not ShareVisit.objects.exists()


def test_the_sharers_own_visits_do_not_count_not_even_from_another_browser_of_the_same_customer():
    c = campaign()
    sharer_vid, other_browser = new_visitor(), new_visitor()
    ann = customer_get_or_create(email="ann@example.com")
    VisitorAlias.objects.create(visitor_id=sharer_vid, customer_id=ann.pk, identified_at=timezone.now())
    link = _link(c, sharer_vid)
    assert link.customer_id == ann.pk
    # given the sharer's phone, identified as ann too (arriving after the link was made)
    assert _visit(link, sharer_vid, 1).reason == share.SELF_VISIT
    VisitorAlias.objects.create(visitor_id=other_browser, customer_id=ann.pk, identified_at=timezone.now())
    assert _visit(link, other_browser, 2).reason == share.SELF_VISIT
    assert ShareLink.objects.get(pk=link.pk).visits == 0


def test_a_repeat_visitor_counts_once_per_campaign_even_through_another_sharers_link():
    c = campaign(n=5)
    a, b = _link(c), _link(c)
    vid = new_visitor()
    assert _visit(a, vid, 1).reason == share.COUNTED
    assert _visit(a, vid, 1).reason == share.REPEAT
    assert _visit(b, vid, 2).reason == share.REPEAT  # a friend's link cannot count the same person again
    assert (ShareLink.objects.get(pk=a.pk).visits, ShareLink.objects.get(pk=b.pk).visits) == (1, 0)


def test_a_visitor_seen_before_the_link_existed_is_not_new():
    c = campaign()
    old, buffered = new_visitor(), new_visitor()
    days_ago = timezone.now() - dt.timedelta(days=3)
    # given a visitor whose first analytics event (flushed) predates the link, and one still in the buffer
    Event.objects.create(
        seq=1, name="view", occurred_at=days_ago, received_at=days_ago, visitor_id=old, actor=f"v:{old}"
    )
    BufferedEvent.objects.create(name="view", occurred_at=days_ago, received_at=days_ago, visitor_id=buffered)
    link = _link(c)
    # then their visits through the link are not counted; a brand-new visitor is
    assert _visit(link, old, 1).reason == share.NOT_NEW
    assert _visit(link, buffered, 2).reason == share.NOT_NEW
    assert _visit(link, new_visitor(), 3).reason == share.COUNTED
    assert ShareLink.objects.get(pk=link.pk).visits == 1


def test_one_network_with_many_cookies_counts_once_per_link():
    c = campaign(n=3)
    link = _link(c)
    # given one person clearing cookies: five fresh visitor ids from the same network
    reasons = [_visit(link, new_visitor(), 7).reason for _ in range(5)]
    # then one visit counts and the rest are refused: they cannot unlock alone
    assert reasons == [share.COUNTED] + [share.NETWORK_LIMIT] * 4
    assert ShareLink.objects.get(pk=link.pk).visits == 1 and not ShareUnlock.objects.exists()


def test_a_network_counts_once_per_campaign_so_three_networks_cannot_farm_a_second_unlock():
    # given the attack over HTTP: a sharer's link A (from network 50), unlocked by 3 networks, each posting
    # /share/visit with a made-up mm_vid cookie the server never issued
    c = campaign(n=3)

    def sharer_link(ip):
        sharer = Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR=ip)
        sharer.cookies["mm_vid"] = new_visitor()
        assert sharer.get(f"/share/{c.pk}/me.json").status_code == 200
        return ShareLink.objects.get(visitor_id=sharer.cookies["mm_vid"].value)

    def farm(link):
        reasons = []
        for i in (1, 2, 3):
            bot = Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR=net(i))
            bot.cookies["mm_vid"] = new_visitor()  # never issued by the server
            reasons.append(bot.post("/share/visit", {"ref": link.token}).json()["reason"])
        return reasons

    link_a = sharer_link(net(50))
    assert farm(link_a) == [share.COUNTED] * 3
    assert ShareUnlock.objects.filter(link=link_a).exists()
    # when the same person takes a new sharer cookie (link B) and the same 3 networks visit it again
    link_b = sharer_link(net(51))
    assert link_b.pk != link_a.pk
    # then none of them counts: each network already brought its visit to this campaign
    assert farm(link_b) == [share.NETWORK_LIMIT] * 3
    assert ShareLink.objects.get(pk=link_b.pk).visits == 0
    assert ShareUnlock.objects.filter(campaign=c).count() == 1
    # while a network that brought no visit to the campaign still counts for link B
    assert _visit(link_b, new_visitor(), 4).reason == share.COUNTED


def test_a_visit_from_the_network_that_created_the_link_never_counts():
    c = campaign(n=2)
    # given a link created from network 5 (the sharer's)
    link = share.share_link_get_or_create(
        campaign_id=c.pk, visitor_id=new_visitor(), now=timezone.now(), network=net(5)
    )
    assert link.network == share.network_hash(net(5)) and net(5) not in link.network
    # when fresh cookies (a private window, another browser) visit from that network, then none counts
    assert [_visit(link, new_visitor(), 5).reason for _ in range(3)] == [share.SELF_VISIT] * 3
    # and a visitor from another network does
    assert _visit(link, new_visitor(), 6).reason == share.COUNTED
    assert ShareLink.objects.get(pk=link.pk).visits == 1 and not ShareVisit.objects.filter(network=link.network)


def test_visits_outside_the_campaign_window_or_with_an_unknown_ref_are_not_counted():
    c = campaign()
    link = _link(c)
    assert _visit(link, new_visitor(), 1, now=c.ends_at).reason == share.CLOSED
    assert (
        share.share_visit_record(
            ref="nope", visitor_id=new_visitor(), network=net(1), user_agent=BROWSER, now=timezone.now()
        ).reason
        == share.UNKNOWN_LINK
    )
    c.is_active = False
    c.save()
    assert _visit(link, new_visitor(), 2).reason == share.CLOSED
    assert not ShareVisit.objects.exists()


# --- the unlock and its personal coupon ----------------------------------------------------------------


def test_n_new_visitors_unlock_one_personal_coupon_and_more_visits_do_not_unlock_again():
    c = campaign(n=3, percent="15", minutes=60)
    link = _link(c)
    before = timezone.now()
    outcomes = [_visit(link, new_visitor(), i) for i in range(5)]
    assert [o.unlock is not None for o in outcomes] == [False, False, True, False, False]
    unlock = ShareUnlock.objects.get()
    coupon = unlock.coupon
    assert unlock.link_id == link.pk and unlock.visitor_id == link.visitor_id
    assert coupon.kind == "percent" and str(coupon.percent_off) == "15.00"
    assert coupon.session_id == c.session_id and coupon.max_redemptions == 1
    assert dt.timedelta(minutes=59) < coupon.valid_until - before <= dt.timedelta(minutes=61)
    # the sharer was not identified: the code is unbound and inactive until their browser places a hold
    assert coupon.customer_id is None and coupon.is_active is False
    assert ShareLink.objects.get(pk=link.pk).visits == 5


def test_the_unlocked_code_is_personal_bound_by_the_sharers_hold_and_refused_to_anyone_else():
    c = campaign(n=1)
    drop = make_drop(session=c.session, quantity=10, per_customer_limit=3)
    sharer = new_visitor()
    link = _link(c, sharer)
    unlock = _visit(link, new_visitor(), 1).unlock
    code = unlock.coupon.code
    # given someone else got hold of the code before the sharer used it
    thief_hold = hold_place(drop_id=drop.pk, email="thief@example.com", quantity=1, visitor_id=new_visitor())
    with pytest.raises(CouponInvalid) as exc:
        coupon_check(code=code, hold=thief_hold, now=timezone.now())
    assert exc.value.code == ErrorCode.COUPON_INVALID  # unbound: works for nobody
    # when the sharer places a hold from their browser, the code binds to them
    own = hold_place(drop_id=drop.pk, email="sharer@example.com", quantity=1, visitor_id=sharer)
    coupon = Coupon.objects.get(pk=unlock.coupon_id)
    assert coupon.customer_id == own.customer_id and coupon.is_active
    _c, discount = coupon_check(code=code, hold=own, now=timezone.now())
    assert discount == round(own.unit_price_minor * 0.15)
    # then the other customer is refused, even with a hold placed later
    with pytest.raises(CouponInvalid) as exc:
        coupon_check(code=code, hold=thief_hold, now=timezone.now())
    assert exc.value.code == ErrorCode.COUPON_NOT_APPLICABLE
    # and the sharer's purchase with it is the funnel's last step
    order = checkout_start(hold_token=own.token, coupon_code=code)
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID, paid_at=timezone.now())
    [row] = share_campaigns_funnel()
    assert (row["links"], row["visits"], row["unlocks"], row["purchases"]) == (1, 1, 1, 1)
    assert row["unlock_rate"] == 1.0 and row["purchase_rate"] == 1.0


def test_an_identified_sharer_gets_a_code_bound_at_once_and_one_unlock_per_person():
    c = campaign(n=1)
    sharer = new_visitor()
    ann = customer_get_or_create(email="ann@example.com")
    VisitorAlias.objects.create(visitor_id=sharer, customer_id=ann.pk, identified_at=timezone.now())
    unlock = _visit(_link(c, sharer), new_visitor(), 1).unlock
    assert unlock.coupon.customer_id == ann.pk and unlock.coupon.is_active
    # given ann makes a second link from another browser (identified as ann) and brings a visitor
    phone = new_visitor()
    VisitorAlias.objects.create(visitor_id=phone, customer_id=ann.pk, identified_at=timezone.now())
    second = _visit(_link(c, phone), new_visitor(), 2)
    # then the visit counts but nothing unlocks again: one unlock per person per campaign
    assert second.counted and second.unlock is None
    assert ShareUnlock.objects.count() == 1


def test_a_sharer_clearing_cookies_gets_a_second_code_that_never_binds_to_them():
    c = campaign(n=1)
    first_drop = make_drop(session=c.session, quantity=10, per_customer_limit=3)
    second_drop = make_drop(session=c.session, quantity=10, per_customer_limit=3)
    # given a sharer whose first code is bound to sharer@example.com by a hold from their browser
    first_browser = new_visitor()
    first = _visit(_link(c, first_browser), new_visitor(), 1).unlock
    own = hold_place(drop_id=first_drop.pk, email="sharer@example.com", quantity=1, visitor_id=first_browser)
    assert Coupon.objects.get(pk=first.coupon_id).customer_id == own.customer_id
    # when they clear cookies, get a second link, unlock it and place a hold from the new browser
    second_browser = new_visitor()
    second = _visit(_link(c, second_browser), new_visitor(), 2).unlock
    assert second is not None and second.coupon.customer_id is None  # not known yet: unbound
    again = hold_place(drop_id=second_drop.pk, email="sharer@example.com", quantity=1, visitor_id=second_browser)
    assert again.customer_id == own.customer_id
    # then the second code is not bound: it stays inactive and works for nobody, not even them
    coupon = Coupon.objects.get(pk=second.coupon_id)
    assert coupon.customer_id is None and coupon.is_active is False
    with pytest.raises(CouponInvalid) as exc:
        coupon_check(code=coupon.code, hold=again, now=timezone.now())
    assert exc.value.code == ErrorCode.COUPON_INVALID
    assert (
        share.share_coupons_bind_visitor(visitor_id=second_browser, customer_id=own.customer_id, now=timezone.now())
        == 0
    )
    # while their first code still applies
    assert coupon_check(code=first.coupon.code, hold=again, now=timezone.now())[1] > 0
    # and another customer's unbound code still binds to them (one unlock per customer, not per code)
    other_browser = new_visitor()
    other = _visit(_link(c, other_browser), new_visitor(), 3).unlock
    bob = customer_get_or_create(email="bob@example.com")
    assert share.share_coupons_bind_visitor(visitor_id=other_browser, customer_id=bob.pk, now=timezone.now()) == 1
    assert Coupon.objects.get(pk=other.coupon_id).customer_id == bob.pk


def test_a_browser_known_as_a_customer_who_already_unlocked_gets_no_second_unlock():
    c = campaign(n=1)
    drop = make_drop(session=c.session, quantity=10, per_customer_limit=3)
    # given ann's first code, bound by her hold
    first_browser = new_visitor()
    _visit(_link(c, first_browser), new_visitor(), 1)
    ann = hold_place(drop_id=drop.pk, email="ann@example.com", quantity=1, visitor_id=first_browser).customer_id
    # when a fresh browser makes a link, is then identified as ann, and its link reaches N
    second_browser = new_visitor()
    link = _link(c, second_browser)
    assert link.customer_id is None
    VisitorAlias.objects.create(visitor_id=second_browser, customer_id=ann, identified_at=timezone.now())
    outcome = _visit(link, new_visitor(), 2)
    # then the visit counts but no second unlock (nor coupon) is created
    assert outcome.counted and outcome.unlock is None
    assert ShareUnlock.objects.filter(campaign=c).count() == 1
    assert Coupon.objects.filter(share_unlock__isnull=False).count() == 1


# --- the endpoints ---------------------------------------------------------------------------------------


def test_me_json_is_private_creates_the_link_for_the_cookie_and_shows_progress_then_the_code():
    c = campaign(n=2)
    browser = Client(HTTP_USER_AGENT=BROWSER)
    # a first call without a cookie is answered 409 and sets one; the second creates the link
    first = browser.get(f"/share/{c.pk}/me.json")
    assert first.status_code == 409 and first.json()["code"] == "share_visitor_required"
    assert "mm_vid" in first.cookies
    me = browser.get(f"/share/{c.pk}/me.json")
    assert me.status_code == 200 and {"private", "no-store"} <= set(me["Cache-Control"].replace(" ", "").split(","))
    data = me.json()
    link = ShareLink.objects.get()
    assert link.visitor_id == browser.cookies["mm_vid"].value
    assert data["url"].endswith(f"{c.session.get_absolute_url()}?ref={link.token}")
    assert (data["visits"], data["visits_required"], data["unlocked"], data["code"]) == (0, 2, False, None)
    # two friends open the link (each in a new browser, from their own network)
    for i in range(2):
        friend = Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR=net(i))
        answer = friend.post("/share/visit", {"ref": link.token})
        assert answer.json() == {"counted": False, "reason": "no_visitor", "retry": True}
        answer = friend.post("/share/visit", {"ref": link.token})
        assert answer.json()["counted"] is True and "no-store" in answer["Cache-Control"]
    data = browser.get(f"/share/{c.pk}/me.json").json()
    assert data["unlocked"] is True and data["visits"] == 2 and data["code"].startswith("S-")
    assert data["code"] == ShareUnlock.objects.get().coupon.code and data["expires_at"]


def test_the_share_panel_is_on_the_session_and_clip_pages_without_anything_personal():
    c = campaign(n=3, percent="15")
    browser = Client(HTTP_USER_AGENT=BROWSER)
    browser.get(f"/share/{c.pk}/me.json")
    browser.get(f"/share/{c.pk}/me.json")
    link = ShareLink.objects.get()
    html = browser.get(c.session.get_absolute_url()).content.decode()
    assert "Share to unlock 15% off" in html and f'data-share-me-url="/share/{c.pk}/me.json"' in html
    assert link.token not in html and "js/share.js" in html
    # a closed campaign is not offered
    c.is_active = False
    c.save()
    from django.core.cache import cache

    cache.clear()
    assert "Share to unlock" not in Client().get(c.session.get_absolute_url()).content.decode()


def test_me_json_for_an_unknown_campaign_is_404_and_the_visit_endpoint_is_rate_limited(settings):
    settings.SHARE_RATE_LIMIT_IP = 3
    settings.RATE_LIMIT_STORE = "cache"
    assert Client().get("/share/999999/me.json").status_code == 404
    c = campaign()
    link = _link(c)
    spammer = Client(HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="192.0.2.9")
    codes = [spammer.post("/share/visit", {"ref": link.token}).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_a_clip_campaign_is_offered_on_the_clip_page_and_its_link_points_to_the_clip(settings, tmp_path):
    from tests.sessions_app.assets.pages_world import ended_session_with_clip

    settings.MEDIA_ROOT = tmp_path
    clip = ended_session_with_clip()
    c = campaign(session=clip.session, clip=clip, n=2, percent="10")
    html = Client(HTTP_USER_AGENT=BROWSER).get(f"/c/{clip.public_id}/").content.decode()
    assert "Share to unlock 10% off" in html and f"/share/{c.pk}/me.json" in html
    browser = Client(HTTP_USER_AGENT=BROWSER)
    browser.get(f"/share/{c.pk}/me.json")
    data = browser.get(f"/share/{c.pk}/me.json").json()
    assert f"/c/{clip.public_id}/?ref=" in data["url"]
    # the session page of that session offers no clip campaign
    from django.core.cache import cache

    cache.clear()
    assert "Share to unlock" not in Client().get(clip.session.get_absolute_url()).content.decode()
