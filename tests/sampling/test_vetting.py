"""Vetting: each risk signal, the threshold to the review queue, approve and reject from it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from sampling.models import SampleRequest
from sampling.selectors import review_queue
from sampling.services.requests import (
    sample_request_approve,
    sample_request_create,
    sample_request_reject,
    sample_request_set_address,
)
from sampling.vetting import RISK_POINTS, is_disposable_domain
from tests.factories import ADDRESS_DE, make_campaign

pytestmark = pytest.mark.django_db
S = SampleRequest.Status


def ask(campaign, email, **kwargs):
    kwargs.setdefault("rate_limit", False)
    return sample_request_create(
        campaign_id=campaign.pk, email=email, use_case="A gift", consent=True, **kwargs
    ).request


def addressed(campaign, email, address=ADDRESS_DE, **kwargs):
    req = ask(campaign, email, **kwargs)
    return sample_request_set_address(token=req.token, address=address)


@pytest.mark.parametrize(
    ("email", "disposable"),
    [
        ("x@mailinator.com", True),
        ("x@sub.mailinator.com", True),
        ("x@guerrillamail.com", True),
        ("x@gmail.com", False),
        ("x@example.org", False),
    ],
)
def test_disposable_domains_from_the_maintained_list(email, disposable):
    assert is_disposable_domain(email) is disposable


def test_clean_request_scores_zero():
    req = addressed(make_campaign(), "ann@example.com")
    assert (req.risk_score, req.risk_reasons) == (0, [])


def test_disposable_email_scores():
    req = addressed(make_campaign(), "ann@mailinator.com")
    assert req.risk_reasons == ["disposable_email"]
    assert req.risk_score == RISK_POINTS["disposable_email"]


def test_many_requests_from_one_ip():
    campaign = make_campaign()
    ask(campaign, "a@example.com", ip="198.51.100.7")
    ask(campaign, "b@example.com", ip="198.51.100.7")
    req = addressed(campaign, "c@example.com", ip="198.51.100.7")
    assert "many_from_ip" in req.risk_reasons
    other = addressed(
        campaign, "d@example.com", ip="198.51.100.8", address={**ADDRESS_DE, "street_address": "Gontardstraße 9"}
    )
    assert "many_from_ip" not in other.risk_reasons


def test_many_requests_to_one_address_across_campaigns():
    for i in range(2):
        addressed(make_campaign(), f"p{i}@example.com")
    req = addressed(make_campaign(), "p9@example.com", address={**ADDRESS_DE, "street_address": "7 Gontardstr."})
    assert "many_to_address" in req.risk_reasons


def test_country_mismatch():
    req = addressed(make_campaign(), "ann@example.com", geo_country="US")
    assert req.risk_reasons == ["country_mismatch"]
    same = addressed(
        make_campaign(),
        "bob@example.com",
        geo_country="DE",
        address={**ADDRESS_DE, "street_address": "Gontardstraße 1"},
    )
    assert same.risk_reasons == []


def test_velocity_across_campaigns():
    now = timezone.now()
    for i in range(2):
        ask(make_campaign(opens_in=-3 * 86400), "hunter@example.com", now=now - dt.timedelta(days=2))
    req = addressed(make_campaign(), "hunter+x@example.com")
    assert "velocity" in req.risk_reasons
    for _ in range(2):
        old = ask(make_campaign(opens_in=-40 * 86400), "slow@example.com", now=now - dt.timedelta(days=30))
        assert old.created_at == now - dt.timedelta(days=30)
    assert (
        "velocity"
        not in addressed(
            make_campaign(), "slow@example.com", address={**ADDRESS_DE, "street_address": "Gontardstraße 3"}
        ).risk_reasons
    )


def test_score_caps_at_100():
    campaign = make_campaign()
    ask(campaign, "a@example.com", ip="198.51.100.1")
    ask(campaign, "b@example.com", ip="198.51.100.1")
    req = addressed(campaign, "c@mailinator.com", ip="198.51.100.1", geo_country="FR")
    assert req.risk_reasons == ["disposable_email", "many_from_ip", "country_mismatch"]
    assert req.risk_score == 95
    for _ in range(2):
        addressed(make_campaign(), "c@mailinator.com")
    again = addressed(make_campaign(), "c@mailinator.com", geo_country="FR")
    assert again.risk_reasons == ["disposable_email", "many_to_address", "country_mismatch", "velocity"]
    assert again.risk_score == 100


def test_threshold_sends_risky_requests_to_review_and_staff_decide():
    campaign = make_campaign(vetting_threshold=50, declared_value_minor=9900)
    risky = addressed(campaign, "x@mailinator.com")
    safe = addressed(campaign, "ann@example.com", address={**ADDRESS_DE, "street_address": "Gontardstraße 2"})
    assert risky.status == S.REVIEW
    assert safe.status == S.APPROVED
    assert list(review_queue()) == [risky]
    assert "risk 50 ≥ 50: disposable_email" in risky.events.last().reason
    sample_request_approve(request_id=risky.pk, reason="known customer")
    assert list(review_queue()) == []
    other = addressed(campaign, "y@mailinator.com", address={**ADDRESS_DE, "street_address": "Gontardstraße 4"})
    sample_request_reject(request_id=other.pk, reason="disposable address")
    other.refresh_from_db()
    assert other.status == S.REJECTED


def test_no_threshold_no_review():
    req = addressed(make_campaign(vetting_threshold=None), "x@mailinator.com")
    assert req.status == S.APPROVED
    assert req.risk_score == 50
