"""Retention metrics (docs/metrics.md §7) on hand-built data: every expected number below is worked out
by hand in the comments, then checked in the selectors, on the staff dashboard (cards and CSV) and in the
partner API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from analytics import selectors_retention as retention
from commerce.memberships.models import Membership, MembershipPlan, TrialReturn
from commerce.models import CouponRedemption, Order, OrderLine, Partner, Refund
from commerce.money import format_money
from commerce.referrals import services as share
from commerce.services.api_keys import api_key_create
from commerce.services.customers import customer_get_or_create
from tests.commerce.referrals.share_support import campaign, new_visitor
from tests.factories import SkuFactory, make_staff

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)  # a Monday
_numbers = itertools.count(1)


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 10, 0, tzinfo=dt.UTC)


def order(customer, when, total, currency="EUR", *, trial_days=None, sku=None) -> Order:
    o = Order.objects.create(
        number=f"R-{next(_numbers)}",
        customer=customer,
        status=Order.Status.PAID,
        currency=currency,
        subtotal_minor=total,
        total_minor=total,
        paid_at=when,
    )
    OrderLine.objects.create(
        order=o,
        sku=sku or SkuFactory(),
        title="thing",
        quantity=1,
        unit_price_minor=total,
        total_minor=total,
        currency=currency,
        trial_days=trial_days,
    )
    return o


def membership(plan, customer, *, started, ended=None, status=None) -> Membership:
    return Membership.objects.create(
        plan=plan,
        customer=customer,
        status=status or (Membership.Status.ENDED if ended else Membership.Status.ACTIVE),
        started_at=started,
        ended_at=ended,
    )


@pytest.fixture
def world():
    plan = MembershipPlan.objects.create(slug="vip", name="VIP", price_minor=500, currency="EUR")
    c = {
        n: customer_get_or_create(email=f"{n}@example.com")
        for n in ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal")
    }
    # --- LTV (EUR): window = first paid order + 60 days ----------------------------------------------
    # ann, member all along: 100.00 + 50.00 − 20.00 refunded (settled in the window) = 130.00;
    # her 70.00 on 20 May is after 9 May (10 Mar + 60 d): not in the window
    order(c["ann"], at(3, 10), 10000)
    second = order(c["ann"], at(4, 1), 5000)
    Refund.objects.create(order=second, amount_minor=2000, currency="EUR", status="succeeded", settled_at=at(4, 5))
    order(c["ann"], at(5, 20), 7000)
    membership(plan, c["ann"], started=at(3, 1))
    # bob: first order 1 Mar (window to 30 Apr); his membership starts 20 Apr, inside it: a member. 30.00
    order(c["bob"], at(3, 1), 3000)
    membership(plan, c["bob"], started=at(4, 20), ended=at(6, 3))
    # cat: non-member in her window (her membership 1 May – 10 Jun starts after it): 40.00 + 10.01 = 50.01
    order(c["cat"], at(2, 1), 4000)
    order(c["cat"], at(2, 10), 1001)
    membership(plan, c["cat"], started=at(5, 1), ended=at(6, 10))
    # dan: his membership ended 20 Jan, before his first order 15 Feb: a non-member. 20.00
    order(c["dan"], at(2, 15), 2000)
    membership(plan, c["dan"], started=at(1, 1), ended=at(1, 20))
    # eve pays in USD (9.00); her checkout never completed (incomplete): a non-member
    order(c["eve"], at(3, 1), 900, "USD")
    Membership.objects.create(plan=plan, customer=c["eve"], status=Membership.Status.INCOMPLETE)
    # fay's first order (1 Jun) is still inside its 60 days: maturing, not counted
    order(c["fay"], at(6, 1), 999)
    # gus joins on 9 Jun (no orders)
    membership(plan, c["gus"], started=at(6, 9))
    # --- trials: hal's orders (first one 1 May: hal is maturing too) ------------------------------------
    kept = order(c["hal"], at(5, 1), 1500, trial_days=14)  # window over 15 May, no return: kept
    returned = order(c["hal"], at(5, 10), 1500, trial_days=14)  # window over 24 May, return received
    asked = order(c["hal"], at(5, 20), 1500, trial_days=14)  # window over 3 Jun, return only requested: kept
    order(c["hal"], at(6, 1), 1500, trial_days=30)  # window until 1 Jul: still inside
    order(c["hal"], at(5, 2), 1500, trial_days=0)  # not a trial
    for o, status in ((returned, "received"), (asked, "requested")):
        TrialReturn.objects.create(
            order_line=o.lines.get(), order=o, status=status, requested_at=o.paid_at, window_ends_at=o.paid_at
        )
    # --- share: 2 links, 1 counted visit, 1 unlock, its code used on 1 paid order (hal's) --------------
    camp = campaign(n=1)
    unlocked = share.share_link_get_or_create(campaign_id=camp.pk, visitor_id=new_visitor(), now=camp.starts_at)
    share.share_link_get_or_create(campaign_id=camp.pk, visitor_id=new_visitor(), now=camp.starts_at)
    outcome = share.share_visit_record(
        ref=unlocked.token,
        visitor_id=new_visitor(),
        network="198.51.100.1",
        user_agent="Mozilla/5.0",
        now=camp.starts_at,
    )
    CouponRedemption.objects.create(coupon=outcome.unlock.coupon, order=kept, customer=c["hal"], discount_minor=100)
    return {"customers": c, "campaign": camp}


def test_ltv_60d_members_vs_non_members_per_currency(world):
    ltv = retention.ltv_60d_members(now=NOW)["currencies"]
    # EUR members: ann 13000 + bob 3000 = 16000 over 2 = 8000
    assert ltv["EUR"]["members"] == {"customers": 2, "ltv_total_minor": 16000, "ltv_avg_minor": 8000}
    # EUR non-members: cat 5001 + dan 2000 = 7001 over 2 = 3500.5 → 3501 (half up)
    assert ltv["EUR"]["non_members"] == {"customers": 2, "ltv_total_minor": 7001, "ltv_avg_minor": 3501}
    # fay and hal are still inside their 60 days
    assert ltv["EUR"]["maturing"] == 2
    assert ltv["USD"]["non_members"] == {"customers": 1, "ltv_total_minor": 900, "ltv_avg_minor": 900}
    assert ltv["USD"]["members"]["customers"] == 0 and ltv["USD"]["members"]["ltv_avg_minor"] is None


def test_weekly_churn(world):
    rows = retention.weekly_churn(now=NOW, weeks=3)
    # week of 1 Jun: ann, bob, cat active at the start; bob ended 3 Jun → 1/3
    # week of 8 Jun: ann, cat (bob gone, gus starts 9 Jun); cat ended 10 Jun → 1/2
    # week of 15 Jun: ann, gus → 0/2
    assert [(str(r["week"]), r["active_at_start"], r["churned"]) for r in rows] == [
        ("2026-06-01", 3, 1),
        ("2026-06-08", 2, 1),
        ("2026-06-15", 2, 0),
    ]
    assert [r["churn"] for r in rows] == [pytest.approx(1 / 3), 0.5, 0.0]


def test_trial_to_keep(world):
    # 3 trial lines past their window, 1 of them returned (received) → kept 2/3; one still in its window
    assert retention.trial_to_keep(now=NOW) == {
        "past_window": 3,
        "kept": 2,
        "returned": 1,
        "in_window": 1,
        "rate": pytest.approx(2 / 3),
    }


def test_share_conversion(world):
    s = retention.share_conversion()
    assert (s["links"], s["visits"], s["unlocks"], s["purchases"]) == (2, 1, 1, 1)
    assert (s["unlock_rate"], s["purchase_rate"]) == (0.5, 1.0)
    # a voided redemption (its order cancelled) is not a purchase
    CouponRedemption.objects.update(voided_at=NOW)
    assert retention.share_conversion()["purchases"] == 0


def test_the_retention_dashboard_shows_the_figures_with_charts_and_csv(world, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    analyst = make_staff("ana", role="analyst")
    client = Client()
    client.force_login(analyst)
    url = reverse("admin:analytics_retention")
    html = client.get(url).content.decode()
    configs = {}
    for chart in ("ltv", "churn", "trials", "share"):
        marker = f'<script id="chart-{chart}" type="application/json">'
        assert marker in html
        configs[chart] = json.loads(html.split(marker, 1)[1].split("</script>", 1)[0])
    # the charts carry the figures: LTV in major units, churn ratios, kept vs returned, the share funnel
    assert [d["data"] for d in configs["ltv"]["data"]["datasets"]] == [[80.0, None], [35.01, 9.0]]
    assert configs["churn"]["data"]["datasets"][0]["data"][-3:] == [pytest.approx(1 / 3), 0.5, 0.0]
    assert configs["trials"]["data"]["datasets"][0]["data"] == [2, 1]
    assert [d["data"] for d in configs["share"]["data"]["datasets"]] == [[2], [1], [1], [1]]
    # the cards: member vs non-member LTV, churn of the last full week (8 Jun: 50 %), trial-to-keep, share
    assert format_money(8000, "EUR") in html and format_money(3501, "EUR") in html
    assert "50.0 %" in html and "66.7 %" in html and "100.0 %" in html
    rows = list(csv.DictReader(io.StringIO(client.get(url, {"csv": "ltv"}).content.decode())))
    assert [(r["group"], r["currency"], r["customers"], r["ltv_avg_minor"]) for r in rows] == [
        ("Members", "EUR", "2", "8000"),
        ("Non-members", "EUR", "2", "3501"),
        ("Members", "USD", "0", ""),
        ("Non-members", "USD", "1", "900"),
    ]
    share_rows = list(csv.DictReader(io.StringIO(client.get(url, {"csv": "share"}).content.decode())))
    assert [(r["links"], r["visits"], r["unlocks"], r["purchases"]) for r in share_rows] == [("2", "1", "1", "1")]
    # a staff user without the dashboards permission is refused
    nobody = get_user_model().objects.create_user("nob", password="x", is_staff=True)
    client.force_login(nobody)
    assert client.get(url).status_code in (302, 403)


def test_the_retention_api_answers_shop_keys_only(world, client, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    partner = Partner.objects.create(name="BI")
    shop_key = api_key_create(partner=partner, name="bi", scopes=["analytics:read", "shop"])[1]
    partner_key = api_key_create(partner=partner, name="p", scopes=["analytics:read"])[1]
    body = client.get("/api/v1/analytics/retention", {"weeks": 3}, headers={"X-API-Key": shop_key}).json()
    eur = next(r for r in body["ltv_60d"] if r["currency"] == "EUR")
    assert eur["members"]["ltv_avg_minor"] == 8000 and eur["non_members"]["ltv_avg_minor"] == 3501
    assert [r["churned"] for r in body["weekly_churn"]] == [1, 1, 0]
    assert body["trial_to_keep"]["kept"] == 2 and body["share"]["unlock_rate"] == 0.5
    assert body["share"]["campaigns"][0]["purchases"] == 1
    assert client.get("/api/v1/analytics/retention", headers={"X-API-Key": partner_key}).status_code == 403
    bad = client.get("/api/v1/analytics/retention", {"weeks": 0}, headers={"X-API-Key": shop_key})
    assert bad.status_code == 422
