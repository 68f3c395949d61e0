"""Targeting: who may request a sample (eligibility) and in which order samples go (priority).

Eligibility rules (each failing rule gives a reason in plain words):
- purchase rule: anyone / bought before / never bought (orders confirmed or paid);
- attended or watched a session (of the campaign's series) — analytics signal;
- clicked a drop — analytics signal;
- stated use case among `allowed_use_cases` (empty = any);
- country among `countries` (empty = any): checked on the IP country when the
  CDN tells it, and on the shipping address.

Priority score, 0–100 (PRIORITY_WEIGHTS): attended 30, clicked a drop 25,
bought before 15 (+10 more when it was in this series), use case among the
campaign's `preferred_use_cases` 20, a confirmed follower of the campaign's series 10
(sessions_app.cadence; capped at 100). Equal scores go first-come.
"""

from __future__ import annotations

from .audience import AudienceSignals
from .models import SampleCampaign

PRIORITY_WEIGHTS = {
    "attended": 30,
    "clicked": 25,
    "bought_before": 15,
    "bought_in_series": 10,
    "preferred_use_case": 20,
    "follows_series": 10,
}


def audience_ineligibility_reason(*, campaign: SampleCampaign, signals: AudienceSignals) -> str | None:
    """The reason that depends on what we know about the e-mail's owner (orders, sessions, clicks), or None.

    Personal: the micro-form never shows it to whoever typed the address (it is e-mailed instead).
    """
    rule = campaign.purchase_rule
    if rule == SampleCampaign.PurchaseRule.BUYERS and not signals.bought_before:
        return "This sample is for existing customers, and we found no order for this e-mail address."
    if rule == SampleCampaign.PurchaseRule.NEW and signals.bought_before:
        return "This sample is for first-time customers, and this e-mail address has ordered from us before."
    if campaign.require_attended and not signals.attended:
        return "This sample is for viewers who attended one of our live sessions with this e-mail address."
    if campaign.require_clicked and not signals.clicked:
        return "This sample is for viewers who opened one of our drops with this e-mail address."
    return None


def input_ineligibility_reason(*, campaign: SampleCampaign, use_case: str, country: str = "") -> str | None:
    """The reason that depends only on what the person chose or where they are (use case, IP country), or None."""
    if campaign.allowed_use_cases and use_case not in campaign.allowed_use_cases:
        return f"This sample is meant for: {', '.join(campaign.allowed_use_cases)}."
    if country and campaign.countries and country.upper() not in campaign.countries:
        return f"This sample ships only to {', '.join(campaign.countries)}."
    return None


def ineligibility_reason(
    *, campaign: SampleCampaign, signals: AudienceSignals, use_case: str, country: str = ""
) -> str | None:
    """Why this person may not request a sample of `campaign`, in plain words; None when eligible."""
    return audience_ineligibility_reason(campaign=campaign, signals=signals) or input_ineligibility_reason(
        campaign=campaign, use_case=use_case, country=country
    )


def priority_score(*, campaign: SampleCampaign, signals: AudienceSignals, use_case: str) -> tuple[int, list[str]]:
    """(score 0–100, the signals that counted) for allocation order; see PRIORITY_WEIGHTS."""
    signal_names = ("attended", "clicked", "bought_before", "bought_in_series", "follows_series")
    reasons = [name for name in signal_names if getattr(signals, name)]
    if use_case in (campaign.preferred_use_cases or []):
        reasons.append("preferred_use_case")
    return min(sum(PRIORITY_WEIGHTS[r] for r in reasons), 100), reasons
