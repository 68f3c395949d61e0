"""Share-to-unlock under real concurrency (PostgreSQL, threads on their own connections): many new visitors
arriving at once through one link unlock exactly one offer, and every counted visit is counted once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from commerce.models import Coupon
from commerce.referrals import services as share
from commerce.referrals.models import ShareLink, ShareUnlock, ShareVisit
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
