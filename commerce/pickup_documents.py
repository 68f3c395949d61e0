"""What a pickup pass is made of: the QR code (segno) and the calendar entry (icalendar).

The QR code encodes the signed pass token only (commerce.services.pickup.pickup_pass_token);
the .ics event is in UTC, so every calendar shows the pop-up's local time correctly across DST.
"""

from __future__ import annotations

import datetime as dt
import io

import icalendar
import segno
from django.conf import settings
from django.utils import timezone

from .models import PickupBooking


def pass_qr_svg(token: str) -> str:
    """Inline SVG of the pass QR code (error correction M, dark on white)."""
    return segno.make(token, error="m").svg_inline(scale=6, border=3, dark="#16161d", light="#ffffff")


def pass_qr_png(token: str) -> bytes:
    """PNG bytes of the pass QR code, for e-mail clients that do not show SVG."""
    out = io.BytesIO()
    segno.make(token, error="m").save(out, kind="png", scale=6, border=3)
    return out.getvalue()


def slot_ics(booking: PickupBooking, *, pass_url: str, now: dt.datetime | None = None) -> bytes:
    """An iCalendar file (RFC 5545) with one event for the booking's slot.

    UID is stable per booking, SEQUENCE is the pass version, so a rescheduled
    pass updates the same calendar entry instead of adding a second one.
    """
    slot, popup, order = booking.slot, booking.slot.popup, booking.order
    cal = icalendar.Calendar()
    cal.add("prodid", f"-//{settings.SHOP_NAME}//Pickup pass//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", f"pickup-{booking.pk}@{settings.SHOP_NAME.lower().replace(' ', '-')}")
    event.add("sequence", booking.pass_version)
    event.add("dtstamp", now or timezone.now())
    event.add("dtstart", slot.starts_at.astimezone(dt.UTC))
    event.add("dtend", slot.ends_at.astimezone(dt.UTC))
    event.add("summary", f"Pickup at {popup.name} (order {order.number})")
    event.add("location", popup.address.replace("\r\n", ", ").replace("\n", ", "))
    event.add("description", f"Show your pickup pass at the door: {pass_url}\nOrder {order.number}")
    event.add("url", pass_url)
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Pickup at {popup.name}")
    alarm.add("trigger", dt.timedelta(minutes=-30))
    event.add_component(alarm)
    cal.add_component(event)
    return cal.to_ical()
