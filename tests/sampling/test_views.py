"""Storefront pages: the micro-form (own URL, session page, JSON answers), the address step, the offer pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from commerce.models import Order
from commerce.services.outbox import outbox_drain
from sampling.models import FollowUpOffer, SampleRequest
from sampling.services.followup import followup_offers_issue
from sessions_app.models import LiveSession
from tests.factories import ADDRESS_DE, LiveSessionFactory, SkuFactory, make_campaign, make_drop

from .helpers import make_series, shipped_request

pytestmark = pytest.mark.django_db
S = SampleRequest.Status


def post_form(client, campaign, **data):
    body = {"email": "ann@example.com", "use_case": "A gift", "consent": "on", **data}
    return client.post(reverse("sampling:request", args=[campaign.slug]), body, **data.pop("extra", {}))


@pytest.fixture
def mailed(django_capture_on_commit_callbacks):
    """Run a call and the e-mails its transaction queued (on commit, django-q2 sync in tests)."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def test_micro_form_has_two_fields_and_consent(client):
    campaign = make_campaign()
    html = client.get(campaign.get_absolute_url()).content.decode()
    assert 'type="email"' in html
    assert html.count('type="radio"') == 3
    assert 'type="checkbox"' in html
    assert "Get my free sample" in html


@pytest.mark.parametrize(
    ("setup", "answer", "text"),
    [
        ("fresh", "check_inbox", "e-mailed ann@example.com what happens next"),
        ("none_left", "check_inbox", "e-mailed ann@example.com what happens next"),
        ("again", "check_inbox", "e-mailed ann@example.com what happens next"),
        ("closed", "not_eligible", "This sample campaign has ended."),
    ],
)
def test_answers_on_the_page_never_carry_a_private_link(client, setup, answer, text):
    campaign = make_campaign(
        quantity=0 if setup == "none_left" else 3,
        **({"opens_in": -7200, "closes_in": -10} if setup == "closed" else {}),
    )
    if setup == "again":
        post_form(client, campaign)
    response = post_form(client, campaign)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-answer="{answer}"' in html
    assert text in html
    assert "/samples/r/" not in html
    for req in SampleRequest.objects.all():
        assert req.token not in html


def test_accepted_request_gets_its_address_step_link_by_e_mail_only(client, mailoutbox, mailed):
    campaign = make_campaign()
    mailed(post_form, client, campaign, email="Ann@Example.com")
    req = SampleRequest.objects.get()
    assert [m.to for m in mailoutbox] == [["Ann@example.com"]]  # as typed (domain lower-cased)
    assert req.get_absolute_url() in mailoutbox[0].body
    assert "Where should we send it?" in client.get(req.get_absolute_url()).content.decode()


@pytest.mark.parametrize(
    "alias",
    ["ann.smith+sample@gmail.com", "AnnSmith@googlemail.com", "a.n.n.s.m.i.t.h@GMAIL.com", "ANNSMITH@gmail.com"],
)
def test_someone_elses_address_or_alias_reveals_nothing_and_mails_the_owner(client, mailoutbox, mailed, alias):
    """The probe from issue #10: another person's e-mail (or an alias of it) must not hand out their link."""
    campaign = make_campaign()
    post_form(client, campaign, email="annsmith@gmail.com")
    owner_req = SampleRequest.objects.get()
    fresh = post_form(client, campaign, email="someone.new@example.com").content.decode()
    outbox_drain()  # the setup's own e-mails go out first
    mailoutbox.clear()

    probe = mailed(
        client.post,
        reverse("sampling:request", args=[campaign.slug]),
        {"email": alias, "use_case": "A gift", "consent": "on"},
        headers={"Accept": "application/json"},
    )

    data = probe.json()
    assert data == {
        "answer": "check_inbox",
        "title": "Check your inbox",
        "message": f"We've e-mailed {alias} what happens next. Your request's private link is only ever sent there.",
    }
    assert owner_req.token not in probe.content.decode()
    assert 'data-answer="check_inbox"' in fresh  # a fresh request gets the very same answer (no enumeration)
    assert [m.to for m in mailoutbox] == [["annsmith@gmail.com"]]  # the address on file, not the one typed
    assert owner_req.get_absolute_url() in mailoutbox[0].body


def test_link_re_sends_are_rate_limited_with_the_same_answer(client, mailoutbox, mailed, settings):
    settings.SAMPLING_RESEND_LIMIT = 2
    campaign = make_campaign()
    post_form(client, campaign)
    outbox_drain()  # the setup's own e-mail goes out first
    mailoutbox.clear()
    answers = [mailed(post_form, client, campaign).content.decode() for _ in range(4)]
    assert len(mailoutbox) == 2
    assert all('data-answer="check_inbox"' in html for html in answers)


def test_personal_ineligibility_is_e_mailed_not_shown(client, mailoutbox, mailed):
    campaign = make_campaign(purchase_rule="buyers")
    response = mailed(post_form, client, campaign, email="never.bought@example.com")
    html = response.content.decode()
    assert 'data-answer="check_inbox"' in html
    assert "no order" not in html
    assert SampleRequest.objects.count() == 0
    assert [m.to for m in mailoutbox] == [["never.bought@example.com"]]
    assert "we found no order for this e-mail address" in mailoutbox[0].body


def test_form_errors_are_400_and_nothing_is_written(client):
    campaign = make_campaign()
    response = client.post(campaign.get_absolute_url(), {"email": "ann@example.com", "use_case": "A gift"})
    assert response.status_code == 400
    assert "Please agree" in response.content.decode()
    assert SampleRequest.objects.count() == 0


def test_json_answer_for_the_session_page_script(client):
    campaign = make_campaign()
    response = client.post(
        campaign.get_absolute_url(),
        {"email": "ann@example.com", "use_case": "A gift", "consent": "on"},
        headers={"Accept": "application/json"},
    )
    data = response.json()
    req = SampleRequest.objects.get()
    assert data["answer"] == "check_inbox"
    assert "next_url" not in data
    assert req.token not in response.content.decode()
    bad = client.post(
        campaign.get_absolute_url(), {"email": "x", "use_case": "A gift"}, headers={"Accept": "application/json"}
    )
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"email", "consent"}


def test_rate_limited_page_is_429(client, settings):
    settings.SAMPLING_RATE_LIMIT_IP = 2
    campaign = make_campaign()
    for i in range(2):
        post_form(client, campaign, email=f"p{i}@example.com")
    response = post_form(client, campaign, email="p9@example.com")
    assert response.status_code == 429
    assert "Too many requests from this network" in response.content.decode()


def test_session_page_shows_the_micro_form_of_its_series_campaign(client):
    series = make_series()
    session = LiveSessionFactory(series=series)
    campaign = make_campaign(series=series)
    make_campaign(series=series, opens_in=3600, closes_in=7200)  # not open yet: not shown
    html = client.get(session.get_absolute_url()).content.decode()
    assert html.count("data-sample-campaign=") == 1
    assert f'data-sample-campaign="{campaign.slug}"' in html
    assert f'value="{session.public_id}"' in html
    other = client.get(LiveSessionFactory().get_absolute_url()).content.decode()
    assert "data-sample-campaign" not in other


def test_request_from_the_session_page_records_the_session(client):
    series = make_series()
    session = LiveSessionFactory(series=series)
    campaign = make_campaign(series=series)
    post_form(client, campaign, session=str(session.public_id))
    req = SampleRequest.objects.get()
    assert (req.session, req.source) == (session, "session")


def test_a_session_that_does_not_show_the_form_is_refused_and_nothing_is_written(client):
    import uuid

    series = make_series()
    campaign = make_campaign(series=series)
    elsewhere = LiveSessionFactory(series=make_series(slug="other"))  # another series: its page never shows this form
    private = LiveSessionFactory(series=series, is_private=True)
    for session_id in (uuid.uuid4(), elsewhere.public_id, private.public_id):
        response = client.post(
            reverse("sampling:request", args=[campaign.slug]),
            {"email": "ann@example.com", "use_case": "A gift", "consent": "on", "session": str(session_id)},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 400, session_id
        assert response.json()["fields"] == {"session": ["This form is not part of that session."]}
    assert not SampleRequest.objects.exists()


def test_address_step_is_country_aware(client):
    campaign = make_campaign()
    post_form(client, campaign)
    req = SampleRequest.objects.get()
    us = client.get(req.get_absolute_url() + "?country=US").content.decode()
    assert "ZIP code" in us
    assert 'for="id_country_area">State</label>' in us
    assert '<option value="CA">California</option>' in us
    de = client.get(req.get_absolute_url() + "?country=DE").content.decode()
    assert "Postcode" in de
    assert "id_country_area" not in de


def test_address_step_posts_and_approves(client):
    campaign = make_campaign()
    post_form(client, campaign, extra={"HTTP_CF_IPCOUNTRY": "DE"})
    req = SampleRequest.objects.get()
    assert req.geo_country == "DE"
    bad = client.post(req.get_absolute_url(), {**ADDRESS_DE, "postal_code": "123"})
    assert bad.status_code == 422
    assert "does not exist in DE" in bad.content.decode()
    response = client.post(req.get_absolute_url(), ADDRESS_DE, follow=True)
    assert "We have your address" in response.content.decode()
    req.refresh_from_db()
    assert req.status == S.APPROVED
    assert 'data-request-status="approved"' in response.content.decode()


def test_offer_page_and_checkout(client):
    series = make_series()
    now = timezone.now()
    campaign = make_campaign(series=series, offer_percent_off=Decimal("10"), opens_in=-3 * 86400)
    req = shipped_request(campaign, shipped_at=now - dt.timedelta(days=1))
    session = LiveSessionFactory(series=series, starts_at=now - dt.timedelta(minutes=5), status=LiveSession.Status.LIVE)
    drop = make_drop(session=session, sku=SkuFactory(price_minor=5000), quantity=3)
    followup_offers_issue()
    offer = FollowUpOffer.objects.get()
    page = client.get(offer.get_absolute_url()).content.decode()
    assert 'data-state="open"' in page
    assert reverse("sampling:offer_checkout", args=[offer.token, drop.pk]) in page
    offer.refresh_from_db()
    assert offer.opened_at is not None
    checkout_url = reverse("sampling:offer_checkout", args=[offer.token, drop.pk])
    assert "10% off" in client.get(checkout_url).content.decode()
    wrong = client.post(checkout_url, {"email": "friend@example.com", "quantity": 1})
    assert wrong.status_code == 409
    assert "This offer is personal" in wrong.content.decode()
    response = client.post(checkout_url, {"email": req.email, "quantity": 1})
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == order.get_absolute_url()
    assert (order.discount_minor, order.total_minor) == (500, 4500)
    assert 'data-state="redeemed"' in client.get(offer.get_absolute_url()).content.decode()
    assert client.get(reverse("sampling:offer", args=["nope"])).status_code == 404
