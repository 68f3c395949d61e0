"""When a reminder is due (docs/cadence.md, "Reminder timing").

Offsets come from settings.SERIES_REMINDER_OFFSETS (seconds before the start, default 86400 and 600).
- A whole-day offset (a multiple of 86 400 s) means the same local wall-clock time N days earlier in
  the session's IANA zone: a Monday 09:30 Europe/Berlin session is reminded on Sunday at 09:30 local,
  also on the weekend the clocks change (then 23 or 25 hours of elapsed time). A wall-clock time that
  does not exist that day (spring-forward gap) is shifted forward by the gap, like the series planner.
- A sub-day offset is elapsed time: 10 minutes before is 600 s before the start instant.

Too late: a reminder is planned only while less than half its offset has passed since it was due
(`now < starts_at − offset / 2`): a 24 h reminder is not sent 11 hours before a session, a 10 min one
not in the last 5 minutes; and no reminder is ever sent at or after the start.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings

DAY = 86_400


def reminder_offsets() -> list[int]:
    """The configured offsets in seconds (positive, largest first, each once)."""
    raw = getattr(settings, "SERIES_REMINDER_OFFSETS", [DAY, 600])
    return sorted({int(o) for o in raw if int(o) > 0}, reverse=True)


def reminder_due_at(*, starts_at: dt.datetime, tz_name: str, offset_seconds: int) -> dt.datetime:
    """The aware UTC instant a reminder `offset_seconds` before `starts_at` (aware) is due; see module docs."""
    if offset_seconds % DAY == 0:
        tz = zoneinfo.ZoneInfo(tz_name)
        local = starts_at.astimezone(tz).replace(tzinfo=None) - dt.timedelta(days=offset_seconds // DAY)
        return local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    return (starts_at - dt.timedelta(seconds=offset_seconds)).astimezone(dt.UTC)


def reminder_cutoff(*, starts_at: dt.datetime, offset_seconds: int) -> dt.datetime:
    """The instant after which a reminder of this offset is no longer planned (start − offset/2, UTC)."""
    return (starts_at - dt.timedelta(seconds=offset_seconds / 2)).astimezone(dt.UTC)
