"""Share-to-unlock under real concurrency (PostgreSQL, threads on their own connections): many new visitors
arriving at once through one link unlock exactly one offer, and every counted visit is counted once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.models import Coupon
from commerce.referrals import services as share
from commerce.referrals.models import ShareLink, ShareUnlock, ShareVisit
from commerce.services.customers import customer_get_or_create
from tests.commerce.referrals.share_support import BROWSER, campaign, net, new_visitor
from tests.commerce.test_races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _visit(link, vid, i):
    return share.share_visit_record(
        ref=link.token, visitor_id=vid, network=net(i), user_agent=BROWSER, now=timezone.now()
    )


def test_concurrent_new_visitors_unlock_exactly_once():
    # given a link that needs 3 visitors, and 24 new visitors from 24 networks arriving at once
    c = campaign(n=3)
    link = share.share_link_get_or_create(campaign_id=c.pk, visitor_id=new_visitor(), now=timezone.now())
    visitors = [new_visitor() for _ in range(24)]
    results = race(len(visitors), lambda i: _visit(link, visitors[i], i))
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    # then every one of them counted once, and exactly one visit unlocked exactly one coupon
    assert all(r.counted for r in results)
    assert ShareLink.objects.get(pk=link.pk).visits == 24 == ShareVisit.objects.filter(link=link).count()
    assert sum(1 for r in results if r.unlock is not None) == 1
    assert ShareUnlock.objects.filter(campaign=c).count() == 1
    assert Coupon.objects.filter(share_unlock__isnull=False).count() == 1


def test_one_visitor_racing_itself_and_one_network_racing_many_cookies_count_once():
    c = campaign(n=2)
    link = share.share_link_get_or_create(campaign_id=c.pk, visitor_id=new_visitor(), now=timezone.now())
    same = new_visitor()
    # the same browser fires its visit 12 times at once: counted once, the rest are repeats
    results = race(12, lambda i: _visit(link, same, 1))
    assert not [r for r in results if isinstance(r, Exception)]
    assert sorted(r.reason for r in results) == [share.COUNTED] + [share.REPEAT] * 11
    # one network with 12 fresh cookies at once: its one counted visit is already in, nothing more counts
    cookies = [new_visitor() for _ in range(12)]
    results = race(12, lambda i: _visit(link, cookies[i], 1))
    assert {r.reason for r in results} == {share.NETWORK_LIMIT}
    assert ShareLink.objects.get(pk=link.pk).visits == 1 and not ShareUnlock.objects.exists()


def test_one_network_racing_through_many_links_of_a_campaign_counts_once():
    # given 30 links of one campaign and one network visiting all of them at once with fresh cookies
    c = campaign(n=2)
    links = [
        share.share_link_get_or_create(campaign_id=c.pk, visitor_id=new_visitor(), now=timezone.now())
        for _ in range(30)
    ]
    results = race(len(links), lambda i: _visit(links[i], new_visitor(), 7))
    assert not [r for r in results if isinstance(r, Exception)]
    # then exactly one visit counts for the whole campaign
    assert sorted(r.reason for r in results) == [share.COUNTED] + [share.NETWORK_LIMIT] * (len(results) - 1)
    assert ShareVisit.objects.filter(link__campaign=c).count() == 1


def test_two_browsers_of_one_customer_binding_their_codes_at_once_bind_one():
    # given one customer's 12 browsers, each with its own unbound unlocked code of the same campaign
    c = campaign(n=1)
    browsers = [new_visitor() for _ in range(12)]
    for i, vid in enumerate(browsers):
        link = share.share_link_get_or_create(campaign_id=c.pk, visitor_id=vid, now=timezone.now())
        assert _visit(link, new_visitor(), i).unlock is not None
    ann = customer_get_or_create(email="ann@example.com")
    # when all of them are identified as that customer at once
    results = race(
        len(browsers),
        lambda i: share.share_coupons_bind_visitor(visitor_id=browsers[i], customer_id=ann.pk, now=timezone.now()),
    )
    assert not [r for r in results if isinstance(r, Exception)]
    # then exactly one code is bound and active; the others stay unbound and inactive
    assert sum(results) == 1
    assert Coupon.objects.filter(share_unlock__campaign=c, customer_id=ann.pk, is_active=True).count() == 1
    assert Coupon.objects.filter(share_unlock__campaign=c, customer__isnull=True, is_active=False).count() == 11
