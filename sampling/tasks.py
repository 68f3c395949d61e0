"""django-q2 tasks (take ids, call a service) and the outbox senders of sampling's e-mails.

E-mails are outbox rows written in the transaction that decided on them
(commerce.services.outbox); the senders below take one `Delivery` and are
registered in SamplingConfig.ready().
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from commerce.services.outbox import Delivery

from .models import FollowUpOffer, SampleCampaign, SampleRequest
from .services import followup, requests

SUBJECTS = {
    "accepted": "Your sample is reserved: one step left",
    "waitlisted": "You're on the sample waitlist",
    "promoted": "A sample is free for you: one step left",
    "rejected": "About your sample request",
    "shipped": "Your sample is on its way",
    "link": "Your sample request",
}


def request_email_send(delivery: Delivery) -> None:
    """Outbox sender: e-mail the requester about a status change (`kind` in SUBJECTS)."""
    kind = delivery.payload["kind"]
    req = SampleRequest.objects.select_related("campaign").get(pk=delivery.payload["request_id"])
    body = render_to_string(
        f"sampling/email/{kind}.txt", {"req": req, "campaign": req.campaign, "site_url": settings.SITE_URL}
    )
    EmailMessage(
        f"{req.campaign.name}: {SUBJECTS[kind]}", body, None, [req.email], headers=delivery.email_headers
    ).send()


def not_eligible_email_send(delivery: Delivery) -> None:
    """Outbox sender: tell the owner of `email` (and only them) why they cannot request this sample."""
    payload = delivery.payload
    campaign = SampleCampaign.objects.select_related("sku__product").get(pk=payload["campaign_id"])
    body = render_to_string(
        "sampling/email/not_eligible.txt",
        {"campaign": campaign, "reason": payload["reason"], "site_url": settings.SITE_URL},
    )
    EmailMessage(
        f"{campaign.name}: about your sample request", body, None, [payload["email"]], headers=delivery.email_headers
    ).send()


def offer_email_send(delivery: Delivery) -> None:
    """Outbox sender: e-mail a follow-up offer; `sent_at` is recorded once the e-mail went out."""
    offer_id = delivery.payload["offer_id"]
    offer = FollowUpOffer.objects.select_related("request__campaign", "session__series").get(pk=offer_id)
    tz = offer.session.tz
    body = render_to_string(
        "sampling/email/offer.txt",
        {
            "offer": offer,
            "campaign": offer.request.campaign,
            "opens_local": timezone.localtime(offer.opens_at, tz),
            "closes_local": timezone.localtime(offer.closes_at, tz),
            "site_url": settings.SITE_URL,
        },
    )
    EmailMessage(
        f"{offer.request.campaign.name}: your follow-up offer",
        body,
        None,
        [offer.request.email],
        headers=delivery.email_headers,
    ).send()
    followup.followup_offer_mark_sent(offer_id=offer_id)


def followup_offers_issue() -> int:
    """Scheduled every 15 minutes (migration 0002): issue offers to shipped requesters."""
    return followup.followup_offers_issue()


def sample_requests_expire() -> int:
    """Scheduled hourly (migration 0003): cancel reservations left without an address."""
    return requests.sample_requests_expire()
