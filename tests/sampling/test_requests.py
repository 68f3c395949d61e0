"""The micro-form service: honest answers, one per person and household, stock, waitlist, audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from commerce.services.outbox import outbox_drain
from sampling.exceptions import InvalidRequest, InvalidTransition, RateLimited, SamplingError
from sampling.models import SampleCampaign, SampleRequest
from sampling.services.campaigns import campaign_offer_waitlist, campaign_set_quantity
from sampling.services.requests import (
    Answer,
    sample_request_approve,
    sample_request_cancel,
    sample_request_create,
    sample_request_mark_delivered,
    sample_request_mark_shipped,
    sample_request_reject,
    sample_request_set_address,
)
from tests.factories import ADDRESS_DE, make_campaign

pytestmark = pytest.mark.django_db
S = SampleRequest.Status


def ask(campaign, email="ann@example.com", use_case="A gift", **kwargs):
    kwargs.setdefault("consent", True)
    return sample_request_create(campaign_id=campaign.pk, email=email, use_case=use_case, **kwargs)


def available(campaign):
    return SampleCampaign.objects.get(pk=campaign.pk).available


def test_accepted_reserves_one_sample_and_emails_the_address_link(django_capture_on_commit_callbacks):
    campaign = make_campaign(quantity=2)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = ask(campaign)
    assert outcome.answer == Answer.ACCEPTED
    assert outcome.created
    assert outcome.request.status == S.REQUESTED
    assert available(campaign) == 1
    assert len(mail.outbox) == 1
    assert outcome.request.get_absolute_url() in mail.outbox[0].body
    event = outcome.request.events.get()
    assert (event.from_status, event.to_status, event.actor_label) == ("", "requested", "viewer")
    # and the analytics funnel got its "sample_request" step
    from analytics.models import BufferedEvent

    captured = BufferedEvent.objects.get(name="sample_request")
    assert captured.props["campaign_id"] == campaign.pk


def test_waitlisted_when_stock_is_gone():
    campaign = make_campaign(quantity=1)
    assert ask(campaign, "a@example.com").answer == Answer.ACCEPTED
    outcome = ask(campaign, "b@example.com")
    assert outcome.answer == Answer.WAITLISTED
    assert outcome.request.status == S.WAITLISTED
    assert available(campaign) == 0


@pytest.mark.parametrize(
    "variant",
    [
        "Ann.Example+live@Gmail.com",
        "annexample@googlemail.com",
        "  ANNEXAMPLE@gmail.com ",
        "ａｎｎｅｘａｍｐｌｅ@gmail.com",
    ],
)
def test_one_sample_per_normalized_person(variant):
    campaign = make_campaign(quantity=5)
    first = ask(campaign, "ann.example@gmail.com")
    again = ask(campaign, variant)
    assert again.answer == Answer.ALREADY_REQUESTED
    assert again.request.pk == first.request.pk
    assert SampleRequest.objects.count() == 1
    assert available(campaign) == 4


def test_dots_count_for_providers_that_do_not_ignore_them():
    campaign = make_campaign(quantity=5)
    ask(campaign, "ann.example@example.com")
    assert ask(campaign, "annexample@example.com").answer == Answer.ACCEPTED


def test_not_eligible_when_campaign_closed_or_not_started():
    ended = make_campaign(opens_in=-7200, closes_in=-60)
    outcome = ask(ended)
    assert outcome.answer == Answer.NOT_ELIGIBLE
    assert outcome.reason == "This sample campaign has ended."
    soon = make_campaign(opens_in=3600, closes_in=7200)
    assert ask(soon).reason == "This sample campaign has not started yet."
    assert SampleRequest.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"email": "not-an-email"}, "invalid_email"),
        ({"use_case": "Something else"}, "invalid_use_case"),
        ({"consent": False}, "consent_required"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, code):
    campaign = make_campaign()
    with pytest.raises(InvalidRequest) as exc:
        ask(campaign, **kwargs)
    assert exc.value.code == code
    assert exc.value.status == 422
    assert available(campaign) == campaign.quantity


def test_rate_limit_per_ip(settings):
    settings.SAMPLING_RATE_LIMIT_IP = 3
    campaign = make_campaign(quantity=10)
    for i in range(3):
        ask(campaign, f"p{i}@example.com", ip="203.0.113.9")
    with pytest.raises(RateLimited) as exc:
        ask(campaign, "p9@example.com", ip="203.0.113.9")
    assert exc.value.status == 429
    assert ask(campaign, "p10@example.com", ip="203.0.113.10").answer == Answer.ACCEPTED


def test_rate_limit_per_normalized_email(settings):
    settings.SAMPLING_RATE_LIMIT_EMAIL = 2
    campaign = make_campaign()
    ask(campaign, "x@example.com")
    ask(campaign, "X+again@example.com")
    with pytest.raises(RateLimited) as exc:
        ask(campaign, "x+third@example.com")
    assert exc.value.extra["limit"] == "email"


def test_accept_min_score_waitlists_low_priority_while_stock_remains():
    campaign = make_campaign(quantity=3, accept_min_score=20, preferred_use_cases=["A gift"])
    assert ask(campaign, "gift@example.com", use_case="A gift").answer == Answer.ACCEPTED
    low = ask(campaign, "daily@example.com", use_case="Everyday wear")
    assert low.answer == Answer.WAITLISTED
    assert available(campaign) == 2
    # staff hand the remaining samples to the waitlist
    assert campaign_offer_waitlist(campaign_id=campaign.pk) == 1
    low.request.refresh_from_db()
    assert low.request.status == S.REQUESTED


def test_freed_sample_goes_to_best_priority_then_first_come(django_capture_on_commit_callbacks):
    campaign = make_campaign(quantity=1, preferred_use_cases=["Special occasion"])
    winner = ask(campaign, "first@example.com").request
    early_low = ask(campaign, "early@example.com", use_case="Everyday wear").request
    late_high = ask(campaign, "late@example.com", use_case="Special occasion").request
    later_high = ask(campaign, "later@example.com", use_case="Special occasion").request
    assert {early_low.status, late_high.status, later_high.status} == {S.WAITLISTED}
    outbox_drain()  # the answers to the four requests go out first, as they would have after each commit
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        sample_request_cancel(request_id=winner.pk, reason="changed my mind", actor_label="viewer")

    statuses = dict(SampleRequest.objects.values_list("email", "status"))
    assert statuses == {
        "first@example.com": S.CANCELLED,
        "early@example.com": S.WAITLISTED,
        "late@example.com": S.REQUESTED,
        "later@example.com": S.WAITLISTED,
    }
    assert available(campaign) == 0
    assert [m.to for m in mail.outbox] == [["late@example.com"]]
    assert "free" in mail.outbox[0].subject


def test_address_step_approves_and_records_household():
    campaign = make_campaign()
    req = ask(campaign).request
    req = sample_request_set_address(token=req.token, address=ADDRESS_DE)
    assert req.status == S.APPROVED
    assert req.ship_city == "BERLIN"  # normalized by Google's address data
    assert req.household_key == "DE|10178|7 gontardstr"
    assert req.approved_at is not None
    assert [e.to_status for e in req.events.all()] == ["requested", "approved"]


def test_same_household_is_refused_and_the_sample_returns():
    campaign = make_campaign(quantity=2)
    first = ask(campaign, "ann@example.com").request
    sample_request_set_address(token=first.token, address=ADDRESS_DE)
    second = ask(campaign, "bob@example.com").request
    assert available(campaign) == 0
    with pytest.raises(SamplingError) as exc:
        sample_request_set_address(
            token=second.token,
            address={**ADDRESS_DE, "name": "Bob", "street_address": "7, GONTARDSTR.", "postal_code": "10 178"},
        )
    assert exc.value.code == "same_household"
    second.refresh_from_db()
    assert second.status == S.CANCELLED
    assert second.household_key is None
    assert available(campaign) == 1


def test_invalid_address_names_the_fields():
    campaign = make_campaign()
    req = ask(campaign).request
    with pytest.raises(InvalidRequest) as exc:
        sample_request_set_address(token=req.token, address={**ADDRESS_DE, "postal_code": "1017"})
    assert exc.value.code == "invalid_address"
    assert "postal_code" in exc.value.extra["fields"]
    req.refresh_from_db()
    assert req.status == S.REQUESTED


def test_country_outside_the_campaign_is_refused():
    campaign = make_campaign(countries=["AT"])
    req = ask(campaign).request
    with pytest.raises(SamplingError) as exc:
        sample_request_set_address(token=req.token, address=ADDRESS_DE)
    assert exc.value.code == "country_not_eligible"


def test_full_status_flow_with_audit_rows():
    staff = get_user_model().objects.create_user("fulfil", is_staff=True)
    campaign = make_campaign(vetting_threshold=0)  # everyone goes through review
    req = ask(campaign).request
    req = sample_request_set_address(token=req.token, address=ADDRESS_DE)
    assert req.status == S.REVIEW
    sample_request_approve(request_id=req.pk, actor=staff, reason="looks fine")
    sample_request_mark_shipped(request_id=req.pk, tracking_number="1Z999", carrier="UPS", actor=staff)
    sample_request_mark_delivered(request_id=req.pk)
    events = list(req.events.values_list("from_status", "to_status", "actor_label", "actor__username"))
    assert events == [
        ("", "requested", "viewer", None),
        ("requested", "review", "viewer", None),
        ("review", "approved", "staff:fulfil", "fulfil"),
        ("approved", "shipped", "staff:fulfil", "fulfil"),
        ("shipped", "delivered", "system", None),
    ]
    req.refresh_from_db()
    assert (req.tracking_number, req.carrier) == ("1Z999", "UPS")
    assert req.shipped_at
    assert req.delivered_at


@pytest.mark.parametrize("action", ["approve", "ship", "deliver"])
def test_invalid_transitions_are_refused(action):
    campaign = make_campaign()
    req = ask(campaign).request  # requested, no address yet
    calls = {
        "approve": lambda: sample_request_approve(request_id=req.pk),
        "ship": lambda: sample_request_mark_shipped(request_id=req.pk, tracking_number="X"),
        "deliver": lambda: sample_request_mark_delivered(request_id=req.pk),
    }
    with pytest.raises(InvalidTransition):
        calls[action]()
    req.refresh_from_db()
    assert req.status == S.REQUESTED
    assert req.events.count() == 1


def test_reject_needs_a_reason_and_returns_the_sample(django_capture_on_commit_callbacks):
    campaign = make_campaign(quantity=1)
    req = ask(campaign).request
    with pytest.raises(InvalidRequest):
        sample_request_reject(request_id=req.pk, reason="  ")
    with django_capture_on_commit_callbacks(execute=True):
        sample_request_reject(request_id=req.pk, reason="Duplicate account")
    req.refresh_from_db()
    assert req.status == S.REJECTED
    assert req.decision_reason == "Duplicate account"
    assert available(campaign) == 1
    assert "Duplicate account" in mail.outbox[-1].body


def test_shipped_sample_cannot_be_cancelled():
    campaign = make_campaign()
    req = ask(campaign).request
    sample_request_set_address(token=req.token, address=ADDRESS_DE)
    sample_request_mark_shipped(request_id=req.pk, tracking_number="T1")
    with pytest.raises(InvalidTransition):
        sample_request_cancel(request_id=req.pk)
    assert available(campaign) == campaign.quantity - 1


def test_quantity_cannot_drop_below_reserved():
    campaign = make_campaign(quantity=3)
    ask(campaign, "a@example.com")
    ask(campaign, "b@example.com")
    with pytest.raises(InvalidRequest) as exc:
        campaign_set_quantity(campaign_id=campaign.pk, quantity=1)
    assert exc.value.code == "quantity_below_reserved"
    campaign = campaign_set_quantity(campaign_id=campaign.pk, quantity=5)
    assert (campaign.quantity, campaign.available) == (5, 3)


def test_check_constraint_is_the_last_line():
    from django.db import IntegrityError, transaction

    campaign = make_campaign(quantity=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        SampleCampaign.objects.filter(pk=campaign.pk).update(available=-1)


def test_request_time_is_injected():
    campaign = make_campaign()
    when = campaign.opens_at + dt.timedelta(minutes=5)
    req = ask(campaign, now=when).request
    assert req.created_at == when
    assert req.consent_at == when


def test_reservations_without_an_address_expire_and_go_to_the_waitlist(django_capture_on_commit_callbacks):
    from sampling.services.requests import sample_requests_expire
    from sampling.tasks import sample_requests_expire as scheduled_task

    campaign = make_campaign(quantity=2, address_hours=48)
    start = campaign.opens_at + dt.timedelta(minutes=1)
    idle = ask(campaign, "idle@example.com", now=start).request
    done = ask(campaign, "done@example.com", now=start).request
    sample_request_set_address(token=done.token, address=ADDRESS_DE, now=start)
    waiting = ask(campaign, "waiting@example.com", now=start).request
    assert waiting.status == S.WAITLISTED
    assert sample_requests_expire(now=start + dt.timedelta(hours=47)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert sample_requests_expire(now=start + dt.timedelta(hours=48)) == 1
    idle.refresh_from_db()
    waiting.refresh_from_db()
    assert idle.status == S.CANCELLED
    assert idle.events.last().reason == "no address within 48 hours"
    assert waiting.status == S.REQUESTED
    assert waiting.reserved_at == start + dt.timedelta(hours=48)
    assert available(campaign) == 0
    assert scheduled_task() == 0  # the promoted request has its own 48 hours
