"""Times on viewer pages: one zone per page, always named (docs/sessions-and-times.md).

The page's zone: the session's IANA zone (a series session inherits its series' zone) on the
session, drop, cart and offer pages; the pop-up's zone on pickup pages; settings.SHOP_TIMEZONE
elsewhere. Views put it in the context as `page_zone`; `{% zoned value %}` renders
`<time datetime="…UTC…">Tue 1 Dec, 18:00 CET (Europe/Berlin)</time>`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import template
from django.conf import settings
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

register = template.Library()

# Django date-format strings (T = the zone's abbreviation at that instant, e.g. CET / CEST / EST).
FORMATS = {
    "datetime": "D j M, H:i T",
    "time": "H:i T",
    "date": "D j M Y",
    "long": "l j F Y, H:i T",
}


def zoned_text(value: dt.datetime | str | None, zone: str | None = None, fmt: str = "datetime") -> str:
    """`value` (aware datetime or ISO 8601 string) in IANA `zone` (default SHOP_TIMEZONE) as
    "Tue 1 Dec, 18:00 CET (Europe/Berlin)"; fmt is a key of FORMATS. "" for None/""."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return ""
    zone = zone or settings.SHOP_TIMEZONE
    local = value.astimezone(zoneinfo.ZoneInfo(zone))
    pattern = FORMATS[fmt]
    if pattern.endswith(" T"):
        # The zone's abbreviation from the datetime itself: Django's "T" is empty for a wall-clock time
        # that occurs twice (01:30 on a fall-back night), exactly when EDT vs EST matters.
        text = f"{date_format(local, pattern[:-2])} {local.tzname()}"
    else:
        text = date_format(local, pattern)
    return f"{text} ({zone})"


@register.simple_tag(takes_context=True)
def zoned(context, value, zone=None, fmt="datetime"):
    """{% zoned drop.opens_at %} / {% zoned st.next_price_change_at fmt="time" %} → a <time> element
    in the page's zone (`zone`, else the context's `page_zone`, else SHOP_TIMEZONE), naming the zone."""
    zone = zone or context.get("page_zone") or settings.SHOP_TIMEZONE
    text = zoned_text(value, zone, fmt)
    if not text:
        return ""
    if isinstance(value, str):
        value = parse_datetime(value)
    return format_html('<time datetime="{}">{}</time>', value.astimezone(dt.UTC).isoformat(), text)
