"""Memberships with the manual (demo) provider: joining, the member pass, self-service, the sweep, staff, API."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from commerce.memberships.identity import MEMBER_COOKIE, membership_for_pass
from commerce.memberships.models import Membership, MembershipEvent, MembershipPlan
from commerce.memberships.selectors import (
    customer_is_member,
    customer_membership,
    memberships_active_during,
    plans_active,
)
from commerce.memberships.services_billing import (
    MembershipCheckoutOpen,
    PlanUnavailable,
    membership_cancel_at_period_end,
    membership_end_now,
    membership_join,
    memberships_sweep,
)
from commerce.models import ApiKey, Customer, Partner
from commerce.services.api_keys import api_key_create
from commerce.services.outbox import outbox_drain
from tests.factories import make_staff

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def plan(settings):
    settings.PAYMENT_PROVIDER = "manual"
    return MembershipPlan.objects.create(
        slug="vip-weekly", name="VIP Weekly", price_minor=499, currency="USD", perks="Weekly VIP\nExclusive SKUs"
    )


def join_in_browser(client: Client, plan, email: str):
    return client.post(f"/members/join/{plan.slug}/", {"email": email})


def confirm_link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/members/join/\S+/confirm/\S+/)", message.body).group(1)


def join_and_confirm(client: Client, plan, email: str):
    """The whole browser flow: the form, the e-mailed confirmation link, its button (docs/memberships.md)."""
    first = join_in_browser(client, plan, email)
    assert first.status_code == 200 and "Check your e-mail" in first.content.decode()
    outbox_drain()
    link = confirm_link_in([m for m in mail.outbox if "Confirm to join" in m.subject][-1])
    assert client.get(link).status_code == 200
    return client.post(link)


def member_link_in(message) -> str:
    return re.search(r"https?://\S+/members/pass/(\S+)/", message.body).group(0)


# --- joining (manual provider) ---------------------------------------------------------------------------


def test_manual_join_is_a_labelled_demo_and_activates_for_one_interval(client, plan):
    # given the join page with the manual provider
    page = client.get(f"/members/join/{plan.slug}/").content.decode()
    assert "Join (demo: no payment)" in page and "manual demo provider" in page
    # when a viewer joins (and confirms the link e-mailed to the address)
    response = join_and_confirm(client, plan, "Ann@Example.com")
    # then the browser is sent to its welcome page, which sets the member cookie and opens /members/me/
    membership = Membership.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/members/welcome/{membership.pass_token}/")
    welcome = client.get(response["Location"])
    assert welcome.status_code == 302 and welcome["Location"] == "/members/me/"
    cookie = client.cookies[MEMBER_COOKIE]
    assert cookie.value.startswith(membership.pass_token + ":") and cookie["httponly"]  # signed, not readable by JS
    me = client.get("/members/me/").content.decode()
    assert "Active, renews on" in me and "Cancel at period end" in me
    # and the membership is active for exactly one week, recorded once
    assert membership.status == "active" and membership.provider == "manual"
    assert membership.current_period_end - membership.current_period_start == dt.timedelta(days=7)
    assert list(MembershipEvent.objects.values_list("type", "amount_minor")) == [("manual.join", 499)]
    # and joining again from this browser says it is already a member, creating nothing
    again = join_in_browser(client, plan, "ann@example.com")
    assert "already a member" in again.content.decode() and Membership.objects.count() == 1


def test_typing_an_address_proves_nothing_and_reveals_nothing(client, plan):
    """Whoever types an address gets the same answer; a membership exists only once the address confirmed."""
    membership_join(plan_slug=plan.slug, email="ann@example.com", now=NOW)
    outbox_drain()
    mail.outbox.clear()
    answers = [join_in_browser(Client(), plan, email).content.decode() for email in ("ann@example.com", "bob@example.com")]
    strip = [re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", a).replace("ann@example.com", "X").replace(
        "bob@example.com", "X") for a in answers]
    assert strip[0] == strip[1]  # nobody learns whether an address is a member
    assert Membership.objects.count() == 1  # Bob has no membership until he confirms
    outbox_drain()
    subjects = sorted((m.to[0], m.subject.split(":")[0]) for m in mail.outbox)
    assert subjects == [("ann@example.com", "Your member link"), ("bob@example.com", "Confirm to join VIP Weekly")]
    # a forged or foreign confirmation link joins nobody
    link = confirm_link_in([m for m in mail.outbox if m.to == ["bob@example.com"]][0])
    assert client.post(link.replace("/confirm/", "/confirm/x")).status_code == 404
    assert client.post(link.replace(plan.slug, "other-plan")).status_code == 404
    assert Membership.objects.count() == 1


def test_joining_again_while_active_creates_nothing_and_hands_over_nothing(client, plan):
    # given Ann's membership
    first = membership_join(plan_slug=plan.slug, email="ann@example.com", now=NOW)
    assert first.outcome == "created"
    outbox_drain()
    mail.outbox.clear()
    # when someone else types Ann's address (another case, a plus alias) in another browser
    stranger = Client()
    response = join_in_browser(stranger, plan, "ANN+vip@Example.com")
    # then: "check your e-mail", no second membership, no cookie, no pass in the page
    assert response.status_code == 200
    body = response.content.decode()
    assert "Check your e-mail" in body and first.membership.pass_token not in body
    assert MEMBER_COOKIE not in stripper(stranger.cookies)
    assert Membership.objects.count() == 1
    # and the member link goes to Ann's address only
    outbox_drain()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert first.membership.pass_token in mail.outbox[0].body


def stripper(cookies) -> set:
    return {k for k, v in cookies.items() if v.value}


def test_the_emailed_member_link_opens_the_membership_on_a_new_device(client, plan):
    membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now())
    outbox_drain()
    link = member_link_in(mail.outbox[0])
    device = Client()
    assert device.get("/members/me/").content.decode().count("Send me my member link") == 1  # no pass yet
    response = device.get("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert response.status_code == 302 and response["Location"] == "/members/me/"
    assert "Active, renews on" in device.get("/members/me/").content.decode()


def test_send_me_my_link_answers_the_same_for_any_address(client, plan):
    membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now())
    outbox_drain()
    mail.outbox.clear()
    answers = []
    for email in ("ann@example.com", "nobody@example.com"):
        response = client.post("/members/link/", {"email": email}, follow=True)
        answers.append([str(m) for m in response.context["messages"]])
    assert answers[0] == answers[1]
    outbox_drain()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]


def test_join_form_errors_are_form_errors_and_the_rate_limit_applies(client, plan, settings):
    assert join_in_browser(client, plan, "not an address").status_code == 400
    assert client.get("/members/join/no-such-plan/").status_code == 404
    settings.MEMBER_JOIN_RATE_LIMIT = 3  # the bad address above was one attempt
    codes = [join_in_browser(client, plan, f"p{i}@example.com").status_code for i in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429  # "check your e-mail", then the limit
    assert Membership.objects.count() == 0  # nobody joins before confirming the e-mailed link


def test_inactive_plan_and_open_checkout_are_refused(plan):
    plan.is_active = False
    plan.save()
    with pytest.raises(PlanUnavailable):
        membership_join(plan_slug=plan.slug, email="ann@example.com", now=NOW)
    plan.is_active = True
    plan.save()
    customer = Customer.objects.create(email="bob@example.com", email_normalized="bob@example.com")
    stale = Membership.objects.create(plan=plan, customer=customer, provider="stripe")
    with pytest.raises(MembershipCheckoutOpen):
        membership_join(plan_slug=plan.slug, email="bob@example.com", now=timezone.now())
    # an abandoned checkout (older than Stripe's session) is ended and replaced
    result = membership_join(plan_slug=plan.slug, email="bob@example.com", now=timezone.now() + dt.timedelta(hours=1))
    stale.refresh_from_db()
    assert stale.status == "ended" and result.outcome == "created" and result.membership.pk != stale.pk


# --- selectors --------------------------------------------------------------------------------------------


def test_selectors_follow_access(plan):
    m = membership_join(plan_slug=plan.slug, email="ann@example.com", now=NOW).membership
    assert list(plans_active()) == [plan]
    assert customer_membership(customer_id=m.customer_id, now=NOW + dt.timedelta(days=1)) == m
    assert customer_is_member(customer_id=m.customer_id, now=NOW + dt.timedelta(days=6))
    assert not customer_is_member(customer_id=m.customer_id, now=NOW + dt.timedelta(days=7, seconds=1))
    Membership.objects.filter(pk=m.pk).update(status="past_due", grace_until=NOW + dt.timedelta(days=9))
    assert customer_is_member(customer_id=m.customer_id, now=NOW + dt.timedelta(days=8))
    assert not customer_is_member(customer_id=m.customer_id, now=NOW + dt.timedelta(days=9))
    assert list(memberships_active_during(start=NOW - dt.timedelta(days=7), end=NOW + dt.timedelta(seconds=1))) == [m]
    assert not memberships_active_during(start=NOW - dt.timedelta(days=7), end=NOW).exists()


# --- self-service -----------------------------------------------------------------------------------------


def test_member_cancels_at_period_end_then_resumes_and_keeps_access(client, plan):
    join_and_confirm(client, plan, "ann@example.com")
    client.get(f"/members/welcome/{Membership.objects.get().pass_token}/")
    # when the member cancels at period end (POST with CSRF)
    csrf = Client(enforce_csrf_checks=True)
    csrf.cookies = client.cookies
    assert csrf.post("/members/me/cancel/").status_code == 403  # no CSRF token: refused
    client.post("/members/me/cancel/")
    m = Membership.objects.get()
    assert m.cancel_at_period_end and m.status == "active" and m.grants_access(timezone.now())
    assert "Active, cancels on" in client.get("/members/me/").content.decode()
    # and resumes
    client.post("/members/me/resume/")
    m.refresh_from_db()
    assert not m.cancel_at_period_end
    assert [e.type for e in m.events.order_by("pk")] == ["manual.join", "member.cancel_at_period_end", "member.resume"]


def test_without_a_pass_the_manage_actions_change_nothing(client, plan):
    membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now())
    client.cookies[MEMBER_COOKIE] = "forged"
    assert client.post("/members/me/cancel/").status_code == 302
    assert not Membership.objects.get().cancel_at_period_end
    assert client.get("/members/welcome/not-a-pass/").status_code == 404


# --- the sweep --------------------------------------------------------------------------------------------


def test_sweep_renews_once_ends_cancelled_and_ends_past_grace(plan, monkeypatch):
    taken = []
    monkeypatch.setattr(
        "commerce.memberships.services_billing.member_credits_take_for_renewal",
        lambda *, membership, now: taken.append(membership.pk) or 100,
    )
    renew = membership_join(plan_slug=plan.slug, email="a@example.com", now=NOW).membership
    cancel = membership_join(plan_slug=plan.slug, email="b@example.com", now=NOW).membership
    membership_cancel_at_period_end(membership_id=cancel.pk, cancel=True, now=NOW)
    lapsed = membership_join(plan_slug=plan.slug, email="c@example.com", now=NOW).membership
    Membership.objects.filter(pk=lapsed.pk).update(status="past_due", grace_until=NOW + dt.timedelta(days=3))
    later = NOW + dt.timedelta(days=7, minutes=1)
    # when the sweep runs twice (a second worker, or a retry after a killed one)
    first = memberships_sweep(now=later)
    second = memberships_sweep(now=later)
    assert first == {"renewed": 1, "ended": 1, "grace_over": 1} and second == {
        "renewed": 0,
        "ended": 0,
        "grace_over": 0,
    }
    renew.refresh_from_db()
    cancel.refresh_from_db()
    lapsed.refresh_from_db()
    assert renew.status == "active" and renew.current_period_end == NOW + dt.timedelta(days=14)
    assert taken == [renew.pk]  # missed-session credits taken once, at the renewal
    assert renew.events.get(type="sweep.renew").amount_minor == 399
    assert (cancel.status, lapsed.status) == ("ended", "ended")


# --- staff ------------------------------------------------------------------------------------------------


def test_staff_end_now_needs_manage_membership_and_is_audited(client, plan):
    from django.contrib.admin.models import LogEntry

    m = membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now()).membership
    viewer = make_staff("viewer", perms=("commerce.view_membership",))
    client.force_login(viewer)
    client.post("/admin/commerce/membership/", {"action": "end_now", "_selected_action": [m.pk]})
    m.refresh_from_db()
    assert m.status == "active"
    support = make_staff("support", role="support")
    client.force_login(support)
    page = client.get(f"/admin/commerce/membership/{m.pk}/change/").content.decode()
    assert m.pass_token not in page  # the member's secret is never shown to staff
    response = client.post("/admin/commerce/membership/", {"action": "end_now", "_selected_action": [m.pk]})
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.status == "ended" and m.events.filter(type="staff:support.end_now").exists()
    assert LogEntry.objects.filter(object_id=str(m.pk), change_message="Ended the membership now").exists()
    # ending again changes nothing (idempotent)
    assert membership_end_now(membership_id=m.pk, now=timezone.now()).ended_at == m.ended_at


def test_plan_admin_takes_major_units(client, plan):
    owner = make_staff("owner", role="owner")
    client.force_login(owner)
    response = client.post(
        "/admin/commerce/membershipplan/add/",
        {
            "slug": "monthly",
            "name": "Monthly",
            "interval": "month",
            "price_minor": "19.99",
            "currency": "EUR",
            "grace_days": 3,
            "missed_credit_percent": 25,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert MembershipPlan.objects.get(slug="monthly").price_minor == 1999


# --- API --------------------------------------------------------------------------------------------------


def test_api_plans_are_catalogue_memberships_are_shop_data(client, plan):
    m = membership_join(plan_slug=plan.slug, email="ann@example.com", now=timezone.now()).membership
    partner = Partner.objects.create(name="P")
    reader = {"X-API-Key": api_key_create(partner=partner, name="r", scopes=["plans:read", "memberships:read"])[1]}
    shop = {"X-API-Key": api_key_create(partner=partner, name="s", scopes=list(ApiKey.SCOPES))[1]}
    plans = client.get("/api/v1/plans", headers=reader).json()
    assert plans == [
        {
            "slug": "vip-weekly",
            "name": "VIP Weekly",
            "interval": "week",
            "price_minor": 499,
            "currency": "USD",
            "perks": ["Weekly VIP", "Exclusive SKUs"],
            "grace_days": 3,
        }
    ]
    assert client.get("/api/v1/memberships", headers=reader).status_code == 403
    listing = client.get("/api/v1/memberships?status=active", headers=shop).json()
    assert [i["id"] for i in listing["items"]] == [m.pk]
    one = client.get(f"/api/v1/memberships/{m.pk}", headers=shop).json()
    assert one["status"] == "active" and one["customer_email"] == "ann@example.com" and "pass_token" not in one
    assert client.get("/api/v1/memberships/999999", headers=shop).json()["code"] == "not_found"


def test_membership_for_pass_needs_access(plan):
    m = membership_join(plan_slug=plan.slug, email="ann@example.com", now=NOW).membership
    assert membership_for_pass(m.pass_token, now=NOW) == m
    assert membership_for_pass(m.pass_token, now=NOW + dt.timedelta(days=8)) is None
