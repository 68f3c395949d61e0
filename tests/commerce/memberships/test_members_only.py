"""Members-only drops and SKUs in the hold service and the partner API; member prices (docs/members-only.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from commerce.exceptions import MembersOnly
from commerce.memberships.gating import drop_is_exclusive, member_unit_price
from commerce.memberships.models import Membership
from commerce.models import Customer, Hold, Partner
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.waitlist import waitlist_join
from tests.commerce.memberships.members_support import make_member
from tests.factories import SkuFactory, make_drop

pytestmark = pytest.mark.django_db

PRICE = 4299


def exclusive_drop(**kwargs):
    return make_drop(quantity=5, members_only=True, **kwargs)


# --- rules ---------------------------------------------------------------------------------------


def test_a_drop_is_exclusive_when_it_or_its_sku_is_members_only():
    assert not drop_is_exclusive(make_drop())
    assert drop_is_exclusive(make_drop(members_only=True))
    assert drop_is_exclusive(make_drop(sku=SkuFactory(members_only=True)))


def test_member_price_is_the_lower_of_member_price_and_current_price():
    # given a member and a drop whose member price is 3500 (public 4299)
    member = make_member()
    drop = make_drop(member_price_minor=3500)
    now = timezone.now()
    # then the member pays 3500, a non-member has no member price
    assert member_unit_price(drop, member, now=now) == 3500
    assert member_unit_price(drop, None, now=now) is None
    # when the public price falls to 3000 (dynamic pricing), members pay the public price: no member price
    assert member_unit_price(drop, member, now=now, current_price_minor=3000) is None


# --- hold service --------------------------------------------------------------------------------


def test_exclusive_drop_refuses_a_hold_without_a_pass_and_writes_nothing():
    # given an exclusive drop
    drop = exclusive_drop()
    # when someone holds it with no pass
    with pytest.raises(MembersOnly) as err:
        hold_place(drop_id=drop.pk, email="nobody@example.com", quantity=1)
    # then 403 members_only, no hold, no customer row, the stock untouched
    assert err.value.status == 403 and err.value.code == "members_only"
    assert not Hold.objects.exists()
    assert not Customer.objects.filter(email="nobody@example.com").exists()
    drop.refresh_from_db()
    assert drop.available == 5


def test_exclusive_sku_refuses_a_hold_without_a_pass():
    drop = make_drop(sku=SkuFactory(members_only=True))
    with pytest.raises(MembersOnly):
        hold_place(drop_id=drop.pk, email="nobody@example.com", quantity=1)


def test_member_with_a_pass_holds_for_their_own_customer_at_the_member_price():
    # given a member and an exclusive drop with a member price
    member = make_member("vip@example.com")
    drop = exclusive_drop(member_price_minor=3500)
    # when the member holds with their pass (address typed in another case)
    hold = hold_place(drop_id=drop.pk, email="VIP@example.com", quantity=2, member_pass=member.pass_token)
    # then the hold is theirs, at the member price, and takes the stock
    assert hold.customer_id == member.customer_id
    assert hold.unit_price_minor == 3500
    drop.refresh_from_db()
    assert drop.available == 3


def test_member_price_above_the_current_price_is_not_applied():
    member = make_member()
    drop = exclusive_drop(member_price_minor=PRICE + 100)
    hold = hold_place(drop_id=drop.pk, email=member.customer.email, quantity=1, member_pass=member.pass_token)
    assert hold.unit_price_minor == PRICE


def test_a_pass_with_another_address_is_refused_the_same_way_and_creates_no_customer():
    # given a member, and someone who got hold of the pass but types another address
    member = make_member("vip@example.com")
    drop = exclusive_drop()
    # when they hold with the pass and their own address
    with pytest.raises(MembersOnly) as err:
        hold_place(drop_id=drop.pk, email="friend@example.com", quantity=1, member_pass=member.pass_token)
    # then the same answer as without a pass (nothing about who is a member), nothing written
    with pytest.raises(MembersOnly) as no_pass:
        hold_place(drop_id=drop.pk, email="friend@example.com", quantity=1)
    assert err.value.message == no_pass.value.message and err.value.code == no_pass.value.code
    assert not Customer.objects.filter(email="friend@example.com").exists()
    assert not Hold.objects.exists()


def test_the_members_address_alone_is_not_a_pass():
    member = make_member("vip@example.com")
    drop = exclusive_drop()
    with pytest.raises(MembersOnly):
        hold_place(drop_id=drop.pk, email=member.customer.email, quantity=1)


@pytest.mark.parametrize(
    "state",
    ["forged", "ended", "past_due_after_grace", "active_past_period_end", "incomplete"],
)
def test_passes_that_grant_no_access_are_refused(state):
    # given a pass that does not grant access now
    now = timezone.now()
    member = {
        "forged": lambda: None,
        "ended": lambda: make_member(status=Membership.Status.ENDED),
        "past_due_after_grace": lambda: make_member(
            status=Membership.Status.PAST_DUE, grace_until=now - dt.timedelta(minutes=1)
        ),
        "active_past_period_end": lambda: make_member(period_end=now - dt.timedelta(minutes=1)),
        "incomplete": lambda: make_member(status=Membership.Status.INCOMPLETE),
    }[state]()
    token = member.pass_token if member else "forged-" + "x" * 30
    email = member.customer.email if member else "member@example.com"
    drop = exclusive_drop()
    # when it is used for a hold on an exclusive drop
    with pytest.raises(MembersOnly):
        hold_place(drop_id=drop.pk, email=email, quantity=1, member_pass=token, now=now)
    # then nothing is held
    assert not Hold.objects.exists()


def test_past_due_member_inside_grace_may_still_hold():
    now = timezone.now()
    member = make_member(status=Membership.Status.PAST_DUE, grace_until=now + dt.timedelta(days=1))
    drop = exclusive_drop()
    hold = hold_place(drop_id=drop.pk, email=member.customer.email, quantity=1, member_pass=member.pass_token, now=now)
    assert hold.customer_id == member.customer_id


def test_public_drop_with_member_price_gives_members_their_price_and_others_the_public_price():
    # given a public drop with a member price
    member = make_member("vip@example.com")
    drop = make_drop(member_price_minor=3900)
    # when a member and a non-member hold it
    theirs = hold_place(drop_id=drop.pk, email="vip@example.com", quantity=1, member_pass=member.pass_token)
    public = hold_place(drop_id=drop.pk, email="else@example.com", quantity=1)
    # then only the member gets the member price
    assert theirs.unit_price_minor == 3900
    assert public.unit_price_minor == PRICE


def test_public_drop_ignores_a_bad_pass_and_a_foreign_address_gets_no_member_price():
    member = make_member("vip@example.com")
    drop = make_drop(member_price_minor=3900)
    forged = hold_place(drop_id=drop.pk, email="a@example.com", quantity=1, member_pass="nope")
    assert forged.unit_price_minor == PRICE
    with pytest.raises(MembersOnly):  # a pass with someone else's address is never a silent discount
        hold_place(drop_id=drop.pk, email="b@example.com", quantity=1, member_pass=member.pass_token)


def test_exclusive_drops_have_no_waitlist():
    # given a sold-out exclusive drop
    drop = exclusive_drop()
    drop.available = 0
    drop.save(update_fields=["available"])
    # when a non-member tries to queue for it (an offer would hand them a hold)
    with pytest.raises(MembersOnly):
        waitlist_join(drop_id=drop.pk, email="queue@example.com")


# --- partner API ---------------------------------------------------------------------------------


@pytest.fixture
def api_key():
    partner = Partner.objects.create(name="Storefront")
    return api_key_create(partner=partner, name="t", scopes=["drops:read", "holds:write"])[1]


def test_api_hold_on_exclusive_drop_without_member_pass_is_403_members_only(client, api_key):
    drop = exclusive_drop()
    response = client.post(
        "/api/v1/holds",
        {"drop_id": drop.pk, "email": "x@example.com", "quantity": 1},
        content_type="application/json",
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "members_only"
    assert not Hold.objects.exists()


def test_api_hold_with_a_member_pass_gets_the_member_price(client, api_key):
    member = make_member("vip@example.com")
    drop = exclusive_drop(member_price_minor=3500)
    response = client.post(
        "/api/v1/holds",
        {"drop_id": drop.pk, "email": "vip@example.com", "quantity": 1, "member_pass": member.pass_token},
        content_type="application/json",
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 201, response.json()
    assert response.json()["unit_price_minor"] == 3500
    assert Hold.objects.get().customer_id == member.customer_id


def test_api_hold_with_an_ended_members_pass_is_403(client, api_key):
    member = make_member("vip@example.com", status=Membership.Status.ENDED)
    drop = exclusive_drop()
    response = client.post(
        "/api/v1/holds",
        {"drop_id": drop.pk, "email": "vip@example.com", "quantity": 1, "member_pass": member.pass_token},
        content_type="application/json",
        headers={"X-API-Key": api_key},
    )
    assert response.status_code == 403 and response.json()["code"] == "members_only"


def test_api_drop_shows_members_only_and_member_price(client, api_key):
    drop = make_drop(sku=SkuFactory(members_only=True), member_price_minor=3500)
    body = client.get(f"/api/v1/drops/{drop.pk}", headers={"X-API-Key": api_key}).json()
    assert body["status"]["members_only"] is True
    assert body["status"]["member_price_minor"] == 3500
    status = client.get(f"/api/v1/drops/{drop.pk}/status", headers={"X-API-Key": api_key}).json()
    assert status["members_only"] is True and status["member_price_minor"] == 3500


def test_partner_session_api_never_carries_a_members_only_stream_url(client):
    from tests.commerce.memberships.members_support import STREAM_ID
    from tests.factories import LiveSessionFactory

    partner = Partner.objects.create(name="Affiliate")
    key = api_key_create(partner=partner, name="s", scopes=["sessions:read"])[1]
    session = LiveSessionFactory(members_only=True)
    public = LiveSessionFactory()
    one = client.get(f"/api/v1/sessions/{session.public_id}", headers={"X-API-Key": key})
    assert one.status_code == 200 and one.json()["members_only"] is True
    assert STREAM_ID not in one.content.decode()
    listing = client.get("/api/v1/sessions", headers={"X-API-Key": key}).json()["items"]
    urls = {item["id"]: item["stream_url"] for item in listing}
    assert urls[str(session.public_id)] == "" and STREAM_ID in urls[str(public.public_id)]
