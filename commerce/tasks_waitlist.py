"""django-q2 tasks and the outbox sender of waitlists and stock carry-over (docs/waitlist.md)."""

from __future__ import annotations

import math

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from .models import WaitlistEntry, WaitlistOffer
from .services import outbox
from .services.carry_over import stock_carry_over_sweep
from .services.waitlist import waitlist_offers_expire


def waitlist_email_send(delivery: outbox.Delivery) -> None:
    """Outbox sender (kind `waitlist_email`): payload {"kind": "joined", "entry_id"} or {"kind": "offer", "offer_id"}.

    Sent only to the address on the entry (its private links never go anywhere else). The
    Message-ID is derived from the outbox key, so a re-delivery after a killed worker is the same e-mail.
    An offer that is no longer open by the time the sender runs is not mailed.
    """
    kind = delivery.payload["kind"]
    if kind == "joined":
        entry = WaitlistEntry.objects.select_related("drop__sku__product").get(pk=delivery.payload["entry_id"])
        subject = f"You are on the waitlist: {entry.drop.display_title}"
        body = render_to_string("commerce/email/waitlist_joined.txt", {"entry": entry, "site_url": settings.SITE_URL})
        to = entry.email
    else:
        offer = WaitlistOffer.objects.select_related("entry", "drop__session", "drop__sku__product").get(
            pk=delivery.payload["offer_id"]
        )
        if offer.status != WaitlistOffer.Status.OPEN:
            return
        minutes = max(1, math.ceil((offer.expires_at - offer.created_at).total_seconds() / 60))
        subject = f"It's your turn: {offer.drop.display_title}"
        body = render_to_string(
            "commerce/email/waitlist_offer.txt",
            {
                "offer": offer,
                "site_url": settings.SITE_URL,
                "minutes": minutes,
                # formatted here: the template's date filter would convert it back to the active zone (UTC)
                "expires_local": f"{timezone.localtime(offer.expires_at, offer.drop.session.tz):%H:%M %Z}",
            },
        )
        to = offer.entry.email
    EmailMessage(subject, body, None, [to], headers=delivery.email_headers).send()


def waitlist_offers_expire_task() -> int:
    """Schedule `commerce.waitlist_offers_expire` (every minute): lapse due offers, pass units on."""
    return waitlist_offers_expire()


def stock_carry_over_sweep_task() -> int:
    """Schedule `commerce.stock_carry_over_sweep` (every minute): move units returned to ended carry-over drops."""
    return stock_carry_over_sweep()
