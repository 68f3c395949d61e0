"""Sampling invariants under real concurrency: threads on their own PostgreSQL connections."""

from __future__ import annotations

import pytest

from sampling.models import SampleCampaign, SampleRequest
from sampling.services.requests import Answer, sample_request_create, sample_request_set_address
from tests.commerce.test_races import race
from tests.factories import ADDRESS_DE, make_campaign

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
S = SampleRequest.Status


def ask(campaign, email):
    return sample_request_create(
        campaign_id=campaign.pk, email=email, use_case="A gift", consent=True, rate_limit=False
    )


def test_two_requests_racing_for_the_last_sample_exactly_one_wins():
    for _ in range(5):  # repeat: a lucky interleaving must not hide a bug
        campaign = make_campaign(quantity=1)
        results = race(2, lambda i, c=campaign: ask(c, f"racer{i}@example.com"))
        assert [type(r) for r in results if isinstance(r, Exception)] == []
        answers = sorted(r.answer for r in results)
        assert answers == [Answer.ACCEPTED, Answer.WAITLISTED]
        assert SampleCampaign.objects.get(pk=campaign.pk).available == 0


def test_100_people_race_for_10_samples():
    campaign = make_campaign(quantity=10)
    results = race(100, lambda i: ask(campaign, f"p{i}@example.com"))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.answer == Answer.ACCEPTED for r in results) == 10
    assert sum(r.answer == Answer.WAITLISTED for r in results) == 90
    assert SampleRequest.objects.filter(campaign=campaign, status=S.REQUESTED).count() == 10
    assert SampleCampaign.objects.get(pk=campaign.pk).available == 0


def test_one_person_racing_themselves_gets_one_request_and_one_sample():
    campaign = make_campaign(quantity=5)
    spellings = ["ann.smith@gmail.com", "Ann.Smith+a@gmail.com", "annsmith@googlemail.com", "ANNSMITH@GMAIL.COM"]
    results = race(20, lambda i: ask(campaign, spellings[i % 4]))
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sum(r.answer == Answer.ACCEPTED for r in results) == 1
    assert sum(r.answer == Answer.ALREADY_REQUESTED for r in results) == 19
    assert SampleRequest.objects.filter(campaign=campaign).count() == 1
    assert SampleCampaign.objects.get(pk=campaign.pk).available == 4


def test_one_household_racing_gets_one_sample():
    campaign = make_campaign(quantity=10)
    tokens = [ask(campaign, f"member{i}@example.com").request.token for i in range(6)]
    spellings = ["Gontardstraße 7", "7 Gontardstr.", "GONTARDSTRASSE 7", "gontardstr 7"]
    results = race(
        6,
        lambda i: sample_request_set_address(
            token=tokens[i], address={**ADDRESS_DE, "name": f"Member {i}", "street_address": spellings[i % 4]}
        ),
    )
    approved = [r for r in results if isinstance(r, SampleRequest)]
    refused = [r for r in results if not isinstance(r, SampleRequest)]
    assert len(approved) == 1
    assert {getattr(r, "code", r) for r in refused} == {"same_household"}
    assert SampleRequest.objects.filter(campaign=campaign, status=S.CANCELLED).count() == 5
    assert SampleCampaign.objects.get(pk=campaign.pk).available == 9
