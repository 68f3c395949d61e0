"""django-q2 tasks: take ids, call a service or send one e-mail. Queued with transaction.on_commit."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

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


def request_email_send(request_id: int, kind: str) -> None:
    """E-mail the requester about a status change (`kind` in SUBJECTS)."""
    req = SampleRequest.objects.select_related("campaign").get(pk=request_id)
    body = render_to_string(
        f"sampling/email/{kind}.txt", {"req": req, "campaign": req.campaign, "site_url": settings.SITE_URL}
    )
    send_mail(f"{req.campaign.name}: {SUBJECTS[kind]}", body, None, [req.email])


def not_eligible_email_send(campaign_id: int, email: str, reason: str) -> None:
    """Tell the owner of `email` (and only them) why they cannot request this sample."""
    campaign = SampleCampaign.objects.select_related("sku__product").get(pk=campaign_id)
    body = render_to_string(
        "sampling/email/not_eligible.txt", {"campaign": campaign, "reason": reason, "site_url": settings.SITE_URL}
    )
    send_mail(f"{campaign.name}: about your sample request", body, None, [email])


def offer_email_send(offer_id: int) -> None:
    """E-mail a follow-up offer, once (the service claims the send before it happens)."""
    if not followup.followup_offer_mark_sent(offer_id=offer_id):
        return
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
    send_mail(f"{offer.request.campaign.name}: your follow-up offer", body, None, [offer.request.email])


def followup_offers_issue() -> int:
    """Scheduled every 15 minutes (migration 0002): issue offers to shipped requesters."""
    return followup.followup_offers_issue()


def sample_requests_expire() -> int:
    """Scheduled hourly (migration 0003): cancel reservations left without an address."""
    return requests.sample_requests_expire()
