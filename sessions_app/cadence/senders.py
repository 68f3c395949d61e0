"""Outbox sender for cadence e-mails (kind `cadence_email`, registered in SessionsAppConfig.ready).

Every e-mail carries the outbox's deterministic Message-ID (a re-delivery after a killed worker is
the same message), `List-Unsubscribe: <https://…/series/unsubscribe/<token>/>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), and the unsubscribe link in its body.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from commerce.services.outbox import Delivery

from .models import Reminder, SeriesFollower
from .services import reminder_deliver
from .timing import DAY

SUBJECTS = {
    "confirm": "Confirm: follow {series}",
    "reminder": "{when}: {title}",
    "moved": "New time: {title}",
    "cancelled": "Cancelled: {title}",
}


def absolute(path: str) -> str:
    """An absolute URL on the public site (settings.SITE_URL)."""
    return settings.SITE_URL + path


def unsubscribe_url(follower: SeriesFollower) -> str:
    return absolute(reverse("sessions_app:series_unsubscribe", kwargs={"token": follower.token}))


def _email(delivery: Delivery, follower: SeriesFollower, subject: str, template: str, context: dict) -> EmailMessage:
    link = unsubscribe_url(follower)
    body = render_to_string(
        template, {**context, "follower": follower, "series": follower.series, "unsubscribe_url": link}
    )
    headers = {
        **delivery.email_headers,
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return EmailMessage(subject, body, None, [follower.email], headers=headers)


def _when(offset_seconds: int, local_start, local_now) -> str:
    """The subject's "when": for a whole-day offset the calendar days between now and the start in the
    session's zone (a late 24 h reminder on the day itself says "Today", not "Tomorrow"); else minutes."""
    if offset_seconds % DAY == 0:
        days = (local_start.date() - local_now.date()).days
        return "Today" if days <= 0 else "Tomorrow" if days == 1 else f"In {days} days"
    minutes = offset_seconds // 60
    return f"In {minutes} minutes" if minutes < 120 else f"In {minutes // 60} hours"


def local_start_text(local) -> str:
    """ "Wednesday 2 December, 19:00 CET": the wall-clock start in the session's zone, formatted here
    (Django's `date` filter would convert it back to the active zone, UTC, in the e-mail template)."""
    return f"{local:%A} {local.day} {local:%B, %H:%M %Z}".rstrip()


def cadence_email_send(delivery: Delivery) -> None:
    """Send one cadence e-mail: payload {"kind": confirm|reminder|moved|cancelled, …}.

    confirm: {"follower_id", "token"}: sent only while the follower is pending with that token.
    reminder/moved/cancelled: {"reminder_id", "batch_id"}: sessions_app.cadence.services.reminder_deliver
    re-checks and marks the row sent (or skipped) under its lock.
    """
    kind = delivery.payload["kind"]
    if kind == "confirm":
        follower = SeriesFollower.objects.select_related("series").get(pk=delivery.payload["follower_id"])
        if follower.status != SeriesFollower.Status.PENDING or follower.token != delivery.payload["token"]:
            return  # confirmed, unsubscribed or re-followed since: this link is stale
        confirm = absolute(reverse("sessions_app:series_follow_confirm", kwargs={"token": follower.token}))
        _email(
            delivery,
            follower,
            SUBJECTS["confirm"].format(series=follower.series.name),
            "sessions_app/cadence/email/confirm.txt",
            {"confirm_url": confirm},
        ).send()
        return

    def send(row: Reminder) -> None:
        follower = SeriesFollower.objects.select_related("series").get(pk=row.follower_id)
        session = row.session
        local = timezone.localtime(session.starts_at, session.tz)
        subject = SUBJECTS[row.kind].format(
            when=_when(row.offset_seconds, local, timezone.localtime(row.sent_at or timezone.now(), session.tz)),
            title=session.title,
        )
        _email(
            delivery,
            follower,
            subject,
            f"sessions_app/cadence/email/{row.kind}.txt",
            {
                "session": session,
                "local_start": local_start_text(local),
                "session_url": absolute(session.get_absolute_url()),
                "calendar_url": absolute(
                    reverse("sessions_app:series_calendar", kwargs={"slug": follower.series.slug})
                ),
            },
        ).send()

    reminder_deliver(reminder_id=delivery.payload["reminder_id"], send=send)
